"""The StyleGAN2 release's discriminators as Keras models (`training/networks_stylegan2.py`).

`DiscriminatorStyleGAN2` (`D_stylegan2`, 'orig' | 'skip' | 'resnet') and `DiscriminatorRevised`
(`D_stylegan`, configs B-D, progressive) share the 4x4 head (`_DiscriminatorBase`); StyleGAN2-ADA's
`D_main` (`networks.ada`) extends the first. Images are NHWC.
"""

import keras
import numpy as np
import tensorflow as tf

from stylegan_tf import layers
from stylegan_tf.networks import base
from stylegan_tf.networks.stylegan2 import _RUNTIME_FLAGS, _check_architecture
from stylegan_tf.ops import upfirdn

D_STYLEGAN2_DEFAULTS = dict(
    num_channels=3, resolution=1024, label_size=0, fmap_base=16 << 10, fmap_decay=1.0, fmap_min=1,
    fmap_max=512, architecture="resnet", nonlinearity="lrelu", mbstd_group_size=4, mbstd_num_features=1,
    dtype="float32", resample_kernel=[1, 3, 3, 1])
D_STYLEGAN_DEFAULTS = {**{k: v for k, v in D_STYLEGAN2_DEFAULTS.items() if k != "architecture"},
                       "structure": "auto", "is_template_graph": False}


class _DiscriminatorBase(base.NetworkModel):
    """The 4x4 head both StyleGAN2 discriminators share: minibatch stddev, `4x4/Conv`,
    `4x4/Dense0` and `Output` (with labels, the score of the given class)."""

    STATE_VERSION = 4
    PICKLED_KWARGS_MAY_EXTEND = True

    def _setup(self, config):
        base.set_discriminator_sizes(self, config)
        self.resample_kernel = config["resample_kernel"]
        self.nf = base.fmaps(config["fmap_base"], config["fmap_decay"], config["fmap_max"], config["fmap_min"])
        self.act = config["nonlinearity"]
        conv = lambda filters, kernel, name, **extra: layers.FIRConv2D(  # noqa: E731
            filters, kernel, resample_kernel=self.resample_kernel, activation=self.act, name=name, **extra)
        self.conv_layer = conv
        self.convs0 = [conv(self.nf(res - 1), 3, f"{2**res}x{2**res}_Conv0", **self.layer_kwargs(2**res))
                       for res in range(3, self.resolution_log2 + 1)]
        self.convs1_down = [conv(self.nf(res - 2), 3, f"{2**res}x{2**res}_Conv1_down", resample="down",
                                 **self.layer_kwargs(2**res)) for res in range(3, self.resolution_log2 + 1)]
        self.minibatch_stddev = layers.MinibatchStddev(self.mbstd_group_size, self.mbstd_num_features,
                                                       name="minibatch_stddev") if self._uses_mbstd() else None
        self.final_conv = conv(self.nf(1), 3, "4x4_Conv", conv_clamp=self.conv_clamp)
        self.dense0 = layers.BiasActDense(self.nf(0), activation=self.act, name="4x4_Dense0")
        self.output_dense = layers.BiasActDense(self._output_units(), name="Output")

    def _uses_mbstd(self):
        return self.mbstd_group_size > 1

    def _output_units(self):
        return max(self.label_size, 1)

    def _build_common(self):
        base.build_discriminator_layers(self, self.output_dense)

    def _configure(self, config):
        """Reads what a subclass adds to the release's kwargs (StyleGAN2's D_stylegan2 adds nothing)."""

    def _block(self, res, x):
        return self.convs1_down[res - 3](self.convs0[res - 3](x))

    def _block_at(self, x, res):
        return self._block(res, x)

    def _head(self, x, labels):
        if self.minibatch_stddev is not None:
            x = self.minibatch_stddev(x)
        return self._condition(self.output_dense(self.dense0(self.final_conv(x))), labels)

    def _condition(self, scores, labels):
        """With labels, the score of the given class."""
        if self.label_size:
            labels = self.float_input(labels, f"labels [N, {self.label_size}]")
            scores = tf.reduce_sum(scores * labels, axis=1, keepdims=True)
        return scores

    @staticmethod
    def _layer_variables(scope, layer):
        yield f"{scope}/weight", layer.weight
        if layer.use_bias:
            yield f"{scope}/bias", layer.bias

    def _head_variables(self):
        for scope, layer in (("4x4/Conv", self.final_conv), ("4x4/Dense0", self.dense0),
                             ("Output", self.output_dense)):
            yield from self._layer_variables(scope, layer)


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class DiscriminatorStyleGAN2(_DiscriminatorBase):
    """`D_stylegan2` (configs E, F): 'resnet' (default) adds a 1x1 FIR-downsampling skip to every
    block, 'skip' adds a FromRGB of the FIR-downsampled image at every resolution, 'orig' neither.
    Call: `D(images [N, R, R, C], labels=None)` -> scores [N, 1] (`structure` and `lod_range` are
    accepted and unused)."""

    FUNC_NAME = "D_stylegan2"
    DEFAULTS = D_STYLEGAN2_DEFAULTS
    ACCEPTED = frozenset(D_STYLEGAN2_DEFAULTS) | _RUNTIME_FLAGS

    def __init__(self, name="D", runtime=None, **kwargs):
        super().__init__(name, kwargs, runtime)
        config = base.resolve_kwargs(kwargs, self.DEFAULTS, self.ACCEPTED, self.FUNC_NAME)
        self._configure(config)
        self.architecture = _check_architecture(config["architecture"], self.FUNC_NAME)
        self._setup(config)
        log2r = self.resolution_log2
        self.rgb_resolutions = list(range(log2r, 1, -1)) if self.architecture == "skip" else [log2r]
        self.from_rgbs = [self.conv_layer(self.nf(res - 1), 1, f"{2**res}x{2**res}_FromRGB",
                                          **self.layer_kwargs(2**res)) for res in self.rgb_resolutions]
        self.skips = [layers.FIRConv2D(self.nf(res - 2), 1, resample="down", resample_kernel=self.resample_kernel,
                                       use_bias=False, name=f"{2**res}x{2**res}_Skip",
                                       **self.layer_kwargs(2**res, clamped=False))
                      for res in range(3, log2r + 1)] if self.architecture == "resnet" else []
        self.build((None, self.resolution, self.resolution, self.num_channels))

    def layer_scopes(self):
        """The original names of the layers, from the input side, in the order StyleGAN2-ADA's
        `freeze_layers` counts them (`--freezed=N` freezes the first N; Output never)."""
        scopes = []
        for res in range(self.resolution_log2, 2, -1):
            prefix = f"{2**res}x{2**res}"
            if self.architecture == "skip" or res == self.resolution_log2:
                scopes.append(f"{prefix}/FromRGB")
            scopes += [f"{prefix}/Conv0", f"{prefix}/Conv1_down"] + ([f"{prefix}/Skip"] if self.skips else [])
        return scopes + (["4x4/FromRGB"] if self.architecture == "skip" else []) + ["4x4/Conv", "4x4/Dense0"]

    def build(self, input_shape):
        for res, from_rgb in zip(self.rgb_resolutions, self.from_rgbs):
            from_rgb.build((None, 2**res, 2**res, self.num_channels))
        self._build_common()
        for res, skip in zip(range(3, self.resolution_log2 + 1), self.skips):
            skip.build((None, 2**res, 2**res, self.nf(res - 1)))
        self.built = True

    def call(self, images, labels=None, structure=None, lod_range=None):
        del structure, lod_range  # not progressive
        y = self.float_input(images, "images")
        x = None

        def from_rgb(res, x, y):
            features = self.from_rgbs[self.rgb_resolutions.index(res)](y)
            return features if x is None else tf.cast(x, features.dtype) + features  # dtypes differ across precisions

        for res in range(self.resolution_log2, 2, -1):
            if res in self.rgb_resolutions:
                x = from_rgb(res, x, y)
            block_input = x
            x = self._block(res, x)
            if self.architecture == "resnet":
                x = (x + self.skips[res - 3](block_input)) * (1 / np.sqrt(2))
            if self.architecture == "skip":
                y = upfirdn.downsample_2d(y, self.resample_kernel)
        if 2 in self.rgb_resolutions:
            x = from_rgb(2, x, y)
        return self._head(x, labels)

    def _original_variable_list(self):
        for res in range(self.resolution_log2, 2, -1):
            scope = f"{2**res}x{2**res}"
            if res in self.rgb_resolutions:
                yield from self._layer_variables(f"{scope}/FromRGB", self.from_rgbs[self.rgb_resolutions.index(res)])
            yield from self._layer_variables(f"{scope}/Conv0", self.convs0[res - 3])
            yield from self._layer_variables(f"{scope}/Conv1_down", self.convs1_down[res - 3])
            if self.skips:
                yield from self._layer_variables(f"{scope}/Skip", self.skips[res - 3])
        if 2 in self.rgb_resolutions:
            yield from self._layer_variables("4x4/FromRGB", self.from_rgbs[-1])
        yield from self._head_variables()


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class DiscriminatorRevised(_DiscriminatorBase):
    """`D_stylegan` (configs B-D): StyleGAN2's layers with progressive growing (`lod`,
    `FromRGB_lod<k>`, box-downsampled images blended as in `D_basic`). Call as
    `stylegan_discriminator.Discriminator`: `D(images, labels=None, structure=None, lod_range=None)`."""

    FUNC_NAME = "D_stylegan"
    ACCEPTED = frozenset(D_STYLEGAN_DEFAULTS) | _RUNTIME_FLAGS

    def __init__(self, name="D", runtime=None, **kwargs):
        super().__init__(name, kwargs, runtime)
        config = base.resolve_kwargs(kwargs, D_STYLEGAN_DEFAULTS, self.ACCEPTED, self.FUNC_NAME)
        self._setup(config)
        self.structure = "linear" if config["is_template_graph"] and config["structure"] == "auto" \
            else config["structure"]
        self.from_rgbs = [self.conv_layer(self.nf(res - 1), 1, f"FromRGB_lod{self.resolution_log2 - res}")
                          for res in range(2, self.resolution_log2 + 1)]
        self.build((None, self.resolution, self.resolution, self.num_channels))

    def build(self, input_shape):
        self.lod = self.add_weight(name="lod", shape=(), initializer="zeros", trainable=False,
                                   aggregation="only_first_replica")
        for level, from_rgb in enumerate(self.from_rgbs):
            from_rgb.build((None, 2 ** (level + 2), 2 ** (level + 2), self.num_channels))
        self._build_common()
        self.built = True

    def call(self, images, labels=None, structure=None, lod_range=None):
        images = self.float_input(images, "images")
        x = base.progressive_features(self, images, self._block_at, structure, lod_range, start_res=3)
        return self._head(x, labels)

    def _original_variable_list(self):
        yield "lod", self.lod
        log2r = self.resolution_log2
        yield from self._layer_variables("FromRGB_lod0", self.from_rgbs[log2r - 2])
        for res in range(log2r, 2, -1):
            yield from self._layer_variables(f"{2**res}x{2**res}/Conv0", self.convs0[res - 3])
            yield from self._layer_variables(f"{2**res}x{2**res}/Conv1_down", self.convs1_down[res - 3])
            yield from self._layer_variables(f"FromRGB_lod{log2r - res + 1}", self.from_rgbs[res - 3])
        yield from self._head_variables()

