"""Keras layers of the original StyleGAN (channels-last), with equalized learning rate.

Weights are stored unscaled, exactly as in the original pickles (conv kernels HWIO, dense kernels
[in, out]); the He/lrmul multiplier is applied at run time (`training/networks_stylegan.py`). Every
layer creates its own weights in `build()` and returns all constructor arguments from
`get_config()`. How a layer computes is fixed when it is built: `impl` picks the op forms
(`ops.fast`), the Keras `dtype` policy its precision, `conv_clamp` the bound of its outputs (mixed
precision, `networks.runtime`).
"""

import keras
import numpy as np
import tensorflow as tf

from stylegan_tf import ops
from stylegan_tf.ops import fast, upfirdn

_PACKAGE = "stylegan_tf"


def weight_scaling(fan_in, gain, use_wscale, lrmul):
    """(init_std, runtime_multiplier) of the original's `get_weight`."""
    he_std = gain / np.sqrt(fan_in)
    if use_wscale:
        return float(1.0 / lrmul), float(he_std * lrmul)
    return float(he_std / lrmul), float(lrmul)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EqualizedDense(keras.layers.Layer):
    """Fully-connected layer with equalized learning rate; flattens rank > 2 inputs.

    Args:
        units: output features.
        gain: He-init gain (sqrt(2) for lrelu/relu layers, 1 for linear outputs).
        use_wscale: scale weights at run time (equalized learning rate).
        lrmul: learning-rate multiplier applied to the weight and the bias.
        use_bias: add a bias (stored unscaled, effective value bias * lrmul).
        activation: 'linear', 'lrelu' or 'relu', applied after the bias.
    """

    def __init__(self, units, gain=np.sqrt(2), use_wscale=True, lrmul=1.0, use_bias=True,
                 activation="linear", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.gain = float(gain)
        self.use_wscale = bool(use_wscale)
        self.lrmul = float(lrmul)
        self.use_bias = bool(use_bias)
        self.activation = activation
        self._activation_fn = ops.activation_fn(activation)

    def build(self, input_shape):
        fan_in = int(np.prod(input_shape[1:]))
        init_std, self.weight_multiplier = weight_scaling(fan_in, self.gain, self.use_wscale,
                                                          self.lrmul)
        self.weight = self.add_weight(
            name="weight", shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=init_std))
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        if len(x.shape) > 2:
            x = tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])
        x = tf.matmul(x, self.weight * self.weight_multiplier)
        if self.use_bias:
            x = x + self.bias * self.lrmul
        return self._activation_fn(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gain": self.gain,
                "use_wscale": self.use_wscale, "lrmul": self.lrmul, "use_bias": self.use_bias,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EqualizedConv2D(keras.layers.Layer):
    """Square stride-1 SAME convolution with equalized learning rate, optionally with 2x resampling.

    Args:
        filters: output channels.
        kernel_size: odd kernel size.
        gain, use_wscale, lrmul: equalized learning rate (see `EqualizedDense`).
        resample: None, 'up' (2x nearest upsampling before the conv) or 'down' (2x box
            downsampling after it).
        fused_scale: compute the resampling and the conv as one (transposed) stride-2 conv.
            Same function, as in the original.
        use_bias, activation: optional bias (lrmul-scaled) and nonlinearity after the conv.
        impl: op forms of the resampling ('ref', 'fast', 'xla'; `ops.fast`).
        conv_clamp: clamp the outputs to [-conv_clamp, conv_clamp] (None: no clamp).
    """

    def __init__(self, filters, kernel_size, gain=np.sqrt(2), use_wscale=True, lrmul=1.0,
                 resample=None, fused_scale=False, use_bias=False, activation="linear",
                 impl="ref", conv_clamp=None, **kwargs):
        super().__init__(**kwargs)
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}.")
        if resample not in (None, "up", "down"):
            raise ValueError(f"resample must be None, 'up' or 'down', got {resample!r}.")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.gain = float(gain)
        self.use_wscale = bool(use_wscale)
        self.lrmul = float(lrmul)
        self.resample = resample
        self.fused_scale = bool(fused_scale)
        self.use_bias = bool(use_bias)
        self.activation = activation
        self._activation_fn = ops.activation_fn(activation)
        self.impl = fast.check_impl(impl)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        fan_in = self.kernel_size * self.kernel_size * in_channels
        init_std, self.weight_multiplier = weight_scaling(fan_in, self.gain, self.use_wscale,
                                                          self.lrmul)
        self.weight = self.add_weight(
            name="weight", shape=(self.kernel_size, self.kernel_size, in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=init_std))
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        weight = self.weight * self.weight_multiplier
        if self.resample == "up":
            x = fast.upscale2d_conv2d(x, weight, self.fused_scale, self.impl)
        elif self.resample == "down":
            x = fast.conv2d_downscale2d(x, weight, self.fused_scale, self.impl)
        else:
            x = ops.conv2d(x, weight)
        if self.use_bias:
            x = x + self.bias * self.lrmul
        return ops.clamp(self._activation_fn(x), self.conv_clamp)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "gain": self.gain, "use_wscale": self.use_wscale, "lrmul": self.lrmul,
                "resample": self.resample, "fused_scale": self.fused_scale,
                "use_bias": self.use_bias, "activation": self.activation, "impl": self.impl,
                "conv_clamp": self.conv_clamp}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Blur2D(keras.layers.Layer):
    """Depthwise low-pass filter (default [1,2,1] x [1,2,1] / 16) with SAME zero padding; `impl`
    picks its form (`ops.fast.blur2d`)."""

    def __init__(self, blur_filter=(1, 2, 1), impl="ref", **kwargs):
        kwargs.setdefault("autocast", False)  # filters in its input's dtype (one layer serves all resolutions)
        super().__init__(**kwargs)
        self.blur_filter = np.asarray(blur_filter, dtype=float).tolist()  # 1-D or 2-D, JSON-able
        self.impl = fast.check_impl(impl)

    def call(self, x):
        return fast.blur2d(x, self.blur_filter, self.impl)

    def get_config(self):
        return {**super().get_config(), "blur_filter": self.blur_filter, "impl": self.impl}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LayerEpilogue(keras.layers.Layer):
    """What follows every synthesis conv, in the original's order:
    noise -> bias -> nonlinearity -> pixel norm -> instance norm -> style modulation (AdaIN:
    `x * (scale + 1) + shift`, [scale, shift] an affine map of w, the original's `StyleMod`).

    Variables, with their original names: `noise_weight` (`Noise/weight`, [C], with `use_noise`),
    `bias` ([C]), `style_weight` and `style_bias` (`StyleMod/weight` [dlatent_size, 2C] and
    `StyleMod/bias`, with `use_styles`; equalized learning rate by `use_wscale`).

    Call: `epilogue(x [NHWC], dlatent [N, dlatent_size] or None, noise [N or 1, H, W, 1] or None)`.

    Args:
        use_noise, use_pixel_norm, use_instance_norm, use_styles: the G_synthesis switches.
        nonlinearity: 'lrelu' or 'relu'.
        use_wscale: equalized learning rate for the style affine map.
        impl: op forms ('fast': XLA clusters on large maps, `ops.fast.style_epilogue`).
    """

    def __init__(self, use_noise=True, use_pixel_norm=False, use_instance_norm=True,
                 use_styles=True, nonlinearity="lrelu", use_wscale=True, impl="ref", **kwargs):
        super().__init__(**kwargs)
        self.use_noise = bool(use_noise)
        self.use_pixel_norm = bool(use_pixel_norm)
        self.use_instance_norm = bool(use_instance_norm)
        self.use_styles = bool(use_styles)
        self.nonlinearity = nonlinearity
        self.use_wscale = bool(use_wscale)
        self.impl = fast.check_impl(impl)
        ops.activation_fn(nonlinearity)  # validates the name

    def build(self, x_shape, dlatent_shape=None, noise_shape=None):
        channels = int(x_shape[-1])
        if self.use_noise:
            self.noise_weight = self.add_weight(name="noise_weight", shape=(channels,), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")
        if self.use_styles:
            dlatent_size = int((dlatent_shape or (None, 512))[-1])
            init_std, self.style_multiplier = weight_scaling(dlatent_size, 1.0, self.use_wscale, 1.0)
            self.style_weight = self.add_weight(
                name="style_weight", shape=(dlatent_size, 2 * channels),
                initializer=keras.initializers.RandomNormal(stddev=init_std))
            self.style_bias = self.add_weight(name="style_bias", shape=(2 * channels,), initializer="zeros")
        self.built = True

    def styles(self, dlatent):
        """(scale, shift), each [N, 1, 1, C]."""
        style = tf.matmul(dlatent, self.style_weight * self.style_multiplier) + self.style_bias  # [N, 2C]
        channels = style.shape[-1] // 2
        return style[:, tf.newaxis, tf.newaxis, :channels], style[:, tf.newaxis, tf.newaxis, channels:]

    def call(self, x, dlatent=None, noise=None):
        scale, shift = self.styles(dlatent) if self.use_styles else (None, None)
        noise, noise_weight = (noise, self.noise_weight) if self.use_noise and noise is not None else (None, None)
        return fast.style_epilogue(x, noise, noise_weight, self.bias, self.nonlinearity, self.use_pixel_norm,
                                   self.use_instance_norm, scale, shift, self.impl)

    def get_config(self):
        return {**super().get_config(), "use_noise": self.use_noise,
                "use_pixel_norm": self.use_pixel_norm,
                "use_instance_norm": self.use_instance_norm, "use_styles": self.use_styles,
                "nonlinearity": self.nonlinearity, "use_wscale": self.use_wscale, "impl": self.impl}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MinibatchStddev(keras.layers.Layer):
    """Appends the minibatch standard deviation feature(s) as the last channel(s).

    Args:
        group_size: samples per group (min(group_size, N) is used; N must be divisible by it);
            None: the whole minibatch is one group.
        num_new_features: channel groups, one feature each.
    """

    def __init__(self, group_size=4, num_new_features=1, **kwargs):
        super().__init__(**kwargs)
        self.group_size = None if group_size is None else int(group_size)
        self.num_new_features = int(num_new_features)

    def call(self, x):
        return ops.minibatch_stddev(x, self.group_size, self.num_new_features)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.num_new_features)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size,
                "num_new_features": self.num_new_features}


# ---------------------------------------------------------------------------------------------
# StyleGAN2 (`training/networks_stylegan2.py`): every weight has gain 1 (runtime 1/sqrt(fan_in)),
# and the nonlinearity carries the gain: `act(x + bias) * gain` (`ops.bias_act`).


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BiasActDense(EqualizedDense):
    """StyleGAN2's `dense_layer` + `apply_bias_act`: an `EqualizedDense` with gain 1 whose
    nonlinearity carries the gain (flattens rank > 2 inputs in channels-last order; the loader
    permutes the one such weight stored in NCHW order).

    Args:
        units: output features.
        lrmul: learning-rate multiplier of the weight and the bias.
        activation: a `fused_bias_act` nonlinearity ('linear', 'lrelu', ...), with its default gain.
        use_bias: add a bias.
    """

    def __init__(self, units, lrmul=1.0, activation="linear", use_bias=True, **kwargs):
        super().__init__(units, gain=1.0, use_wscale=True, lrmul=lrmul, use_bias=use_bias, **kwargs)
        ops.bias_act_gain(activation)  # validates the name
        self.bias_activation = activation

    def call(self, x):
        if len(x.shape) > 2:
            x = tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])
        x = tf.matmul(x, self.weight * self.weight_multiplier)
        return ops.bias_act(x, self.bias * self.lrmul if self.use_bias else None, self.bias_activation)

    def get_config(self):
        config = {key: value for key, value in super().get_config().items() if key not in ("gain", "use_wscale")}
        return {**config, "activation": self.bias_activation}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FIRConv2D(EqualizedConv2D):
    """StyleGAN2's `conv2d_layer` (+ `apply_bias_act`): an `EqualizedConv2D` with gain 1, SAME
    stride 1, or 2x FIR up-/down-sampling fused with the conv as `upsample_conv_2d` /
    `conv_downsample_2d`.

    Args:
        filters, kernel_size: output channels and odd kernel size.
        resample: None, 'up' or 'down'.
        resample_kernel: FIR kernel (None: [1, 1]).
        use_bias, activation: optional bias and `fused_bias_act` nonlinearity.
    """

    def __init__(self, filters, kernel_size, resample=None, resample_kernel=(1, 3, 3, 1), use_bias=True,
                 activation="linear", **kwargs):
        super().__init__(filters, kernel_size, gain=1.0, use_wscale=True, resample=resample, use_bias=use_bias,
                         **kwargs)
        self.resample_kernel = None if resample_kernel is None else [float(v) for v in np.ravel(resample_kernel)]
        upfirdn.setup_kernel(self.resample_kernel)  # validates it
        ops.bias_act_gain(activation)
        self.bias_activation = activation

    def call(self, x):
        x = resampling_conv(x, self.weight * self.weight_multiplier, self.resample, self.resample_kernel)
        if self.use_bias or self.bias_activation != "linear":
            x = ops.bias_act(x, self.bias if self.use_bias else None, self.bias_activation)
        return ops.clamp(x, self.conv_clamp)

    def get_config(self):
        config = {key: value for key, value in super().get_config().items()
                  if key not in ("gain", "use_wscale", "lrmul", "fused_scale", "impl")}
        return {**config, "resample_kernel": self.resample_kernel, "activation": self.bias_activation}


def resampling_conv(x, weight, resample, resample_kernel):
    """SAME conv, `upsample_conv_2d` ('up') or `conv_downsample_2d` ('down') with an HWIO weight."""
    if resample == "up":
        return upfirdn.upsample_conv_2d(x, weight, resample_kernel)
    if resample == "down":
        return upfirdn.conv_downsample_2d(x, weight, resample_kernel)
    return tf.nn.conv2d(x, weight, strides=[1, 1, 1, 1], padding="SAME")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ModulatedConv2D(keras.layers.Layer):
    """StyleGAN2's modulated convolution with its epilogue (`modulated_conv2d_layer` + noise + bias
    + activation), as one layer: variables `weight`, `mod_weight`, `mod_bias`, `noise_strength`
    (with `use_noise`) and `bias`, in the original's order.

    style `s = w @ (mod_weight / sqrt(dlatent_size)) + mod_bias + 1`; weight `W * s` per input
    channel, demodulated by `rsqrt(sum W'^2 + 1e-8)` per output channel. `fused_modconv` selects the
    original's grouped-convolution form; both forms compute the same function, and here both scale
    the activations instead of the weights (`x * s`, shared conv, `* d`), which avoids grouped
    convolutions (slow or missing on CPUs) and agrees with the fused form to float rounding.

    Call: `layer(x [N, H, W, I], w [N, dlatent_size], noise [N or 1, H', W', 1] or None)`.
    `conv_clamp`: clamp the outputs to [-conv_clamp, conv_clamp] (None: no clamp).
    """

    def __init__(self, filters, kernel_size, demodulate=True, up=False, resample_kernel=(1, 3, 3, 1),
                 fused_modconv=True, use_noise=True, activation="lrelu", conv_clamp=None, **kwargs):
        # No autocast: the styles and the demodulation stay in the variables' dtype (float32) under
        # mixed precision; `call` casts the activations' operands to the compute dtype itself.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.demodulate = bool(demodulate)
        self.up = bool(up)
        self.resample_kernel = None if resample_kernel is None else [float(v) for v in np.ravel(resample_kernel)]
        upfirdn.setup_kernel(self.resample_kernel)
        self.fused_modconv = bool(fused_modconv)
        self.use_noise = bool(use_noise)
        self.activation = activation
        ops.bias_act_gain(activation)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)

    def build(self, x_shape, w_shape=None, noise_shape=None):
        in_channels = int(x_shape[-1])
        dlatent_size = int((w_shape or (None, 512))[-1])
        _, self.weight_multiplier = weight_scaling(self.kernel_size ** 2 * in_channels, 1.0, True, 1.0)
        _, self.mod_multiplier = weight_scaling(dlatent_size, 1.0, True, 1.0)
        normal = keras.initializers.RandomNormal(stddev=1.0)
        self.weight = self.add_weight(name="weight", initializer=normal,
                                      shape=(self.kernel_size, self.kernel_size, in_channels, self.filters))
        self.mod_weight = self.add_weight(name="mod_weight", shape=(dlatent_size, in_channels), initializer=normal)
        self.mod_bias = self.add_weight(name="mod_bias", shape=(in_channels,), initializer="zeros")
        if self.use_noise:
            self.noise_strength = self.add_weight(name="noise_strength", shape=(), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.built = True

    def styles(self, w):
        """s [N, I]: the per-sample scale of each input channel."""
        return tf.matmul(w, self.mod_weight * self.mod_multiplier) + self.mod_bias + 1.0

    def call(self, x, w, noise=None):
        dtype = self.compute_dtype
        weight = self.weight * self.weight_multiplier
        s = self.styles(tf.cast(w, weight.dtype))
        x = tf.cast(x, dtype) * tf.cast(s, dtype)[:, tf.newaxis, tf.newaxis, :]
        x = resampling_conv(x, tf.cast(weight, dtype), "up" if self.up else None, self.resample_kernel)
        if self.demodulate:
            # sum_{kh, kw, i} (W[kh, kw, i, o] s[n, i])^2 as s^2 @ sum_{kh, kw} W^2.
            d = tf.math.rsqrt(tf.matmul(tf.square(s), tf.reduce_sum(tf.square(weight), axis=[0, 1])) + 1e-8)
            x = x * tf.cast(d, dtype)[:, tf.newaxis, tf.newaxis, :]
        if self.use_noise and noise is not None:
            x = x + tf.cast(tf.cast(noise, weight.dtype) * self.noise_strength, dtype)
        return ops.clamp(ops.bias_act(x, tf.cast(self.bias, dtype), self.activation), self.conv_clamp)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "demodulate": self.demodulate, "up": self.up, "resample_kernel": self.resample_kernel,
                "fused_modconv": self.fused_modconv, "use_noise": self.use_noise,
                "activation": self.activation, "conv_clamp": self.conv_clamp}
