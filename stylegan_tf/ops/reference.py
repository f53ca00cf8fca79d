"""Stateless tensor operations of the original StyleGAN, channels-last (NHWC): the reference.

Each function computes what the TF1 release computes (`training/networks_stylegan.py`) on NHWC
tensors, in the release's formulation, so that it rounds as the release does; faster forms of some
of them live in `ops.fast`, chosen by a network's `impl`. The Keras layers in `layers.py` add the
variables around them. TensorFlow's autodiff gives the original's gradients, except at the leaky
ReLU's kink, where `leaky_relu` defines the original's.
"""

import numpy as np
import tensorflow as tf

LRELU_ALPHA = 0.2


def lerp(a, b, t):
    """Linear interpolation `a + (b - a) * t` (t is not clipped)."""
    return a + (b - a) * t


def mirror(images, flip):
    """Each NHWC image reversed left-right where `flip` [N] (bool) is true."""
    return tf.where(flip[:, tf.newaxis, tf.newaxis, tf.newaxis], tf.reverse(images, axis=[2]), images)


def lerp_clip(a, b, t):
    """Linear interpolation with `t` clipped to [0, 1], as the original's linear lod blending."""
    return a + (b - a) * tf.clip_by_value(t, 0.0, 1.0)


@tf.custom_gradient
def leaky_relu(x):
    """`max(x, 0.2 x)` with the original StyleGAN's gradient: slope 1 where the output is >= 0, so at
    an exact 0 too (tf.nn.leaky_relu's own gradient takes 0.2 there). One fused kernel each way
    (TensorFlow's gradient of `tf.maximum(x, 0.2 * x)` costs 4x the time at 1024x1024); the gradient
    is linear in dy, so R1's double backward differentiates through it."""
    y = tf.nn.leaky_relu(x, LRELU_ALPHA)
    return y, lambda dy: tf.where(y >= 0, dy, dy * LRELU_ALPHA)


def activation_fn(name):
    """The original's nonlinearity names: 'lrelu' (slope 0.2), 'relu' or 'linear'."""
    if name == "lrelu":
        return leaky_relu
    if name == "relu":
        return tf.nn.relu
    if name in (None, "linear"):
        return tf.identity
    raise ValueError(f"Unknown nonlinearity {name!r}; expected 'lrelu' or 'relu'.")


# StyleGAN2's `fused_bias_act` nonlinearities: function and default gain (applied after it).
_BIAS_ACTIVATIONS = {
    "linear": (tf.identity, 1.0),
    "relu": (tf.nn.relu, float(np.sqrt(2))),
    "lrelu": (lambda x: tf.nn.leaky_relu(x, LRELU_ALPHA), float(np.sqrt(2))),  # the release's reference form
    "tanh": (tf.tanh, 1.0),
    "sigmoid": (tf.sigmoid, 1.0),
    "elu": (tf.nn.elu, 1.0),
    "selu": (tf.nn.selu, 1.0),
    "softplus": (tf.nn.softplus, 1.0),
    "swish": (lambda x: x * tf.sigmoid(x), float(np.sqrt(2))),
}


def bias_act_gain(name):
    """The default gain of a StyleGAN2 nonlinearity (sqrt(2) for relu, lrelu and swish)."""
    if name not in _BIAS_ACTIVATIONS:
        raise ValueError(f"Unknown nonlinearity {name!r}; expected one of {', '.join(_BIAS_ACTIVATIONS)}.")
    return _BIAS_ACTIVATIONS[name][1]


def bias_act(x, bias, activation="linear", gain=None):
    """StyleGAN2's `fused_bias_act` on the last axis: `act(x + bias) * gain` (default gain per act)."""
    function, default_gain = _BIAS_ACTIVATIONS[activation] if activation in _BIAS_ACTIVATIONS else (
        None, bias_act_gain(activation))
    gain = default_gain if gain is None else gain
    x = function(x + bias if bias is not None else x)
    return x * gain if gain != 1 else x


def at_least_float32(x):
    """x in float32 if it is a 16-bit float (mixed precision keeps statistics in float32)."""
    return tf.cast(x, tf.float32) if x.dtype in (tf.float16, tf.bfloat16) else x


def clamp(x, limit):
    """x clipped to [-limit, limit]; None: unchanged (StyleGAN2-ADA's `conv_clamp`)."""
    return x if limit is None else tf.clip_by_value(x, -limit, limit)


NORM_EPSILON = 1e-8  # pixel norm and instance norm, as the original


def pixel_norm(x, epsilon=NORM_EPSILON):
    """Normalizes each feature vector (last axis) to unit RMS."""
    dtype, x = x.dtype, at_least_float32(x)
    return tf.cast(x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + epsilon), dtype)


def noise_bias_act(x, noise, noise_weight, bias, activation):
    if noise is not None:
        x = x + noise * noise_weight
    return activation_fn(activation)(x + bias)


def style_epilogue(x, noise, noise_weight, bias, activation, use_pixel_norm, use_instance_norm, scale, shift):
    """What follows every StyleGAN synthesis conv, in the original's order: `x + noise * weight`,
    `+ bias`, the nonlinearity, pixel norm, instance norm, `x * (scale + 1) + shift` (None: skipped)."""
    x = noise_bias_act(x, noise, noise_weight, bias, activation)
    if use_pixel_norm:
        x = pixel_norm(x)
    if use_instance_norm:
        x = instance_norm(x)
    return apply_style(x, scale, shift)


def apply_style(x, scale, shift):
    return x if scale is None else x * (scale + 1.0) + shift


def instance_norm(x, epsilon=NORM_EPSILON):
    """Per-sample, per-channel normalization over H and W (biased variance). x: [NHWC]."""
    dtype, x = x.dtype, at_least_float32(x)
    x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return tf.cast(x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True) + epsilon), dtype)


def blur_kernel(blur_filter, normalize=True, flip=False):
    """2-D float32 kernel from a 1-D (separable) or 2-D filter, as the original's `_blur2d`."""
    kernel = np.asarray(blur_filter, dtype=np.float32)
    if kernel.ndim == 1:
        kernel = kernel[:, np.newaxis] * kernel[np.newaxis, :]
    if kernel.ndim != 2:
        raise ValueError(f"blur_filter must be 1-D or 2-D, got shape {kernel.shape}.")
    if normalize:
        kernel = kernel / np.sum(kernel)
    if flip:
        kernel = kernel[::-1, ::-1]
    return kernel


def blur2d(x, blur_filter=(1, 2, 1), normalize=True):
    """Depthwise low-pass filter with SAME zero padding. x: [NHWC]."""
    kernel = blur_kernel(blur_filter, normalize)
    if kernel.shape == (1, 1) and kernel[0, 0] == 1:
        return x
    channels = x.shape[-1]
    kernel = np.tile(kernel[:, :, np.newaxis, np.newaxis], [1, 1, channels, 1])  # [kh, kw, C, 1]
    return tf.nn.depthwise_conv2d(x, tf.constant(kernel, dtype=x.dtype), strides=[1, 1, 1, 1],
                                  padding="SAME")


def upscale2d(x, factor=2):
    """Nearest-neighbour upsampling by an integer factor. x: [NHWC]."""
    if factor == 1:
        return x
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    x = tf.reshape(x, [-1, height, 1, width, 1, channels])
    x = tf.tile(x, [1, 1, factor, 1, factor, 1])
    return tf.reshape(x, [-1, height * factor, width * factor, channels])


def downscale2d(x, factor=2):
    """Box-filter downsampling by an integer factor (mean of factor x factor blocks). x: [NHWC]."""
    if factor == 1:
        return x
    return tf.nn.avg_pool2d(x, ksize=factor, strides=factor, padding="VALID")


def fused_upscale_kernel(weight):
    """[k, k, in, out] kernel -> the [k+1, k+1, out, in] kernel of a stride-2 transposed conv that
    equals nearest 2x upsampling followed by the (180°-rotated) k x k conv."""
    weight = tf.transpose(weight, [0, 1, 3, 2])
    weight = tf.pad(weight, [[1, 1], [1, 1], [0, 0], [0, 0]])
    return weight[1:, 1:] + weight[:-1, 1:] + weight[1:, :-1] + weight[:-1, :-1]


def fused_downscale_kernel(weight):
    """[k, k, in, out] kernel -> the [k+1, k+1, in, out] stride-2 kernel equal to conv + 2x2 box."""
    weight = tf.pad(weight, [[1, 1], [1, 1], [0, 0], [0, 0]])
    return (weight[1:, 1:] + weight[:-1, 1:] + weight[1:, :-1] + weight[:-1, :-1]) * 0.25


def conv2d(x, weight):
    """Stride-1 SAME convolution. x: [NHWC], weight: [kh, kw, in, out]."""
    return tf.nn.conv2d(x, weight, strides=1, padding="SAME")


def upscale2d_conv2d(x, weight, fused):
    """2x upsampling + conv; `fused` selects the original's fused form: one transposed convolution
    whose function is upsampling + the 180°-rotated conv (the original's two forms differ so; a
    network's weights belong to one)."""
    if not fused:
        return conv2d(upscale2d(x), weight)
    return conv2d_transpose_up(x, fused_upscale_kernel(weight))


def conv2d_transpose_up(x, kernel):
    """Stride-2 SAME transposed convolution with a [k, k, out, in] kernel: 2x the input size."""
    output_shape = [tf.shape(x)[0], x.shape[1] * 2, x.shape[2] * 2, kernel.shape[-2]]
    return tf.nn.conv2d_transpose(x, kernel, output_shape, strides=2, padding="SAME")


def conv2d_downscale2d(x, weight, fused):
    """conv + 2x box downsampling; `fused` uses one stride-2 convolution (the original's fused
    form, the same function)."""
    if not fused:
        return downscale2d(conv2d(x, weight))
    return tf.nn.conv2d(x, fused_downscale_kernel(weight), strides=2, padding="SAME")


def minibatch_stddev(x, group_size=4, num_new_features=1):
    """Appends the mean standard deviation over strided sample groups as new last channels.

    Sample i belongs to group `i mod M` with M = N / G (the original's reshape to [G, M, ...]);
    `group_size` None: one group of the whole minibatch. x: [NHWC] -> [N, H, W, C + num_new_features].
    """
    group_size = tf.shape(x)[0] if group_size is None else tf.minimum(group_size, tf.shape(x)[0])
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    y = tf.reshape(x, [group_size, -1, height, width, num_new_features,
                       channels // num_new_features])                        # [GMHWnc]
    y = at_least_float32(y)
    y = y - tf.reduce_mean(y, axis=0, keepdims=True)
    y = tf.reduce_mean(tf.square(y), axis=0)                                  # [MHWnc]
    y = tf.sqrt(y + 1e-8)
    y = tf.reduce_mean(y, axis=[1, 2, 4])                                     # [Mn]
    y = tf.cast(y, x.dtype)
    y = tf.tile(y[:, tf.newaxis, tf.newaxis, :], [group_size, height, width, 1])  # [NHWn]
    return tf.concat([x, y], axis=-1)


def resolution_log2_of(resolution):
    """log2 of a power-of-two resolution >= 4, or a ValueError naming the value."""
    resolution_log2 = int(np.log2(resolution)) if resolution and resolution > 0 else 0
    if resolution is None or resolution < 4 or 2 ** resolution_log2 != resolution:
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution!r}.")
    return resolution_log2
