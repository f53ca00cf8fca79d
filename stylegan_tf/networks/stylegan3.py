"""StyleGAN3's generator (Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS 2021),
inference only, channels-last, in plain TensorFlow.

`SynthesisSG3` is the release's `networks_stylegan3.SynthesisNetwork`: Fourier features
(`SynthesisInputSG3`: random frequencies and phases in a disc, rotated and translated by an affine
of the first w, then a learned channel mix), then `synthesis_layers` modulated layers and a ToRGB,
each a modulated convolution (weights and styles pre-normalized, demodulated, the input scaled by
1/sqrt(magnitude_ema)) followed by `filtered_lrelu`: bias, zero-insertion upsampling and the
layer's low-pass FIR filter, leaky ReLU with gain and clamp, the down filter and decimation. The
T config uses separable Kaiser filters, R 1x1 convolutions and radially symmetric (jinc) down
filters in the non-critically sampled layers. Geometry (cutoffs, stopbands, sampling rates, sizes,
channels, pads) is computed as the release computes it; the filters are designed from it, and a
loaded network's stored filters must equal them.

`GeneratorSG3` ('G_stylegan3', a build function of this project: no TF release has StyleGAN3) is
StyleGAN2-ADA's `G_main` (mapping with label embedding, W average, truncation on all 16 ws by
default, style mixing) around it. It computes in float32 (the release runs its fp16 layers in
float32 off CUDA too); there is no noise input and no discriminator (StyleGAN3 trains with
StyleGAN2's).
"""

import keras
import numpy as np
import scipy.signal
import scipy.special
import tensorflow as tf

from stylegan_tf import layers
from stylegan_tf.networks import base
from stylegan_tf.networks.ada import G_MAIN_DEFAULTS_ADA, MAPPING_DEFAULTS_ADA, STATE_VERSION, GeneratorADA, MappingADA
from stylegan_tf.networks.stylegan2 import _RUNTIME_FLAGS
from stylegan_tf.ops.upfirdn import insert_zeros_and_pad

SYNTHESIS_SG3_DEFAULTS = dict(
    dlatent_size=512, num_channels=3, resolution=1024, channel_base=32768, channel_max=512, synthesis_layers=14,
    num_critical=2, first_cutoff=2, first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3, margin_size=10,
    output_scale=0.25, num_fp16_res=4, conv_kernel=3, filter_size=6, lrelu_upsampling=2, use_radial_filters=False,
    conv_clamp=256, magnitude_ema_beta=0.999, randomize_noise=True, dtype="float32")
G_SG3_DEFAULTS = {**G_MAIN_DEFAULTS_ADA, "synthesis_func": "G_synthesis_stylegan3", "mapping_layers": 2,
                  "dlatent_avg_beta": 0.998}
GENERATOR_KWARGS_SG3 = (frozenset(G_SG3_DEFAULTS) | frozenset(MAPPING_DEFAULTS_ADA) | frozenset(SYNTHESIS_SG3_DEFAULTS)
                        | _RUNTIME_FLAGS) - {"dlatent_broadcast"}


def layer_geometry(config):
    """Per layer (input features, then `synthesis_layers` layers and ToRGB): the release's cutoffs,
    stopbands, sampling rates, half-widths, sizes and channels, as float64 NumPy arrays."""
    resolution, count = int(config["resolution"]), int(config["synthesis_layers"])
    critical = int(config["num_critical"])
    if count <= critical:
        raise ValueError(f"G_synthesis_stylegan3: synthesis_layers ({count}) must exceed num_critical ({critical}).")
    last_cutoff = resolution / 2
    last_stopband = last_cutoff * config["last_stopband_rel"]
    exponents = np.minimum(np.arange(count + 1) / (count - critical), 1)
    cutoffs = config["first_cutoff"] * (last_cutoff / config["first_cutoff"]) ** exponents
    stopbands = config["first_stopband"] * (last_stopband / config["first_stopband"]) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + config["margin_size"] * 2
    sizes[-2:] = resolution
    channels = np.rint(np.minimum((config["channel_base"] / 2) / cutoffs, config["channel_max"]))
    channels[-1] = config["num_channels"]
    return dict(cutoffs=cutoffs, sampling_rates=sampling_rates, half_widths=half_widths, sizes=sizes,
                channels=channels)


def design_lowpass_filter(numtaps, cutoff, width, fs, radial=False):
    """The release's filter design: None for 1 tap; a separable Kaiser low-pass (scipy's firwin); or
    with `radial`, a radially symmetric jinc windowed by the outer product of Kaiser windows."""
    if numtaps == 1:
        return None
    if not radial:
        return scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs).astype(np.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f *= np.outer(window, window)
    return (f / np.sum(f)).astype(np.float32)


def _fir(x, kernel, axis):
    """Depthwise valid correlation of x [N, H, W, C] with a 1-D kernel tensor along H (1) or W (2)."""
    taps = kernel.shape[0]
    shape = [taps, 1] if axis == 1 else [1, taps]
    weight = tf.tile(tf.reshape(kernel, shape + [1, 1]), [1, 1, x.shape[-1], 1])
    return tf.nn.depthwise_conv2d(x, weight, [1, 1, 1, 1], "VALID")


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0), gain=1.0):
    """The release's `upfirdn2d` on NHWC with the same pads on both axes: zero insertion, pad (negative
    crops), true convolution with `kernel` (None: identity; 1-D: separable, W then H; 2-D: full), scaled
    by `gain`, keep every `down`-th sample."""
    channels = int(x.shape[3])
    x = insert_zeros_and_pad(x, up, *pad)
    if kernel is not None:
        kernel = tf.cast(kernel, x.dtype)
        if kernel.shape.rank == 1:
            kernel = tf.reverse(kernel, [0]) * float(np.sqrt(gain))
            x = _fir(_fir(x, kernel, 2), kernel, 1)
        else:
            kernel = tf.reverse(kernel, [0, 1]) * float(gain)
            weight = tf.tile(kernel[:, :, tf.newaxis, tf.newaxis], [1, 1, channels, 1])
            x = tf.nn.depthwise_conv2d(x, weight, [1, 1, 1, 1], "VALID")
    elif gain != 1:
        x = x * float(gain)
    return x[:, ::down, ::down] if down > 1 else x


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class SynthesisInputSG3(keras.layers.Layer):
    """Fourier features of `channels` random frequencies (in a disc of radius `bandwidth`) sampled on a
    size x size grid at `sampling_rate`, rotated and translated by an affine of w, then mixed by a
    learned [C, C] matrix (stored [in, out])."""

    def __init__(self, channels, size, sampling_rate, bandwidth, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.size = int(channels), int(size)
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)

    def build(self, input_shape):
        rng = np.random.RandomState(0)
        freqs = rng.randn(self.channels, 2)
        radii = np.sqrt(np.sum(freqs ** 2, axis=1, keepdims=True))
        freqs /= radii * np.exp(radii ** 2) ** 0.25
        constant = lambda value: keras.initializers.Constant(np.asarray(value, np.float32))  # noqa: E731
        self.affine = layers.BiasActDense(4, name="affine")
        self.affine.build(input_shape)
        self.affine.weight.assign(tf.zeros_like(self.affine.weight))  # the release's initial identity transform
        self.affine.bias.assign([1, 0, 0, 0])
        self.weight = self.add_weight(name="weight", shape=(self.channels, self.channels), initializer="random_normal")
        self.transform = self.add_weight(name="transform", shape=(3, 3), initializer=constant(np.eye(3)),
                                         trainable=False)
        self.freqs = self.add_weight(name="freqs", shape=(self.channels, 2),
                                     initializer=constant(freqs * self.bandwidth), trainable=False)
        self.phases = self.add_weight(name="phases", shape=(self.channels,),
                                      initializer=constant(rng.rand(self.channels) - 0.5), trainable=False)

    def call(self, w):
        t = self.affine(w)  # (r_c, r_s, t_x, t_y)
        t = t / tf.norm(t[:, :2], axis=1, keepdims=True)
        zero, one = tf.zeros_like(t[:, 0]), tf.ones_like(t[:, 0])
        rotation = tf.stack([tf.stack([t[:, 0], -t[:, 1], zero], 1), tf.stack([t[:, 1], t[:, 0], zero], 1),
                             tf.stack([zero, zero, one], 1)], 1)
        translation = tf.stack([tf.stack([one, zero, -t[:, 2]], 1), tf.stack([zero, one, -t[:, 3]], 1),
                                tf.stack([zero, zero, one], 1)], 1)
        transforms = rotation @ translation @ self.transform[tf.newaxis]
        phases = self.phases[tf.newaxis] + tf.squeeze(self.freqs[tf.newaxis] @ transforms[:, :2, 2:], 2)
        freqs = self.freqs[tf.newaxis] @ transforms[:, :2, :2]  # [N, C, 2]
        amplitudes = tf.clip_by_value(
            1 - (tf.norm(freqs, axis=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth), 0, 1)
        # affine_grid(align_corners=False) of a diagonal theta: pixel centres scaled by size / (2 rate).
        coords = ((2 * np.arange(self.size) + 1) / self.size - 1) * (0.5 * self.size / self.sampling_rate)
        gx = tf.constant(coords[np.newaxis, :, np.newaxis], tf.float32)  # varies along W
        gy = tf.constant(coords[:, np.newaxis, np.newaxis], tf.float32)  # varies along H
        x = (gx[tf.newaxis] * freqs[:, tf.newaxis, tf.newaxis, :, 0]
             + gy[tf.newaxis] * freqs[:, tf.newaxis, tf.newaxis, :, 1])  # [N, H, W, C]
        x = tf.sin((x + phases[:, tf.newaxis, tf.newaxis]) * float(2 * np.pi)) * amplitudes[:, tf.newaxis, tf.newaxis]
        return tf.einsum("nhwc,cd->nhwd", x, self.weight * float(1 / np.sqrt(self.channels)))


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class SynthesisLayerSG3(keras.layers.Layer):
    """One modulated layer + `filtered_lrelu` (or the ToRGB: 1x1, no demodulation, linear)."""

    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = dict(spec)

    def get_config(self):
        return {**super().get_config(), "spec": self.spec}

    def build(self, input_shape):
        spec = self.spec
        constant = lambda value: keras.initializers.Constant(np.asarray(value, np.float32))  # noqa: E731
        self.affine = layers.BiasActDense(spec["in_channels"], name="affine")
        self.affine.build((None, spec["dlatent_size"]))
        self.affine.bias.assign(tf.ones_like(self.affine.bias))  # styles start at 1
        k = spec["kernel"]
        self.weight = self.add_weight(name="weight", shape=(k, k, spec["in_channels"], spec["out_channels"]),
                                      initializer="random_normal")
        self.bias = self.add_weight(name="bias", shape=(spec["out_channels"],), initializer="zeros")
        self.magnitude_ema = self.add_weight(name="magnitude_ema", shape=(), initializer="ones", trainable=False)
        self.filters = {}
        for key in ("up_filter", "down_filter"):
            value = spec[key]
            if value is not None:
                self.filters[key] = self.add_weight(name=key, shape=np.shape(value), initializer=constant(value),
                                                    trainable=False)

    def call(self, x, w):
        spec = self.spec
        styles = self.affine(w)
        weight = self.weight
        if spec["is_torgb"]:
            styles = styles * float(1 / np.sqrt(spec["in_channels"] * spec["kernel"] ** 2))
        else:  # pre-normalization (the styles over the whole batch, as the release), then demodulation
            weight = weight * tf.math.rsqrt(tf.reduce_mean(tf.square(weight), axis=[0, 1, 2], keepdims=True))
            styles = styles * tf.math.rsqrt(tf.reduce_mean(tf.square(styles)))
        x = x * (styles * tf.math.rsqrt(self.magnitude_ema))[:, tf.newaxis, tf.newaxis, :]
        pad = spec["kernel"] - 1
        if pad:
            x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        x = tf.nn.conv2d(x, weight, 1, "VALID")
        if not spec["is_torgb"]:
            dcoefs = tf.math.rsqrt(tf.square(styles) @ tf.reduce_sum(tf.square(weight), axis=[0, 1]) + 1e-8)
            x = x * dcoefs[:, tf.newaxis, tf.newaxis, :]
        # filtered_lrelu, as the release's reference: bias, up-FIR, lrelu * gain + clamp, down-FIR.
        x = x + self.bias
        x = upfirdn2d(x, self.filters.get("up_filter"), up=spec["up"], pad=spec["pad"], gain=spec["up"] ** 2)
        if spec["is_torgb"]:
            gain, slope = 1.0, 1.0
        else:
            gain, slope = float(np.sqrt(2)), 0.2
        x = tf.where(x >= 0, x, x * slope) * gain if slope != 1 else x * gain
        if spec["conv_clamp"] is not None:
            x = tf.clip_by_value(x, -spec["conv_clamp"], spec["conv_clamp"])
        return upfirdn2d(x, self.filters.get("down_filter"), down=spec["down"])


def _layer_specs(config):
    """The keyword arguments of the release's SynthesisLayer for each layer (name, spec)."""
    geo = layer_geometry(config)
    count, critical = int(config["synthesis_layers"]), int(config["num_critical"])
    specs = []
    for idx in range(count + 1):
        prev = max(idx - 1, 0)
        is_torgb = idx == count
        in_rate, out_rate = int(geo["sampling_rates"][prev]), int(geo["sampling_rates"][idx])
        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else int(config["lrelu_upsampling"]))
        up, down = int(np.rint(tmp_rate / in_rate)), int(np.rint(tmp_rate / out_rate))
        up_taps = int(config["filter_size"]) * up if up > 1 and not is_torgb else 1
        down_taps = int(config["filter_size"]) * down if down > 1 and not is_torgb else 1
        radial = bool(config["use_radial_filters"]) and idx < count - critical
        kernel = 1 if is_torgb else int(config["conv_kernel"])
        in_size, out_size = int(geo["sizes"][prev]), int(geo["sizes"][idx])
        pad_total = (out_size - 1) * down + 1 - (in_size + kernel - 1) * up + up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2
        out_channels = int(geo["channels"][idx])
        spec = dict(
            is_torgb=is_torgb, in_channels=int(geo["channels"][prev]), out_channels=out_channels, kernel=kernel,
            up=up, down=down, pad=(int(pad_lo), int(pad_total - pad_lo)), in_size=in_size, out_size=out_size,
            dlatent_size=int(config["dlatent_size"]), conv_clamp=config["conv_clamp"],
            up_filter=design_lowpass_filter(up_taps, geo["cutoffs"][prev], geo["half_widths"][prev] * 2, tmp_rate),
            down_filter=design_lowpass_filter(down_taps, geo["cutoffs"][idx], geo["half_widths"][idx] * 2, tmp_rate,
                                              radial=radial))
        specs.append((f"L{idx}_{out_size}_{out_channels}", spec))
    return geo, specs


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class SynthesisSG3(base.NetworkModel, base.NoiseInputs):
    """StyleGAN3's synthesis network. Call: `synthesis(dlatents [N, synthesis_layers + 2, dlatent_size])`
    -> images [N, R, R, C] (the noise arguments are accepted and ignored: it has no noise inputs)."""

    FUNC_NAME = "G_synthesis_stylegan3"
    STATE_VERSION = STATE_VERSION
    DEFAULTS = SYNTHESIS_SG3_DEFAULTS
    ACCEPTED = GENERATOR_KWARGS_SG3

    def __init__(self, name="G_synthesis", runtime=None, **kwargs):
        super().__init__(name, kwargs, runtime)
        config = base.resolve_kwargs(kwargs, self.DEFAULTS, self.ACCEPTED, self.FUNC_NAME)
        self.resolution, self.num_channels = int(config["resolution"]), int(config["num_channels"])
        self.dlatent_size = int(config["dlatent_size"])
        self.output_scale = float(config["output_scale"])
        self.randomize_noise = bool(config["randomize_noise"])
        self.noise_buffers = []
        geo, specs = _layer_specs(config)
        self.num_layers = len(specs) + 1
        self.input_layer = SynthesisInputSG3(int(geo["channels"][0]), int(geo["sizes"][0]), geo["sampling_rates"][0],
                                             geo["cutoffs"][0], name="input")
        self.layer_names = [name for name, _ in specs]
        self.synthesis_layers = [SynthesisLayerSG3(spec, name=name) for name, spec in specs]
        self.build((None, self.num_layers, self.dlatent_size))

    num_styles = property(lambda self: self.num_layers)

    def build(self, input_shape):
        self.input_layer.build((None, self.dlatent_size))
        for layer in self.synthesis_layers:
            layer.build(None)
        self.built = True

    def call(self, dlatents, randomize_noise=None, structure=None, lod_range=None, noise_mode=None, noise=None):
        del randomize_noise, structure, lod_range, noise_mode, noise  # no noise inputs, no lod
        dlatents = self.float_input(dlatents, f"dlatents [N, {self.num_layers}, {self.dlatent_size}]")
        x = self.input_layer(dlatents[:, 0])
        for index, layer in enumerate(self.synthesis_layers):
            x = layer(x, dlatents[:, index + 1])
        return x * self.output_scale if self.output_scale != 1 else x

    def _original_variable_list(self):
        layer = self.input_layer
        yield "input/weight", layer.weight
        yield "input/affine/weight", layer.affine.weight
        yield "input/affine/bias", layer.affine.bias
        yield "input/transform", layer.transform
        yield "input/freqs", layer.freqs
        yield "input/phases", layer.phases
        for name, layer in zip(self.layer_names, self.synthesis_layers):
            yield f"{name}/weight", layer.weight
            yield f"{name}/bias", layer.bias
            yield f"{name}/magnitude_ema", layer.magnitude_ema
            for key, variable in layer.filters.items():
                yield f"{name}/{key}", variable
            yield f"{name}/affine/weight", layer.affine.weight
            yield f"{name}/affine/bias", layer.affine.bias


@keras.saving.register_keras_serializable(package=base.PACKAGE)
class GeneratorSG3(GeneratorADA):
    """StyleGAN3's generator: StyleGAN2-ADA's `G_main` (mapping: 2 layers, labels embedded in w_dim
    features; W average with beta 0.998) around `SynthesisSG3`."""

    FUNC_NAME = "G_stylegan3"
    DEFAULTS = G_SG3_DEFAULTS
    ACCEPTED = GENERATOR_KWARGS_SG3

    def _make_components(self, config, component_kwargs):
        if config["mapping_func"] != "G_mapping" or config["synthesis_func"] != "G_synthesis_stylegan3":
            raise ValueError("G_stylegan3: mapping_func and synthesis_func are 'G_mapping' and "
                             "'G_synthesis_stylegan3'.")
        component_kwargs = {**component_kwargs, "mapping_layers": config["mapping_layers"]}
        synthesis = SynthesisSG3(name="G_synthesis", runtime=self.runtime, **component_kwargs)
        mapping = MappingADA(name="G_mapping", dlatent_broadcast=synthesis.num_layers, runtime=self.runtime,
                             **{k: v for k, v in component_kwargs.items() if k in MappingADA.ACCEPTED})
        return synthesis, mapping
