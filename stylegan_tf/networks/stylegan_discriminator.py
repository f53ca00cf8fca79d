"""The StyleGAN release's discriminator `D_basic` as a Keras model (`training/networks_stylegan.py`):
progressive, with minibatch standard deviation; its variables under their original names
(`FromRGB_lod0/weight`, ...). Images are NHWC.
"""

import keras
import numpy as np
import tensorflow as tf

from stylegan_tf import layers, ops
from stylegan_tf.networks import base
from stylegan_tf.networks.stylegan import _use_fused_scale

D_BASIC_DEFAULTS = dict(
    num_channels=1, resolution=32, label_size=0, fmap_base=8192, fmap_decay=1.0, fmap_max=512,
    nonlinearity="lrelu", use_wscale=True, mbstd_group_size=4, mbstd_num_features=1,
    dtype="float32", fused_scale="auto", blur_filter=[1, 2, 1], structure="auto",
    is_template_graph=False)


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class Discriminator(base.NetworkModel):
    """Progressive discriminator `D_basic` with minibatch standard deviation.

    Call: `D(images [N, R, R, C] in [-1, 1], labels=None, structure=None, lod_range=None)` ->
    scores [N, 1] (logits; with labels, the score of the given class as the original's
    `LabelSwitch`). `lod_range` as for `Synthesis`.
    """

    FUNC_NAME = "D_basic"
    DEFAULTS = D_BASIC_DEFAULTS

    def __init__(self, name="D", runtime=None, **kwargs):
        super().__init__(name, kwargs, runtime)
        config = base.resolve_kwargs(kwargs, self.DEFAULTS, self.DEFAULTS, self.FUNC_NAME)
        base.set_discriminator_sizes(self, config)
        self.structure = config["structure"]
        nf = base.fmaps(config["fmap_base"], config["fmap_decay"], config["fmap_max"])
        self.nf = nf
        act, use_wscale, gain, impl = config["nonlinearity"], config["use_wscale"], np.sqrt(2), self.runtime.impl
        ops.activation_fn(act)  # validates the name
        conv = lambda filters, kernel, name, **extra: layers.EqualizedConv2D(  # noqa: E731
            filters, kernel, gain=gain, use_wscale=use_wscale, use_bias=True, activation=act,
            impl=impl, name=name, **extra)
        log2r = self.resolution_log2
        self.from_rgbs = [conv(nf(res - 1), 1, f"FromRGB_lod{log2r - res}")
                          for res in range(2, log2r + 1)]
        self.convs0, self.convs1_down = [], []
        for res in range(3, log2r + 1):
            self.convs0.append(conv(nf(res - 1), 3, f"{2**res}x{2**res}_Conv0", **self.layer_kwargs(2**res)))
            self.convs1_down.append(conv(
                nf(res - 2), 3, f"{2**res}x{2**res}_Conv1_down", resample="down",
                fused_scale=_use_fused_scale(config["fused_scale"], 2**res), **self.layer_kwargs(2**res)))
        self.blur = layers.Blur2D(config["blur_filter"], impl=impl, name="blur") \
            if config["blur_filter"] else None
        self.minibatch_stddev = layers.MinibatchStddev(
            self.mbstd_group_size, self.mbstd_num_features, name="minibatch_stddev") \
            if self.mbstd_group_size > 1 else None
        self.final_conv = conv(nf(1), 3, "4x4_Conv")
        self.dense0 = layers.EqualizedDense(nf(0), gain=gain, use_wscale=use_wscale,
                                            activation=act, name="4x4_Dense0")
        self.dense1 = layers.EqualizedDense(max(self.label_size, 1), gain=1.0,
                                            use_wscale=use_wscale, name="4x4_Dense1")
        self.build((None, self.resolution, self.resolution, self.num_channels))

    def build(self, input_shape):
        self.lod = self.add_weight(name="lod", shape=(), initializer="zeros", trainable=False,
                                   aggregation="only_first_replica")
        for level, from_rgb in enumerate(self.from_rgbs):
            size = 2 ** (level + 2)
            from_rgb.build((None, size, size, self.num_channels))
        base.build_discriminator_layers(self, self.dense1)
        self.built = True

    def call(self, images, labels=None, structure=None, lod_range=None):
        images = self.float_input(images, "images")

        def block(x, res):
            if res >= 3:
                x = self.convs0[res - 3](x)
                if self.blur is not None:
                    x = self.blur(x)
                return self.convs1_down[res - 3](x)
            if self.minibatch_stddev is not None:
                x = self.minibatch_stddev(x)
            return self.dense1(self.dense0(self.final_conv(x)))

        scores = base.progressive_features(self, images, block, structure, lod_range)

        if self.label_size:
            labels = self.float_input(labels, f"labels [N, {self.label_size}]")
            scores = tf.reduce_sum(scores * labels, axis=1, keepdims=True)
        return scores

    def _original_variable_list(self):
        yield "lod", self.lod
        log2r = self.resolution_log2
        scoped = [("FromRGB_lod0", self.from_rgbs[log2r - 2])]
        for res in range(log2r, 2, -1):
            scoped += [(f"{2**res}x{2**res}/Conv0", self.convs0[res - 3]),
                       (f"{2**res}x{2**res}/Conv1_down", self.convs1_down[res - 3]),
                       (f"FromRGB_lod{log2r - res + 1}", self.from_rgbs[res - 3])]
        scoped += [("4x4/Conv", self.final_conv), ("4x4/Dense0", self.dense0),
                   ("4x4/Dense1", self.dense1)]
        for scope, layer in scoped:
            yield f"{scope}/weight", layer.weight
            yield f"{scope}/bias", layer.bias
