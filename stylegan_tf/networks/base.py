"""What every network family shares: keyword-argument checking, the Keras model base class with
original variable names and cloning, the lod plumbing of progressive growing, truncation and mixing.
"""
import collections

import keras
import tensorflow as tf

from stylegan_tf import ops

PACKAGE = "stylegan_tf"


STRUCTURES = ("auto", "fixed", "linear", "recursive")


UNSET = object()  # "use the network's configured value" for call arguments


def resolve_kwargs(kwargs, defaults, accepted, network):
    """Defaults overridden by `kwargs`; a ValueError names any keyword no original function takes."""
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"{network}: unknown keyword argument(s) {', '.join(unknown)}. "
                         f"Accepted: {', '.join(sorted(accepted))}.")
    config = {**defaults, **{k: v for k, v in kwargs.items() if k in defaults}}
    if config.get("dtype", "float32") != "float32":
        raise ValueError(f"{network}: dtype={config['dtype']!r} is not supported; "
                         "stylegan-tf computes in float32.")
    if config.get("structure", "auto") not in STRUCTURES:
        raise ValueError(f"{network}: structure must be one of {STRUCTURES}, "
                         f"got {config['structure']!r}.")
    return config


def fmaps(fmap_base, fmap_decay, fmap_max, fmap_min=1):
    """The original's `nf(stage)`: feature maps of a stage (StyleGAN2 also clips at fmap_min)."""
    return lambda stage: max(min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max), fmap_min)


def lod_cond(lod_in, lod_range, compare, level, if_true, if_false):
    """`tf.cond(lod_in < level)` (compare '<') or `lod_in > level` ('>'), decided in Python when
    the promised `lod_range = (low, high)` settles it, so compiled steps hold only the levels that
    the range can blend."""
    if lod_range is not None:
        low, high = lod_range
        always, never = (high < level, low >= level) if compare == "<" else (low > level,
                                                                             high <= level)
        if always:
            return if_true()
        if never:
            return if_false()
    return tf.cond(lod_in < level if compare == "<" else lod_in > level, if_true, if_false)


def check_lod_range(lod_range):
    if lod_range is None:
        return None
    low, high = (float(value) for value in lod_range)
    if low > high:
        raise ValueError(f"lod_range must be (low, high) with low <= high, got {lod_range!r}.")
    return low, high


def as_float_tensor(value, what):
    if value is None:
        raise ValueError(f"{what} is required.")
    return tf.cast(tf.convert_to_tensor(value), tf.float32)


class NetworkModel(keras.Model):
    """Shared plumbing: static kwargs as Keras config, cloning, original variable names."""

    STATE_VERSION = 3  # of the release's pickles (StyleGAN 3, StyleGAN2 4)
    # StyleGAN2's build functions take **kwargs and ignore what they do not know, so a pickle's
    # static_kwargs may hold keys of later code; the loader ignores those too (StyleGAN's are strict).
    PICKLED_KWARGS_MAY_EXTEND = False

    def __init__(self, name, static_kwargs):
        super().__init__(name=name)
        self.static_kwargs = dict(static_kwargs)

    def get_config(self):
        return {"name": self.name, "static_kwargs": dict(self.static_kwargs)}

    @classmethod
    def from_config(cls, config):
        return cls(name=config["name"], **config["static_kwargs"])

    def _default_save_signature(self):
        # Keras would trace `self(inputs)` as a serving signature, which cannot express the
        # labels and call options; stylegan_tf.export writes explicit signatures instead.
        return None

    def original_variables(self):
        """OrderedDict {original variable name: Keras variable}, in the original creation order."""
        return collections.OrderedDict(self._original_variable_list())

    def clone(self, name=None):
        """A new network of the same configuration holding copies of every variable."""
        config = self.get_config()
        if name is not None:
            config["name"] = name
        copy = type(self).from_config(config)
        for target, source in zip(copy.weights, self.weights):
            target.assign(source)
        return copy


def mix_at_cutoff(dlatents, dlatents2, cutoff):
    """Layer i keeps dlatents[:, i] if i < cutoff, else takes dlatents2[:, i]."""
    layer_index = tf.range(tf.shape(dlatents)[1])[tf.newaxis, :, tf.newaxis]
    return tf.where(layer_index < cutoff, dlatents, dlatents2)


def truncate_dlatents(dlatents, dlatent_avg, psi, cutoff):
    """`avg + (w - avg) * coef` with coef = psi on layers i < cutoff and 1 elsewhere."""
    layer_index = tf.range(tf.shape(dlatents)[1])[tf.newaxis, :, tf.newaxis]
    coefs = tf.where(layer_index < cutoff, tf.cast(psi, tf.float32), 1.0)
    return ops.lerp(dlatent_avg, dlatents, coefs)
