"""What a network's keyword arguments may hold: one set of limits for the pickle loader and the
training config, so that a run never writes a snapshot the loader refuses. No TensorFlow here:
planning a run (`train.py --dry_run`) checks its networks' arguments without importing it.

The releases' `static_kwargs` are scalars (numbers, strings, booleans, None) and small containers
(`blur_filter=[1, 2, 1]`, `resample_kernel=[1, 3, 3, 1]`, tuples, the odd nested list or dict of a
later release's keyword); sizes beyond `MAX_SIZES` describe no trained network and would only
exhaust memory when built.
"""

import numbers

# The largest value of each size argument (any released network is far below; a number outside
# 0..bound is refused).
MAX_SIZES = dict(resolution=8192, num_channels=16, label_size=100_000, fmap_base=1 << 16,
                 fmap_max=4096, latent_size=8192, dlatent_size=8192, mapping_fmaps=8192,
                 mapping_layers=64, dlatent_broadcast=64, mbstd_group_size=1024,
                 mbstd_num_features=64)
MAX_CONTAINER_ITEMS = 256  # values inside one argument's lists, tuples and dicts, all levels
MAX_CONTAINER_DEPTH = 4


def is_plain_scalar(value):
    """None, bool, int, float, str or a NumPy scalar (what a pickle's kwargs hold at the leaves)."""
    if value is None or isinstance(value, (bool, str, numbers.Number)):
        return not isinstance(value, complex)
    return type(value).__module__ == "numpy" and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0


def _check_value(value, key, what, budget, depth):
    """Walks one value, counting its items against `budget` (a one-element list)."""
    if is_plain_scalar(value):
        return
    if not isinstance(value, (list, tuple, dict)):
        raise ValueError(f"{what} {key} is a {type(value).__name__}; network arguments are numbers, "
                         "strings, booleans, None and small lists, tuples or dicts of them.")
    if depth >= MAX_CONTAINER_DEPTH:
        raise ValueError(f"{what} {key} nests lists, tuples or dicts deeper than "
                         f"{MAX_CONTAINER_DEPTH} levels.")
    items = list(value.items()) if isinstance(value, dict) else [(None, item) for item in value]
    budget[0] -= len(items)
    if budget[0] < 0:
        raise ValueError(f"{what} {key} holds more than {MAX_CONTAINER_ITEMS} values; network "
                         "arguments are short lists.")
    for item_key, item in items:
        if item_key is not None and not is_plain_scalar(item_key):
            raise ValueError(f"{what} {key} has a dict key of type {type(item_key).__name__}.")
        _check_value(item, key, what, budget, depth + 1)


def check_network_kwargs(kwargs, what="static_kwargs"):
    """Raises ValueError (naming `what` and the key) unless `kwargs` is a dict of string keys whose
    values are plain scalars or small containers of them, with every size argument in range."""
    if not isinstance(kwargs, dict):
        raise ValueError(f"{what} is a {type(kwargs).__name__}, expected a dict.")
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise ValueError(f"{what} key {key!r} is not a string.")
        _check_value(value, key, what, [MAX_CONTAINER_ITEMS], 0)
        bound = MAX_SIZES.get(key)
        if (bound is not None and isinstance(value, numbers.Real) and not isinstance(value, bool)
                and not 0 <= value <= bound):  # a float size (8192.0) is bounded too; NaN fails the test
            raise ValueError(f"{what} {key}={value} is outside the range 0..{bound} that "
                             "stylegan_tf.network_limits.MAX_SIZES allows (no released network is that "
                             "large).")
