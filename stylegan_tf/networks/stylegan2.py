"""The StyleGAN2 networks as Keras models (`training/networks_stylegan2.py` of the StyleGAN2 release).

`GeneratorMain` (`G_main`: mapping, the W average, style mixing, truncation with StyleGAN2's
meaning, synthesis), `MappingStyleGAN2` (its `G_mapping`), `SynthesisStyleGAN2`
(`G_synthesis_stylegan2`, configs E-F, `architecture` 'orig' | 'skip' | 'resnet'),
`SynthesisRevised` (`G_synthesis_stylegan_revised`, configs B-D, progressive); its discriminators are
in `stylegan2_discriminators`. They take the original keyword arguments with the original defaults and expose the
same interface as the StyleGAN networks (`G(latents, labels, ...)`, `G.mapping`, `G.synthesis`,
`G.lod`, `D(images, labels)`, `original_variables()`), so everything that uses a generator works
with both families. Images are NHWC.
"""

import keras
import numpy as np
import tensorflow as tf

from stylegan_tf import layers, ops
from stylegan_tf.networks import base, truncation
from stylegan_tf.networks.stylegan import Generator, Mapping
from stylegan_tf.ops import upfirdn

MAPPING_DEFAULTS = dict(
    latent_size=512, label_size=0, dlatent_size=512, dlatent_broadcast=None, mapping_layers=8,
    mapping_fmaps=512, mapping_lrmul=0.01, mapping_nonlinearity="lrelu", normalize_latents=True,
    dtype="float32")
SYNTHESIS_DEFAULTS = dict(
    dlatent_size=512, num_channels=3, resolution=1024, fmap_base=16 << 10, fmap_decay=1.0, fmap_min=1,
    fmap_max=512, randomize_noise=True, architecture="skip", nonlinearity="lrelu", dtype="float32",
    resample_kernel=[1, 3, 3, 1], fused_modconv=True)
REVISED_DEFAULTS = {**{k: v for k, v in SYNTHESIS_DEFAULTS.items() if k != "architecture"},
                    "structure": "auto", "is_template_graph": False, "force_clean_graph": False}
G_MAIN_DEFAULTS = dict(
    truncation_psi=0.5, truncation_cutoff=None, truncation_psi_val=None, truncation_cutoff_val=None,
    dlatent_avg_beta=0.995, style_mixing_prob=0.9, is_training=False, is_validation=False,
    return_dlatents=False, is_template_graph=False, components=None, mapping_func="G_mapping",
    synthesis_func="G_synthesis_stylegan2")

# G_main passes its other kwargs to both components, which ignore what is not theirs (and the
# components accept the flags the original passes them at run time).
_RUNTIME_FLAGS = {"is_training", "is_validation", "is_template_graph", "force_clean_graph"}
GENERATOR_KWARGS = (frozenset(G_MAIN_DEFAULTS) | frozenset(MAPPING_DEFAULTS) | frozenset(SYNTHESIS_DEFAULTS)
                    | frozenset(REVISED_DEFAULTS) | _RUNTIME_FLAGS) - {"dlatent_broadcast"}
ARCHITECTURES = ("orig", "skip", "resnet")


def _check_architecture(architecture, network):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"{network}: architecture must be one of {ARCHITECTURES}, got {architecture!r}.")
    return architecture


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class MappingStyleGAN2(Mapping):
    """StyleGAN2's `G_mapping`: as StyleGAN's, but each layer is `sqrt(2) * lrelu(x W + b)` (the
    gain in the activation, not in the weight) and there is no `use_wscale`."""

    STATE_VERSION = 4
    DEFAULTS = MAPPING_DEFAULTS
    ACCEPTED = GENERATOR_KWARGS | {"dlatent_broadcast"}

    def _dense_layer(self, config, units, name):
        return layers.BiasActDense(units, lrmul=config["mapping_lrmul"], activation=config["mapping_nonlinearity"],
                                   name=name)


class _SynthesisBase(base.NetworkModel, base.NoiseInputs):
    """Shared by both StyleGAN2 synthesis networks: sizes, the noise buffers, the learned constant
    and the modulated layers of each resolution (`layer()`, `Conv0_up`, `Conv1` of the original)."""

    STATE_VERSION = 4
    DEFAULTS = SYNTHESIS_DEFAULTS
    ACCEPTED = GENERATOR_KWARGS

    def _setup(self, config):
        # StyleGAN2-ADA's kwargs (absent from StyleGAN2's): its clamp applies to every layer, ToRGB too.
        self.conv_clamp = config.get("conv_clamp")
        self.use_noise = bool(config.get("use_noise", True))
        self.resolution = int(config["resolution"])
        self.resolution_log2 = ops.resolution_log2_of(self.resolution)
        self.num_channels = int(config["num_channels"])
        self.dlatent_size = int(config["dlatent_size"])
        self.num_layers = 2 * self.resolution_log2 - 2
        self.num_styles = self.num_layers
        self.randomize_noise = bool(config["randomize_noise"])
        self.resample_kernel = config["resample_kernel"]
        self.nf = base.fmaps(config["fmap_base"], config["fmap_decay"], config["fmap_max"], config["fmap_min"])
        self.const_fmaps = config.get("fmap_const") or self.nf(1)
        act, kernel, fused = config["nonlinearity"], config["resample_kernel"], config["fused_modconv"]

        def conv(filters, name, resolution, up=False):
            return layers.ModulatedConv2D(filters, 3, up=up, resample_kernel=kernel, fused_modconv=fused,
                                          use_noise=self.use_noise, activation=act, name=name,
                                          **self.layer_kwargs(resolution))

        self.to_rgb_layer = lambda name: layers.ModulatedConv2D(  # noqa: E731
            self.num_channels, 1, demodulate=False, fused_modconv=fused, use_noise=False, activation="linear",
            conv_clamp=self.conv_clamp, name=name)
        self.input_conv = conv(self.nf(1), "4x4_Conv", 4)
        self.up_convs = [conv(self.nf(res - 1), f"{2**res}x{2**res}_Conv0_up", 2**res, up=True)
                         for res in range(3, self.resolution_log2 + 1)]
        self.convs = [conv(self.nf(res - 1), f"{2**res}x{2**res}_Conv1", 2**res)
                      for res in range(3, self.resolution_log2 + 1)]

    def _build_common(self):
        # Noise buffer i belongs to conv layer i (the last dlatent, index num_layers - 1, only
        # drives the final ToRGB), at resolution 2**((i + 5) // 2).
        self.noise_buffers = [
            self.add_weight(name=f"noise{index}", shape=(1, 2 ** ((index + 5) // 2), 2 ** ((index + 5) // 2), 1),
                            trainable=False, initializer=keras.initializers.RandomNormal(stddev=1.0))
            for index in range(self.num_layers - 1)] if self.use_noise else []
        self.const = self.add_weight(name="const", shape=(1, 4, 4, self.const_fmaps),
                                     initializer=keras.initializers.RandomNormal(stddev=1.0))
        dlatent_shape = (None, self.dlatent_size)
        self.input_conv.build((None, 4, 4, self.const_fmaps), dlatent_shape)
        for block, (up_conv, conv) in enumerate(zip(self.up_convs, self.convs)):
            size = 2 ** (block + 3)
            up_conv.build((None, size // 2, size // 2, self.nf(block + 1)), dlatent_shape)
            conv.build((None, size, size, up_conv.filters), dlatent_shape)

    def _start(self, dlatents, noise):
        """The 4x4 features: the constant, tiled, through `4x4/Conv`; `noise` = (mode, maps)."""
        batch = tf.shape(dlatents)[0]
        x = tf.tile(self.const, [batch, 1, 1, 1])
        return self.input_conv(x, dlatents[:, 0], self._noise(0, batch, noise))

    def _block(self, res, x, dlatents, noise):
        batch = tf.shape(dlatents)[0]
        x = self.up_convs[res - 3](x, dlatents[:, 2 * res - 5], self._noise(2 * res - 5, batch, noise))
        return self.convs[res - 3](x, dlatents[:, 2 * res - 4], self._noise(2 * res - 4, batch, noise))

    def _noise(self, index, batch, noise):
        return self.layer_noise(index, batch, *noise) if self.use_noise else None

    @staticmethod
    def _modulated_variables(scope, layer):
        yield f"{scope}/weight", layer.weight
        yield f"{scope}/mod_weight", layer.mod_weight
        yield f"{scope}/mod_bias", layer.mod_bias
        if layer.use_noise:
            yield f"{scope}/noise_strength", layer.noise_strength
        yield f"{scope}/bias", layer.bias

    def _prepare(self, dlatents, randomize_noise, noise_mode, noise):
        """(dlatents, (noise mode, noise maps)) of a call (`base.NoiseInputs`)."""
        dlatents = self.float_input(dlatents, "dlatents")
        return dlatents, (self.noise_mode_of(noise_mode, randomize_noise), self.check_noise(noise))


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class SynthesisStyleGAN2(_SynthesisBase):
    """`G_synthesis_stylegan2` (configs E, F): no progressive growing; 'skip' sums a ToRGB of every
    resolution (FIR-upsampled), 'resnet' adds a 1x1 FIR-upsampling skip to every block, 'orig'
    has neither. Call: `synthesis(dlatents [N, num_layers, dlatent_size], randomize_noise=None,
    noise_mode=None, noise=None)` -> images [N, R, R, C] (noise as `base.NoiseInputs`; `structure`
    and `lod_range` are accepted and unused)."""

    FUNC_NAME = "G_synthesis_stylegan2"

    def __init__(self, name="G_synthesis", runtime=None, **kwargs):
        super().__init__(name, kwargs, runtime)
        config = base.resolve_kwargs(kwargs, self.DEFAULTS, self.ACCEPTED, self.FUNC_NAME)
        self.architecture = _check_architecture(config["architecture"], self.FUNC_NAME)
        self._setup(config)
        log2r = self.resolution_log2
        self.rgb_resolutions = list(range(2, log2r + 1)) if self.architecture == "skip" else [log2r]
        self.to_rgbs = [self.to_rgb_layer(f"{2**res}x{2**res}_ToRGB") for res in self.rgb_resolutions]
        self.skips = [layers.FIRConv2D(self.nf(res - 1), 1, resample="up", resample_kernel=self.resample_kernel,
                                       use_bias=False, name=f"{2**res}x{2**res}_Skip",
                                       **self.layer_kwargs(2**res, clamped=False))
                      for res in range(3, log2r + 1)] if self.architecture == "resnet" else []
        self.build((None, self.num_layers, self.dlatent_size))

    def build(self, input_shape):
        self._build_common()
        for res, to_rgb in zip(self.rgb_resolutions, self.to_rgbs):
            to_rgb.build((None, 2**res, 2**res, self.nf(res - 1)), (None, self.dlatent_size))
        for res, skip in zip(range(3, self.resolution_log2 + 1), self.skips):
            skip.build((None, 2 ** (res - 1), 2 ** (res - 1), self.nf(res - 2)))
        self.built = True

    def call(self, dlatents, randomize_noise=None, structure=None, lod_range=None, noise_mode=None, noise=None):
        del structure, lod_range  # not progressive
        dlatents, noise = self._prepare(dlatents, randomize_noise, noise_mode, noise)
        x = self._start(dlatents, noise)
        images = None

        def to_rgb(res, x, images):
            rgb = self.to_rgbs[self.rgb_resolutions.index(res)](x, dlatents[:, 2 * res - 3])
            return rgb if images is None else images + rgb

        if self.architecture == "skip":
            images = to_rgb(2, x, images)
        for res in range(3, self.resolution_log2 + 1):
            skip_input = x
            x = self._block(res, x, dlatents, noise)
            if self.architecture == "resnet":
                x = (x + self.skips[res - 3](skip_input)) * (1 / np.sqrt(2))
            if self.architecture == "skip":
                images = upfirdn.upsample_2d(images, self.resample_kernel)
            if res in self.rgb_resolutions:
                images = to_rgb(res, x, images)
        return images

    def _original_variable_list(self):
        for index, buffer in enumerate(self.noise_buffers):
            yield f"noise{index}", buffer
        yield "4x4/Const/const", self.const
        yield from self._modulated_variables("4x4/Conv", self.input_conv)
        if 2 in self.rgb_resolutions:
            yield from self._modulated_variables("4x4/ToRGB", self.to_rgbs[0])
        for res in range(3, self.resolution_log2 + 1):
            scope = f"{2**res}x{2**res}"
            yield from self._modulated_variables(f"{scope}/Conv0_up", self.up_convs[res - 3])
            yield from self._modulated_variables(f"{scope}/Conv1", self.convs[res - 3])
            if self.skips:
                yield f"{scope}/Skip/weight", self.skips[res - 3].weight
            if res in self.rgb_resolutions:
                yield from self._modulated_variables(f"{scope}/ToRGB", self.to_rgbs[self.rgb_resolutions.index(res)])


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class SynthesisRevised(_SynthesisBase):
    """`G_synthesis_stylegan_revised` (configs B-D): StyleGAN2's modulated layers with StyleGAN's
    progressive growing (`lod`, one `ToRGB_lod<k>` per resolution, nearest-neighbour blending).
    Call as `stylegan.Synthesis`: `synthesis(dlatents, randomize_noise=None, structure=None,
    lod_range=None, noise_mode=None, noise=None)`."""

    FUNC_NAME = "G_synthesis_stylegan_revised"

    def __init__(self, name="G_synthesis", runtime=None, **kwargs):
        super().__init__(name, kwargs, runtime)
        config = base.resolve_kwargs(kwargs, REVISED_DEFAULTS, GENERATOR_KWARGS, self.FUNC_NAME)
        self._setup(config)
        self.structure = config["structure"]
        if config["is_template_graph"] or config["force_clean_graph"]:
            self.randomize_noise, self.structure = False, "linear" if self.structure == "auto" else self.structure
        self.to_rgbs = [self.to_rgb_layer(f"ToRGB_lod{self.resolution_log2 - res}")
                        for res in range(2, self.resolution_log2 + 1)]
        self.build((None, self.num_layers, self.dlatent_size))

    def build(self, input_shape):
        self.lod = self.add_weight(name="lod", shape=(), initializer="zeros", trainable=False,
                                   aggregation="only_first_replica")
        self._build_common()
        for level, to_rgb in enumerate(self.to_rgbs):
            to_rgb.build((None, 2 ** (level + 2), 2 ** (level + 2), self.nf(level + 1)), (None, self.dlatent_size))
        self.built = True

    def call(self, dlatents, randomize_noise=None, structure=None, lod_range=None, noise_mode=None, noise=None):
        dlatents, noise = self._prepare(dlatents, randomize_noise, noise_mode, noise)
        lod_range, structure, lod_in = base.progressive_call_settings(self, lod_range, structure)
        log2r = self.resolution_log2
        x = self._start(dlatents, noise)

        def to_rgb(res, x):
            return self.to_rgbs[res - 2](x, dlatents[:, 2 * res - 3])

        def block(res, x):
            return self._block(res, x, dlatents, noise)

        # (upsample_2d with the default box kernel, which the original blends with, is exactly nearest.)
        return base.progressive_images(x, block, to_rgb, log2r, structure, lod_in, lod_range)

    def _original_variable_list(self):
        yield "lod", self.lod
        for index, buffer in enumerate(self.noise_buffers):
            yield f"noise{index}", buffer
        yield "4x4/Const/const", self.const
        yield from self._modulated_variables("4x4/Conv", self.input_conv)
        yield from self._modulated_variables(self.to_rgbs[0].name, self.to_rgbs[0])
        for res in range(3, self.resolution_log2 + 1):
            scope = f"{2**res}x{2**res}"
            yield from self._modulated_variables(f"{scope}/Conv0_up", self.up_convs[res - 3])
            yield from self._modulated_variables(f"{scope}/Conv1", self.convs[res - 3])
            yield from self._modulated_variables(self.to_rgbs[res - 2].name, self.to_rgbs[res - 2])


_SYNTHESIS_FUNCS = {"G_synthesis_stylegan2": SynthesisStyleGAN2, "G_synthesis_stylegan_revised": SynthesisRevised}


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class GeneratorMain(Generator):
    """StyleGAN2's generator `G_main`: `G_mapping` + W average + style mixing + truncation +
    `synthesis_func` ('G_synthesis_stylegan2' for configs E-F, 'G_synthesis_stylegan_revised' for
    B-D). Truncation defaults to psi 0.5 on every layer: `truncation_cutoff=None` means all layers
    (in StyleGAN it disables truncation). `GeneratorMain()` is config F at 1024x1024.

    Reference: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020.
    """

    FUNC_NAME = "G_main"
    STATE_VERSION = 4
    PICKLED_KWARGS_MAY_EXTEND = True
    DEFAULTS = G_MAIN_DEFAULTS
    ACCEPTED = GENERATOR_KWARGS

    def _make_components(self, config, component_kwargs):
        if config["mapping_func"] != "G_mapping":
            raise ValueError(f"G_main: mapping_func must be 'G_mapping', got {config['mapping_func']!r}.")
        synthesis_class = _SYNTHESIS_FUNCS.get(config["synthesis_func"])
        if synthesis_class is None:
            raise ValueError(f"G_main: synthesis_func must be one of {', '.join(_SYNTHESIS_FUNCS)}, got "
                             f"{config['synthesis_func']!r}.")
        synthesis = synthesis_class(name="G_synthesis", runtime=self.runtime, **component_kwargs)
        mapping = MappingStyleGAN2(name="G_mapping", dlatent_broadcast=synthesis.num_layers, runtime=self.runtime,
                                   **component_kwargs)
        return synthesis, mapping

    def build(self, input_shape):
        super().build(input_shape)
        if not hasattr(self.synthesis, "lod"):  # the original's G_main lod, only read by style mixing
            self.own_lod = self.add_weight(name="lod", shape=(), initializer="zeros", trainable=False,
                                           aggregation="only_first_replica")

    # The revised synthesis has its own lod, which the original overwrites with G's on every run:
    # one variable, as for StyleGAN.
    lod = property(lambda self: self.synthesis.lod if hasattr(self.synthesis, "lod") else self.own_lod)
    num_layers = property(lambda self: self.synthesis.num_layers)

    def _resolve_flags(self, is_training, is_validation, values):
        psi, cutoff, avg_beta, mixing_prob = truncation.truncation_settings(
            is_training, is_validation, values["truncation_psi"], values["truncation_cutoff"],
            values["truncation_psi_val"], values["truncation_cutoff_val"],
            values["dlatent_avg_beta"], values["style_mixing_prob"], nonpositive_cutoff_disables=False)
        return psi, self.num_layers if cutoff is None else cutoff, avg_beta, mixing_prob
