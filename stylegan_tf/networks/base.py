"""What every network family shares: keyword-argument checking, the Keras model base class with
original variable names and cloning, noise inputs, the lod plumbing of progressive growing.
"""
import collections
import collections.abc
import copy

import keras
import numpy as np
import tensorflow as tf

from stylegan_tf import names, ops
from stylegan_tf.networks.runtime import Runtime

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


def set_discriminator_sizes(net, config):
    """The sizes every discriminator of both releases reads from its resolved kwargs: resolution
    (and its log2), channels, labels and the minibatch-stddev layer's group and features."""
    net.resolution = int(config["resolution"])
    net.resolution_log2 = ops.resolution_log2_of(net.resolution)
    net.num_channels = int(config["num_channels"])
    net.label_size = int(config["label_size"])
    group = config["mbstd_group_size"]
    net.mbstd_group_size = None if group is None else int(group)  # None: the whole minibatch (StyleGAN2-ADA)
    net.mbstd_num_features = int(config["mbstd_num_features"])


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


def progressive_call_settings(net, lod_range, structure):
    """(lod_range, structure, lod tensor) of a call of a progressive network: the promised range
    checked, the structure defaulting to the network's (and validated)."""
    lod_range = check_lod_range(lod_range)
    structure = structure or net.structure
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}.")
    return lod_range, structure, tf.convert_to_tensor(net.lod)


def progressive_images(x, block, to_rgb, log2r, structure, lod_in, lod_range):
    """The output of a progressive synthesis network from its 4x4 features `x`, with
    `block(res, x)` the layers of resolution 2**res and `to_rgb(res, x)` its image: 'fixed' (the top
    level only), 'linear' (every level, blended by `lod_clip`) or 'recursive' (only the levels the
    current lod blends, nearest-neighbour upsampled), as the original's structures."""
    if structure == "fixed":
        for res in range(3, log2r + 1):
            x = block(res, x)
        return to_rgb(log2r, x)
    if structure == "linear":
        images = to_rgb(2, x)
        for res in range(3, log2r + 1):
            x = block(res, x)
            images = ops.lerp_clip(to_rgb(res, x), ops.upscale2d(images), lod_in - (log2r - res))
        return images

    def grow(x, res, lod):
        y = block(res, x)

        def plain():
            return ops.upscale2d(to_rgb(res, y), 2**lod)

        def faded():
            return ops.upscale2d(ops.lerp(to_rgb(res, y), ops.upscale2d(to_rgb(res - 1, x)), lod_in - lod), 2**lod)

        def this_level():
            return lod_cond(lod_in, lod_range, ">", lod, faded, plain)

        if lod > 0:
            return lod_cond(lod_in, lod_range, "<", lod, lambda: grow(y, res + 1, lod - 1), this_level)
        return this_level()

    return to_rgb(2, x) if log2r == 2 else grow(x, 3, log2r - 3)


def progressive_features(net, images, block, structure=None, lod_range=None, start_res=2):
    """The features of a progressive discriminator `net` (its `from_rgbs[res - 2]` the input layer
    of resolution 2**res, `lod`, `structure`, `resolution_log2`), with `block(x, res)` its layers:
    'fixed', 'linear' (every level, blended by `lerp_clip` with the box-downsampled image) or
    'recursive' (only the levels the current lod blends), as the original's structures. The
    recursion starts at `start_res`: StyleGAN's D_basic includes its 4x4 head as `block(x, 2)`
    (start 2), StyleGAN2's D_stylegan grows from 8x8 (start 3) and adds its head afterwards; either
    way `block(x, 2)` runs only with start 2."""
    lod_range, structure, lod_in = progressive_call_settings(net, lod_range, structure)
    log2r = net.resolution_log2

    def from_rgb(x, res):
        return net.from_rgbs[res - 2](x)

    def block_at(x, res):  # in the input's dtype, which the blends need (mixed precision changes the blocks')
        return tf.cast(block(x, res), images.dtype)

    if structure in ("fixed", "linear"):
        img, x = images, from_rgb(images, log2r)
        for res in range(log2r, 2, -1):
            x = block_at(x, res)
            if structure == "linear":
                img = ops.downscale2d(img)
                x = ops.lerp_clip(x, from_rgb(img, res - 1), lod_in - (log2r - res))
        return block_at(x, 2) if start_res == 2 else x
    if log2r < start_res:
        return from_rgb(images, log2r)

    def grow(res, lod):
        def entry():
            return from_rgb(ops.downscale2d(images, 2**lod), res)

        x = lod_cond(lod_in, lod_range, "<", lod, lambda: grow(res + 1, lod - 1), entry) if lod > 0 else entry()
        x = block_at(x, res)
        if res == 2:
            return x
        return lod_cond(lod_in, lod_range, ">", lod,
                        lambda: ops.lerp(x, from_rgb(ops.downscale2d(images, 2 ** (lod + 1)), res - 1), lod_in - lod),
                        lambda: x)

    return grow(start_res, log2r - start_res)


def build_discriminator_layers(net, output_dense):
    """Builds what the discriminators of both families share in shape: the blocks
    (`net.convs0[i]`, `net.convs1_down[i]` at 2**(i + 3)) and the 4x4 head (`final_conv` after the
    optional minibatch stddev, `dense0`, then `output_dense`)."""
    for block, (conv0, conv1) in enumerate(zip(net.convs0, net.convs1_down)):
        size = 2 ** (block + 3)
        conv0.build((None, size, size, net.nf(block + 2)))
        conv1.build((None, size, size, conv0.filters))
    extra = net.mbstd_num_features if net.minibatch_stddev is not None else 0
    net.final_conv.build((None, 4, 4, net.nf(1) + extra))
    net.dense0.build((None, 4, 4, net.nf(1)))
    output_dense.build((None, net.nf(0)))


class StaticKwargs(collections.abc.Mapping):
    """The keyword arguments a network was built with, kept exactly as given (lists stay lists,
    tuples tuples, nested values as they were) so that a pickle writes back what it read.

    Not a dict: Keras wraps dict and list attributes of a layer in its tracking wrappers, which
    neither compare nor pickle as the original values. Reads return copies, so no caller can
    change what will be written back."""

    def __init__(self, kwargs=()):
        self._values = copy.deepcopy(dict(kwargs))

    def __getitem__(self, key):
        return copy.deepcopy(self._values[key])

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def to_dict(self):
        """A plain dict (deep copy) of the arguments."""
        return copy.deepcopy(self._values)

    def __repr__(self):
        return f"StaticKwargs({self._values!r})"


class NetworkModel(keras.Model):
    """Shared plumbing: static kwargs as Keras config, cloning, original variable names.

    `static_kwargs` are the release's keyword arguments (what a pickle stores); `runtime`
    (`networks.runtime.Runtime`: op forms, precision) is how this object computes, set when it is
    built and never pickled."""

    STATE_VERSION = 3  # of the release's pickles (StyleGAN 3, StyleGAN2 4)
    # StyleGAN2's build functions take **kwargs and ignore what they do not know, so a pickle's
    # static_kwargs may hold keys of later code; the loader ignores those too (StyleGAN's are strict).
    PICKLED_KWARGS_MAY_EXTEND = False

    def __init__(self, name, static_kwargs, runtime=None):
        super().__init__(name=name)
        self.static_kwargs = StaticKwargs(static_kwargs)
        self.runtime = Runtime.from_value(runtime)

    def get_config(self):
        return {"name": self.name, "static_kwargs": self.static_kwargs.to_dict(),
                "runtime": self.runtime.to_config()}

    # The network's own output bound (StyleGAN2-ADA's `conv_clamp` kwarg), applied by every clamped
    # layer at every precision; None: only the Runtime's bound of the low-precision layers.
    conv_clamp = None

    def layer_kwargs(self, resolution, clamped=True):
        """dtype policy (and `conv_clamp`) of a layer of `resolution` (`Runtime.layer_kwargs`)."""
        kwargs = self.runtime.layer_kwargs(resolution, self.resolution, clamped)
        if clamped and self.conv_clamp is not None:
            kwargs["conv_clamp"] = self.conv_clamp
        return kwargs

    def float_input(self, value, what):
        """`value` as a tensor of the network's compute dtype (float32 unless it was built under
        another Keras dtype policy, e.g. float64 for reference evaluations)."""
        if value is None:
            raise ValueError(f"{what} is required.")
        return tf.cast(tf.convert_to_tensor(value), self.compute_dtype)

    @classmethod
    def from_config(cls, config):
        return cls(name=config["name"], runtime=config.get("runtime"), **config["static_kwargs"])

    def _default_save_signature(self):
        # Keras would trace `self(inputs)` as a serving signature, which cannot express the
        # labels and call options; stylegan_tf.export writes explicit signatures instead.
        return None

    def original_variables(self):
        """OrderedDict {original variable name: Keras variable}, in the original creation order."""
        return collections.OrderedDict(self._original_variable_list())

    def clone(self, name=None, dtype=None, **runtime_changes):
        """A new network of the same configuration holding copies of every variable; with `dtype`
        (e.g. "float64"), built under that Keras dtype policy, its variables cast to it; with
        `impl=`, `precision=`, ... (`Runtime` fields), computing that way."""
        config = self.get_config()
        if name is not None:
            config["name"] = name
        config["runtime"] = self.runtime.replace(**runtime_changes).to_config()
        previous_policy = keras.config.dtype_policy()
        try:
            if dtype is not None:
                keras.config.set_dtype_policy(dtype)
            copy = type(self).from_config(config)
        finally:
            keras.config.set_dtype_policy(previous_policy)
        for target, source in zip(copy.weights, self.weights):
            target.assign(tf.cast(source, target.dtype))
        return copy


class NoiseInputs:
    """The noise inputs of a synthesis network (`noise_buffers`, one per noise layer: the stored
    noise) and how a call picks each layer's noise, as stylegan2-ada's `noise_mode`:

    - `noise=[...]`: one map per noise layer, [N or 1, H, W, 1] (e.g. per-image noise, or the
      tensors a projector optimises); overrides the mode;
    - `noise_mode='const'`: the stored buffers; `'random'`: fresh N(0, 1) noise per image;
      `'none'`: no noise;
    - neither: the original's `randomize_noise` (call argument, else the network's kwarg):
      True = 'random', False = 'const'.
    """

    def noise_mode_of(self, noise_mode, randomize_noise):
        if noise_mode is None:
            randomize = self.randomize_noise if randomize_noise is None else bool(randomize_noise)
            return "random" if randomize else "const"
        if randomize_noise is not None:
            raise ValueError("pass noise_mode or randomize_noise, not both.")
        return names.check_choice(noise_mode, names.NOISE_MODES, "noise_mode")

    def check_noise(self, noise):
        """`noise` as a list of float tensors, one per noise buffer (None: None)."""
        if noise is None:
            return None
        noise = list(noise)
        if len(noise) != len(self.noise_buffers):
            raise ValueError(f"noise: expected {len(self.noise_buffers)} maps (one per noise layer), "
                             f"got {len(noise)}.")
        return [self.float_input(value, f"noise[{index}]") for index, value in enumerate(noise)]

    def layer_noise(self, index, batch, noise_mode, noise):
        """The noise of noise layer `index` for a batch of `batch` images (None: no noise)."""
        if noise is not None:
            return noise[index]
        if noise_mode == "random":
            size = self.noise_buffers[index].shape[1]
            return tf.random.normal([batch, size, size, 1], dtype=self.compute_dtype)
        if noise_mode == "const":
            return self.noise_buffers[index]
        return None


def copy_network_variables(source, target, what="network"):
    """Assigns every variable of `source` to the same-named variable of `target` (a lod at 0 that
    `target` lacks aside).

    Raises:
        ValueError: the networks' variables differ in names or shapes.
    """
    dst = target.original_variables()
    # A non-progressive network's lod at 0 means nothing to one without lod (StyleGAN2's G_main into
    # StyleGAN2-ADA's, whose variables are otherwise the same).
    src = {name: variable for name, variable in source.original_variables().items()
           if name in dst or not (name.split("/")[-1] == "lod" and float(np.asarray(variable)) == 0.0)}
    if list(src) != list(dst):
        missing = [name for name in dst if name not in src]
        extra = [name for name in src if name not in dst]
        raise ValueError(f"{what}: the architectures differ (missing {missing[:5]}, "
                         f"unexpected {extra[:5]}).")
    for name, variable in dst.items():
        value = np.asarray(src[name])
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{what}: {name} has shape {value.shape}, the configured network "
                             f"expects {tuple(variable.shape)}.")
        variable.assign(value)
