"""The StyleGAN generator networks as Keras models: mapping, synthesis and the G wrapper (the
discriminator is in `stylegan_discriminator`).

They take the keyword arguments of the original build functions (`G_mapping`, `G_synthesis`,
`G_style` of `training/networks_stylegan.py`) with the same meaning and defaults. One model holds every
resolution; the `lod` variable selects and blends the progressive-growing levels.

`original_variables()` of each network lists its Keras variables under their original names
(`G_mapping/Dense0/weight`, `G_synthesis/4x4/Const/const`, `FromRGB_lod0/weight`, ...): the one
mapping used by the pickle loader, the snapshot writer and the tests.
"""

import keras
import numpy as np
import tensorflow as tf

from stylegan_tf import layers, ops
from stylegan_tf.networks import base, truncation

# Keyword arguments of the original build functions and their defaults.
MAPPING_DEFAULTS = dict(
    latent_size=512, label_size=0, dlatent_size=512, dlatent_broadcast=None, mapping_layers=8,
    mapping_fmaps=512, mapping_lrmul=0.01, mapping_nonlinearity="lrelu", use_wscale=True,
    normalize_latents=True, dtype="float32")


SYNTHESIS_DEFAULTS = dict(
    dlatent_size=512, num_channels=3, resolution=1024, fmap_base=8192, fmap_decay=1.0,
    fmap_max=512, use_styles=True, const_input_layer=True, use_noise=True, randomize_noise=True,
    nonlinearity="lrelu", use_wscale=True, use_pixel_norm=False, use_instance_norm=True,
    dtype="float32", fused_scale="auto", blur_filter=[1, 2, 1], structure="auto",
    is_template_graph=False, force_clean_graph=False)


G_STYLE_DEFAULTS = dict(
    truncation_psi=0.7, truncation_cutoff=8, truncation_psi_val=None, truncation_cutoff_val=None,
    dlatent_avg_beta=0.995, style_mixing_prob=0.9, is_training=False, is_validation=False,
    is_template_graph=False, components=None)


# G_style passes all its kwargs on to both components, which ignore what is not theirs; it sets
# the mapping's dlatent_broadcast itself.
GENERATOR_KWARGS = (frozenset(MAPPING_DEFAULTS) | frozenset(SYNTHESIS_DEFAULTS) | frozenset(
    G_STYLE_DEFAULTS)) - {"dlatent_broadcast"}


def _use_fused_scale(fused_scale, resolution):
    """'auto' fuses the resampling conv at (input or output) resolutions >= 128."""
    if fused_scale == "auto":
        return resolution >= 128
    if fused_scale not in (True, False):
        raise ValueError(f"fused_scale must be True, False or 'auto', got {fused_scale!r}.")
    return fused_scale


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class Mapping(base.NetworkModel):
    """Mapping network `G_mapping`: z (and labels) -> w, optionally broadcast to every layer.

    Call: `mapping(latents [N, latent_size], labels [N, label_size] or None)` ->
    `[N, dlatent_broadcast, dlatent_size]` (or `[N, dlatent_size]` without broadcast).
    """

    FUNC_NAME = "G_mapping"
    DEFAULTS = MAPPING_DEFAULTS
    ACCEPTED = GENERATOR_KWARGS | {"dlatent_broadcast"}

    def __init__(self, name="G_mapping", runtime=None, **kwargs):
        super().__init__(name, kwargs, runtime)
        config = base.resolve_kwargs(kwargs, self.DEFAULTS, self.ACCEPTED, self.FUNC_NAME)
        self.latent_size = int(config["latent_size"])
        self.label_size = int(config["label_size"])
        self.dlatent_size = int(config["dlatent_size"])
        self.dlatent_broadcast = config["dlatent_broadcast"]
        self.normalize_latents = bool(config["normalize_latents"])
        num_layers = int(config["mapping_layers"])
        self.dense_layers = [
            self._dense_layer(config, self.dlatent_size if index == num_layers - 1
                              else int(config["mapping_fmaps"]), f"Dense{index}")
            for index in range(num_layers)]
        self.build((None, self.latent_size))

    def _dense_layer(self, config, units, name):
        return layers.EqualizedDense(units, gain=np.sqrt(2), use_wscale=config["use_wscale"],
                                     lrmul=config["mapping_lrmul"],
                                     activation=config["mapping_nonlinearity"], name=name)

    def build(self, input_shape):
        if self.label_size:
            # Label embedding: plain N(0, 1) init, no equalized learning rate.
            self.label_embedding = self.add_weight(
                name="label_embedding", shape=(self.label_size, self.latent_size),
                initializer=keras.initializers.RandomNormal(stddev=1.0))
        self._build_dense_layers(self.latent_size * (2 if self.label_size else 1))

    def _build_dense_layers(self, features):
        for dense in self.dense_layers:
            dense.build((None, features))
            features = dense.units
        self.built = True

    def call(self, latents, labels=None):
        x = self._dense_input(self.float_input(latents, "latents"), labels)
        for dense in self.dense_layers:
            x = dense(x)
        if self.dlatent_broadcast is not None:
            x = tf.tile(x[:, tf.newaxis], [1, self.dlatent_broadcast, 1])
        return x

    def _dense_input(self, x, labels):
        """The first dense layer's input: the latents, with labels concatenated as embeddings."""
        if self.label_size:
            labels = self.float_input(labels, f"labels [N, {self.label_size}]")
            x = tf.concat([x, tf.matmul(labels, self.label_embedding)], axis=1)
        return ops.pixel_norm(x) if self.normalize_latents else x

    def _label_variables(self):
        yield "LabelConcat/weight", self.label_embedding

    def _original_variable_list(self):
        if self.label_size:
            yield from self._label_variables()
        for dense in self.dense_layers:
            yield f"{dense.name}/weight", dense.weight
            yield f"{dense.name}/bias", dense.bias


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class Synthesis(base.NetworkModel, base.NoiseInputs):
    """Synthesis network `G_synthesis`: w per layer -> image [N, R, R, C] (NHWC).

    Call: `synthesis(dlatents [N, num_layers, dlatent_size], randomize_noise=None,
    structure=None, lod_range=None, noise_mode=None, noise=None)`; None means the configured value
    (`randomize_noise=True`, 'auto' = the original's recursive structure, which computes only the
    resolutions `lod` needs); the noise arguments as `base.NoiseInputs`. `lod_range=(low, high)`
    promises that `lod` stays in that range, so that a traced or
    compiled function contains only the levels the range can blend (the training loop retraces
    once per resolution with it); it never changes the result for a lod inside the range.
    """

    FUNC_NAME = "G_synthesis"

    def __init__(self, name="G_synthesis", runtime=None, **kwargs):
        super().__init__(name, kwargs, runtime)
        config = base.resolve_kwargs(kwargs, SYNTHESIS_DEFAULTS, GENERATOR_KWARGS, "G_synthesis")
        self.resolution = int(config["resolution"])
        self.resolution_log2 = ops.resolution_log2_of(self.resolution)
        self.num_channels = int(config["num_channels"])
        self.dlatent_size = int(config["dlatent_size"])
        self.num_layers = 2 * self.resolution_log2 - 2
        self.use_styles = bool(config["use_styles"])
        self.num_styles = self.num_layers if self.use_styles else 1
        self.const_input_layer = bool(config["const_input_layer"])
        self.use_noise = bool(config["use_noise"])
        self.randomize_noise = bool(config["randomize_noise"])
        self.structure = config["structure"]
        nf = base.fmaps(config["fmap_base"], config["fmap_decay"], config["fmap_max"])
        self.nf = nf
        gain = np.sqrt(2)
        use_wscale = config["use_wscale"]
        impl = self.runtime.impl

        def epilogue(index, scope):
            return layers.LayerEpilogue(
                use_noise=self.use_noise, use_pixel_norm=config["use_pixel_norm"],
                use_instance_norm=config["use_instance_norm"], use_styles=self.use_styles,
                nonlinearity=config["nonlinearity"], use_wscale=use_wscale, impl=impl,
                name=scope.replace("/", "_"), **self.layer_kwargs(2 ** (index // 2 + 2), clamped=False))

        # Layer i runs at 2**(i // 2 + 2); its original variable scope names its epilogue.
        self.layer_scopes = ["4x4/Const" if self.const_input_layer else "4x4/Dense", "4x4/Conv"]
        for res in range(3, self.resolution_log2 + 1):
            self.layer_scopes += [f"{2**res}x{2**res}/Conv0_up", f"{2**res}x{2**res}/Conv1"]
        self.epilogues = [epilogue(index, scope) for index, scope in enumerate(self.layer_scopes)]
        self.layer_channels = [nf(index // 2 + 1) for index in range(self.num_layers)]

        if not self.const_input_layer:
            # Gain sqrt(2)/4 as in the original (matches the Progressive GAN's first layer).
            self.input_dense = layers.EqualizedDense(nf(1) * 16, gain=gain / 4,
                                                     use_wscale=use_wscale, use_bias=False,
                                                     name="4x4_Dense")
        self.input_conv = layers.EqualizedConv2D(nf(1), 3, gain=gain, use_wscale=use_wscale,
                                                 name="4x4_Conv")
        self.up_convs, self.convs = [], []
        for res in range(3, self.resolution_log2 + 1):
            self.up_convs.append(layers.EqualizedConv2D(
                nf(res - 1), 3, gain=gain, use_wscale=use_wscale, resample="up",
                fused_scale=_use_fused_scale(config["fused_scale"], 2**res), impl=impl,
                name=f"{2**res}x{2**res}_Conv0_up", **self.layer_kwargs(2**res)))
            self.convs.append(layers.EqualizedConv2D(
                nf(res - 1), 3, gain=gain, use_wscale=use_wscale, name=f"{2**res}x{2**res}_Conv1",
                **self.layer_kwargs(2**res)))
        self.blur = layers.Blur2D(config["blur_filter"], impl=impl, name="blur") \
            if config["blur_filter"] else None
        self.to_rgbs = [
            layers.EqualizedConv2D(self.num_channels, 1, gain=1.0, use_wscale=use_wscale,
                                   use_bias=True, name=f"ToRGB_lod{self.resolution_log2 - res}")
            for res in range(2, self.resolution_log2 + 1)]
        self.build((None, self.num_styles, self.dlatent_size))

    def build(self, input_shape):
        self.lod = self.add_weight(name="lod", shape=(), initializer="zeros", trainable=False,
                                   aggregation="only_first_replica")
        self.noise_buffers = []
        if self.use_noise:
            for index in range(self.num_layers):
                size = 2 ** (index // 2 + 2)
                self.noise_buffers.append(self.add_weight(
                    name=f"noise{index}", shape=(1, size, size, 1), trainable=False,
                    initializer=keras.initializers.RandomNormal(stddev=1.0)))
        nf1 = self.nf(1)
        if self.const_input_layer:
            self.const = self.add_weight(name="const", shape=(1, 4, 4, nf1), initializer="ones")
        else:
            self.input_dense.build((None, self.dlatent_size))
        dlatent_shape = (None, self.dlatent_size)
        for index, epilogue in enumerate(self.epilogues):
            size = 2 ** (index // 2 + 2)
            epilogue.build((None, size, size, self.layer_channels[index]), dlatent_shape)
        self.input_conv.build((None, 4, 4, nf1))
        for block, (up_conv, conv) in enumerate(zip(self.up_convs, self.convs)):
            size = 2 ** (block + 3)
            up_conv.build((None, size // 2, size // 2, self.layer_channels[2 * block + 1]))
            conv.build((None, size, size, up_conv.filters))
        for level, to_rgb in enumerate(self.to_rgbs):
            size = 2 ** (level + 2)
            to_rgb.build((None, size, size, self.layer_channels[2 * level + 1]))
        self.built = True

    def call(self, dlatents, randomize_noise=None, structure=None, lod_range=None, noise_mode=None, noise=None):
        dlatents = self.float_input(dlatents, "dlatents")
        noise_mode, noise = self.noise_mode_of(noise_mode, randomize_noise), self.check_noise(noise)
        batch = tf.shape(dlatents)[0]
        lod_range, structure, lod_in = base.progressive_call_settings(self, lod_range, structure)
        log2r = self.resolution_log2

        def epilogue(index, x):
            layer_noise = self.layer_noise(index, batch, noise_mode, noise) if self.use_noise else None
            style = dlatents[:, index] if self.use_styles else None
            return self.epilogues[index](x, style, layer_noise)

        def block(res, x):  # res = 3..log2r
            x = self.up_convs[res - 3](x)
            if self.blur is not None:
                x = self.blur(x)
            x = epilogue(2 * res - 4, x)
            return epilogue(2 * res - 3, self.convs[res - 3](x))

        def to_rgb(res, x):  # res = 2..log2r
            return self.to_rgbs[res - 2](x)

        if self.const_input_layer:
            x = tf.tile(self.const, [batch, 1, 1, 1])
        else:
            x = tf.reshape(self.input_dense(dlatents[:, 0]), [-1, 4, 4, self.nf(1)])
        x = epilogue(0, x)
        x = epilogue(1, self.input_conv(x))

        return base.progressive_images(x, block, to_rgb, log2r, structure, lod_in, lod_range)

    def _original_variable_list(self):
        yield "lod", self.lod
        for index, buffer in enumerate(self.noise_buffers):
            yield f"noise{index}", buffer
        for index, (scope, epilogue) in enumerate(zip(self.layer_scopes, self.epilogues)):
            if index == 0:
                yield from ([("4x4/Const/const", self.const)] if self.const_input_layer
                            else [("4x4/Dense/weight", self.input_dense.weight)])
            elif index == 1:
                yield f"{scope}/weight", self.input_conv.weight
            else:
                conv = (self.up_convs if index % 2 == 0 else self.convs)[(index - 2) // 2]
                yield f"{scope}/weight", conv.weight
            if epilogue.use_noise:
                yield f"{scope}/Noise/weight", epilogue.noise_weight
            yield f"{scope}/bias", epilogue.bias
            if epilogue.use_styles:
                yield f"{scope}/StyleMod/weight", epilogue.style_weight
                yield f"{scope}/StyleMod/bias", epilogue.style_bias
            if index % 2 == 1:  # a resolution's ToRGB follows its last layer
                to_rgb = self.to_rgbs[index // 2]
                yield f"{to_rgb.name}/weight", to_rgb.weight
                yield f"{to_rgb.name}/bias", to_rgb.bias


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class Generator(base.NetworkModel):
    """The style-based generator `G_style`: mapping + truncation/mixing + synthesis.

    Keyword arguments are those of the original `G_style` and its components, e.g.
    `Generator(resolution=1024, num_channels=3, label_size=0)` is the FFHQ generator.

    Call: `G(latents, labels=None, truncation_psi=0.7, truncation_cutoff=8,
    is_training=False, is_validation=False, style_mixing_prob=0.9, dlatent_avg_beta=0.995,
    randomize_noise=True)` -> images [N, R, R, C]; unspecified values come from the config, and
    the flags resolve exactly as in the original (truncation off when training, validating with
    the `_val` values, or with a None psi/cutoff; W-average tracking and mixing only when training).

    Example:
        G = Generator(resolution=256, num_channels=3)
        images = G(np.random.RandomState(0).randn(4, 512), None, truncation_psi=0.7)

    Reference: Karras, Laine, Aila, "A Style-Based Generator Architecture for Generative
    Adversarial Networks", CVPR 2019.
    """

    FUNC_NAME = "G_style"
    OWN_VARIABLES = ("lod", "dlatent_avg")  # its variables outside the components, in the original's order
    DEFAULTS = G_STYLE_DEFAULTS
    ACCEPTED = GENERATOR_KWARGS

    def __init__(self, name="G", runtime=None, **kwargs):
        super().__init__(name, kwargs, runtime)
        config = base.resolve_kwargs(kwargs, self.DEFAULTS, self.ACCEPTED, self.FUNC_NAME)
        self.style_config = {key: config[key] for key in (
            "truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
            "dlatent_avg_beta", "style_mixing_prob")}
        component_kwargs = {k: v for k, v in kwargs.items() if k not in self.DEFAULTS}
        self.synthesis, self.mapping = self._make_components(config, component_kwargs)
        self.build((None, self.mapping.latent_size))

    def _make_components(self, config, component_kwargs):
        del config
        synthesis = Synthesis(name="G_synthesis", runtime=self.runtime, **component_kwargs)
        return synthesis, Mapping(name="G_mapping", dlatent_broadcast=synthesis.num_styles,
                                  runtime=self.runtime, **component_kwargs)

    def _resolve_flags(self, is_training, is_validation, values):
        """(psi, cutoff, dlatent_avg_beta, style_mixing_prob) as the original resolves them;
        truncation applies when psi and cutoff are both set."""
        return truncation.truncation_settings(
            is_training, is_validation, values["truncation_psi"], values["truncation_cutoff"],
            values["truncation_psi_val"], values["truncation_cutoff_val"],
            values["dlatent_avg_beta"], values["style_mixing_prob"])

    def build(self, input_shape):
        self.dlatent_avg = self.add_weight(name="dlatent_avg", shape=(self.dlatent_size,),
                                           initializer="zeros", trainable=False,
                                           aggregation="only_first_replica")
        self.built = True

    # G's own lod and G_synthesis/lod are one variable: the original copies the former into the
    # latter on every run, so they never differ where it matters.
    lod = property(lambda self: self.synthesis.lod)
    latent_size = property(lambda self: self.mapping.latent_size)
    label_size = property(lambda self: self.mapping.label_size)
    dlatent_size = property(lambda self: self.synthesis.dlatent_size)
    num_layers = property(lambda self: self.synthesis.num_styles)
    resolution = property(lambda self: self.synthesis.resolution)
    num_channels = property(lambda self: self.synthesis.num_channels)

    def call(self, latents, labels=None, truncation_psi=base.UNSET, truncation_cutoff=base.UNSET,
             truncation_psi_val=base.UNSET, truncation_cutoff_val=base.UNSET, dlatent_avg_beta=base.UNSET,
             style_mixing_prob=base.UNSET, is_training=False, is_validation=False,
             randomize_noise=None, structure=None, lod_range=None, noise_mode=None, noise=None):
        dlatents = self.compute_dlatents(
            latents, labels, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
            truncation_psi_val=truncation_psi_val, truncation_cutoff_val=truncation_cutoff_val,
            dlatent_avg_beta=dlatent_avg_beta, style_mixing_prob=style_mixing_prob,
            is_training=is_training, is_validation=is_validation)
        return self.synthesis(dlatents, randomize_noise=randomize_noise, structure=structure,
                              lod_range=lod_range, noise_mode=noise_mode, noise=noise)

    def compute_dlatents(self, latents, labels=None, truncation_psi=base.UNSET,
                         truncation_cutoff=base.UNSET, truncation_psi_val=base.UNSET,
                         truncation_cutoff_val=base.UNSET, dlatent_avg_beta=base.UNSET,
                         style_mixing_prob=base.UNSET, is_training=False, is_validation=False):
        """The dlatents [N, num_layers, dlatent_size] that `G(...)` feeds to the synthesis:
        mapping, then (when training) the W-average update and style mixing, then truncation."""
        given = dict(truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                     truncation_psi_val=truncation_psi_val,
                     truncation_cutoff_val=truncation_cutoff_val,
                     dlatent_avg_beta=dlatent_avg_beta, style_mixing_prob=style_mixing_prob)
        values = {key: self.style_config[key] if value is base.UNSET else value
                  for key, value in given.items()}
        psi, cutoff, avg_beta, mixing_prob = self._resolve_flags(is_training, is_validation, values)
        latents = self.float_input(latents, "latents")
        dlatents = self.mapping(latents, labels)
        if avg_beta is not None:
            self.update_dlatent_avg(dlatents, avg_beta)
        if mixing_prob is not None:
            dlatents = self.mix_styles(dlatents, latents, labels, mixing_prob)
        if psi is not None and cutoff is not None:
            dlatents = self.truncate(dlatents, psi, cutoff)
        return dlatents

    def update_dlatent_avg(self, dlatents, beta):
        """dlatent_avg <- batch_avg + (dlatent_avg - batch_avg) * beta (from dlatents[:, 0])."""
        batch_avg = tf.reduce_mean(dlatents[:, 0], axis=0)
        self.dlatent_avg.assign(ops.lerp(batch_avg, tf.convert_to_tensor(self.dlatent_avg),
                                         beta))

    def mix_styles(self, dlatents, latents, labels, mixing_prob):
        """Style-mixing regularization: with probability `mixing_prob` the layers from a uniform
        cutoff in [1, cur_layers - 1] on take the styles of a second random latent."""
        dlatents2 = self.mapping(tf.random.normal(tf.shape(latents), dtype=latents.dtype), labels)
        cur_layers = self._current_layers()
        mixing_cutoff = tf.cond(
            tf.random.uniform([], 0.0, 1.0) < mixing_prob,
            lambda: tf.random.uniform([], 1, cur_layers, dtype=tf.int32),
            lambda: cur_layers)
        return truncation.mix_at_cutoff(dlatents, dlatents2, mixing_cutoff)

    def _current_layers(self):
        """The layers the current lod computes."""
        return self.num_layers - tf.cast(tf.convert_to_tensor(self.lod), tf.int32) * 2

    def truncate(self, dlatents, psi, cutoff):
        """Truncation trick towards dlatent_avg on the layers below `cutoff`."""
        return truncation.truncate_dlatents(dlatents, tf.convert_to_tensor(self.dlatent_avg), psi, cutoff)

    def _original_variable_list(self):
        for name in self.OWN_VARIABLES:
            yield name, getattr(self, name)
        for component in (self.synthesis, self.mapping):
            for name, variable in component._original_variable_list():
                yield f"{component.name}/{name}", variable
