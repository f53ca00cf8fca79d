"""StyleGAN2-ADA's networks as Keras models (`training/networks.py` of its TF release; pickles of
state version 5).

`GeneratorADA` (its `G_main`: StyleGAN2's, without `lod`), `MappingADA` (`G_mapping`: labels through
`LabelEmbed`, normalized and concatenated after the latents' normalization; `mapping_fmaps` None =
dlatent_size), `SynthesisADA` (`G_synthesis`: StyleGAN2's orig/skip/resnet synthesis with `conv_clamp`
on every layer, ToRGB included, `fmap_const` and `use_noise`) and `DiscriminatorADA` (`D_main`:
StyleGAN2's D with `conv_clamp`, `mbstd_group_size=None` = the whole minibatch,
`mbstd_num_features=0` = no stddev feature, label embedding + `Mapping<i>` + projection output, and
Freeze-D's `freeze_layers`). `G_main` and `G_synthesis` are also build functions of StyleGAN2 and
StyleGAN, so the loader picks these classes by the state version.

`num_fp16_res` is kept and written back but does not choose the precision: the `Runtime` does
(float32 unless asked; `Runtime(precision="fp16", num_fp16_res=4)` computes as the release does on a
GPU). The paper's comparison methods in `D_main` (`use_pagan`, `use_spectral_norm`,
`adaptive_dropout`, auxrot's `score_size`/`score_max`) are refused.

Reference: Karras et al., "Training Generative Adversarial Networks with Limited Data", NeurIPS 2020.
"""

import keras
import numpy as np
import tensorflow as tf

from stylegan_tf import layers, ops
from stylegan_tf.networks import base
from stylegan_tf.networks.stylegan import Generator
from stylegan_tf.networks.stylegan2 import (
    _RUNTIME_FLAGS,
    G_MAIN_DEFAULTS,
    MAPPING_DEFAULTS,
    SYNTHESIS_DEFAULTS,
    GeneratorMain,
    MappingStyleGAN2,
    SynthesisStyleGAN2,
)
from stylegan_tf.networks.stylegan2_discriminators import D_STYLEGAN2_DEFAULTS, DiscriminatorStyleGAN2

STATE_VERSION = 5
MAPPING_DEFAULTS_ADA = {**MAPPING_DEFAULTS, "mapping_fmaps": None, "label_fmaps": None}
SYNTHESIS_DEFAULTS_ADA = {**SYNTHESIS_DEFAULTS, "fmap_const": None, "use_noise": True, "num_fp16_res": 0,
                          "conv_clamp": None, "fused_modconv": False}
G_MAIN_DEFAULTS_ADA = {**G_MAIN_DEFAULTS, "synthesis_func": "G_synthesis"}
D_MAIN_DEFAULTS = {**D_STYLEGAN2_DEFAULTS, "mapping_layers": 0, "mapping_fmaps": None, "mapping_lrmul": 0.1,
                   "mbstd_group_size": None, "num_fp16_res": 0, "conv_clamp": None, "freeze_layers": 0}
# D_main's comparison methods: accepted at these values only (pagan_num/fade only matter with use_pagan).
D_COMPARISON_DEFAULTS = dict(augment_strength=0, use_pagan=False, pagan_num=16, pagan_fade=0.5, score_size=1,
                             score_max=1, use_spectral_norm=False, adaptive_dropout=0)
GENERATOR_KWARGS_ADA = (frozenset(G_MAIN_DEFAULTS_ADA) | frozenset(MAPPING_DEFAULTS_ADA)
                        | frozenset(SYNTHESIS_DEFAULTS_ADA) | _RUNTIME_FLAGS) - {"dlatent_broadcast"}


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class MappingADA(MappingStyleGAN2):
    """StyleGAN2-ADA's `G_mapping`: z normalized, then (with labels) concatenated with the
    normalized `LabelEmbed(labels)` (label_fmaps features, default latent_size), then
    `mapping_layers` lrelu layers (hidden width `mapping_fmaps`, None = dlatent_size)."""

    STATE_VERSION = STATE_VERSION
    DEFAULTS = MAPPING_DEFAULTS_ADA
    ACCEPTED = GENERATOR_KWARGS_ADA | {"dlatent_broadcast"}

    def __init__(self, name="G_mapping", runtime=None, **kwargs):
        hidden = kwargs.get("mapping_fmaps")
        hidden = kwargs.get("dlatent_size", MAPPING_DEFAULTS["dlatent_size"]) if hidden is None else hidden
        super().__init__(name, runtime, **{**kwargs, "mapping_fmaps": hidden})
        self.static_kwargs = base.StaticKwargs(kwargs)  # as given: None stays None when written back

    def build(self, input_shape):
        label_fmaps = self.static_kwargs.get("label_fmaps")
        self.label_fmaps = self.latent_size if label_fmaps is None else int(label_fmaps)
        if self.label_size:
            self.label_embed = layers.BiasActDense(self.label_fmaps, name="LabelEmbed")
            self.label_embed.build((None, self.label_size))
        self._build_dense_layers(self.latent_size + (self.label_fmaps if self.label_size else 0))

    def _dense_input(self, x, labels):
        """Normalized latents, concatenated with the normalized label embedding."""
        if self.normalize_latents:
            x = ops.pixel_norm(x)
        if self.label_size:
            embedded = self.label_embed(self.float_input(labels, f"labels [N, {self.label_size}]"))
            x = tf.concat([x, ops.pixel_norm(embedded)], axis=1)
        return x

    def _label_variables(self):
        yield "LabelEmbed/weight", self.label_embed.weight
        yield "LabelEmbed/bias", self.label_embed.bias


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class SynthesisADA(SynthesisStyleGAN2):
    """StyleGAN2-ADA's `G_synthesis`: `SynthesisStyleGAN2` with the release's `conv_clamp` (every
    layer, ToRGB too), `fmap_const` (channels of the learned constant), `use_noise` (False: no noise
    buffers, no noise strengths) and `fused_modconv` False by default (the same function)."""

    FUNC_NAME = "G_synthesis"
    STATE_VERSION = STATE_VERSION
    DEFAULTS = SYNTHESIS_DEFAULTS_ADA
    ACCEPTED = GENERATOR_KWARGS_ADA


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class GeneratorADA(GeneratorMain):
    """StyleGAN2-ADA's `G_main`: mapping + W average + style mixing (cutoff uniform in
    [1, num_layers): `Generator.mix_styles` at lod 0) + truncation (StyleGAN2's meaning) +
    `G_synthesis`; no `lod` variable."""

    STATE_VERSION = STATE_VERSION
    DEFAULTS = G_MAIN_DEFAULTS_ADA
    ACCEPTED = GENERATOR_KWARGS_ADA

    def _make_components(self, config, component_kwargs):
        for key, expected in (("mapping_func", "G_mapping"), ("synthesis_func", "G_synthesis")):
            if config[key] != expected:
                raise ValueError(f"G_main (StyleGAN2-ADA): {key} must be {expected!r}, got {config[key]!r}.")
        synthesis = SynthesisADA(name="G_synthesis", runtime=self.runtime, **component_kwargs)
        mapping = MappingADA(name="G_mapping", dlatent_broadcast=synthesis.num_layers, runtime=self.runtime,
                             **component_kwargs)
        return synthesis, mapping

    OWN_VARIABLES = ("dlatent_avg",)

    def build(self, input_shape):
        Generator.build(self, input_shape)  # dlatent_avg only

    @property
    def lod(self):
        raise AttributeError("StyleGAN2-ADA's G_main has no lod (it does not grow progressively).")

    def _current_layers(self):
        return tf.constant(self.num_layers, tf.int32)  # style-mixing cutoffs in [1, num_layers)


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class DiscriminatorADA(DiscriminatorStyleGAN2):
    """StyleGAN2-ADA's `D_main` ('resnet' by default): `DiscriminatorStyleGAN2` with the release's
    `conv_clamp` (FromRGB, Conv0, Conv1_down and 4x4/Conv), the minibatch stddev over the whole
    minibatch by default (`mbstd_group_size=None`; `mbstd_num_features=0` disables it), labels
    embedded (`LabelEmbed`, normalized, then `mapping_layers` layers `Mapping<i>` with lrmul
    `mapping_lrmul`) and projected: score = <Output(x), embedded labels> / sqrt(mapping_fmaps);
    `freeze_layers`: the first N layers from the input side are not trainable (Freeze-D)."""

    FUNC_NAME = "D_main"
    STATE_VERSION = STATE_VERSION
    DEFAULTS = D_MAIN_DEFAULTS
    ACCEPTED = frozenset(D_MAIN_DEFAULTS) | frozenset(D_COMPARISON_DEFAULTS) | _RUNTIME_FLAGS

    def _configure(self, config):
        for key in ("use_pagan", "score_size", "score_max", "use_spectral_norm", "adaptive_dropout",
                    "augment_strength"):
            value = self.static_kwargs.get(key, D_COMPARISON_DEFAULTS[key])
            if value != D_COMPARISON_DEFAULTS[key]:
                raise ValueError(f"D_main: {key}={value!r} selects one of the ADA paper's comparison methods, "
                                 "which stylegan-tf does not implement.")
        self.conv_clamp = config["conv_clamp"]
        self.freeze_layers = int(config["freeze_layers"])
        mapping_fmaps = config["mapping_fmaps"]
        nf = base.fmaps(config["fmap_base"], config["fmap_decay"], config["fmap_max"], config["fmap_min"])
        self.mapping_fmaps = nf(0) if mapping_fmaps is None else int(mapping_fmaps)
        label_size = int(config["label_size"])
        self.label_embed = layers.BiasActDense(self.mapping_fmaps, name="LabelEmbed") if label_size else None
        self.label_mapping = [
            layers.BiasActDense(self.mapping_fmaps, lrmul=config["mapping_lrmul"], activation=config["nonlinearity"],
                                name=f"Mapping{index}") for index in range(int(config["mapping_layers"]))
        ] if label_size else []

    def _uses_mbstd(self):
        return self.mbstd_num_features > 0

    def _output_units(self):
        return self.mapping_fmaps if self.label_size else 1

    def build(self, input_shape):
        if self.label_embed is not None:
            self.label_embed.build((None, self.label_size))
            for dense in self.label_mapping:
                dense.build((None, self.mapping_fmaps))
        super().build(input_shape)
        frozen = set(frozen_layer_scopes(self, self.freeze_layers))
        for name, variable in self.original_variables().items():
            if name.rsplit("/", 1)[0] in frozen:
                variable.trainable = False

    def _condition(self, scores, labels):
        if not self.label_size:
            return scores
        embedded = ops.pixel_norm(self.label_embed(self.float_input(labels, f"labels [N, {self.label_size}]")))
        for dense in self.label_mapping:
            embedded = dense(embedded)
        return tf.reduce_sum(scores * embedded, axis=1, keepdims=True) * (1 / np.sqrt(self.mapping_fmaps))

    def _original_variable_list(self):
        if self.label_embed is not None:
            for layer in [self.label_embed] + self.label_mapping:
                yield from self._layer_variables(layer.name, layer)
        yield from super()._original_variable_list()


def frozen_layer_scopes(D, count):
    """The original scopes of D's first `count` layers from the input side (StyleGAN2-ADA's Freeze-D,
    `--freezed`); () for 0. ValueError for a D without that order or too few layers."""
    if not count:
        return ()
    if not hasattr(D, "layer_scopes"):
        raise ValueError(f"--freezed needs D_stylegan2 or D_main; {D.FUNC_NAME} has no layer order to freeze.")
    scopes = D.layer_scopes()
    if count > len(scopes):
        raise ValueError(f"--freezed={count}: this D has {len(scopes)} layers that can be frozen.")
    return tuple(scopes[:count])
