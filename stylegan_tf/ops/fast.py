"""Faster formulations of the reference ops (`ops.reference`), chosen by an explicit `impl`.

Every function here takes `impl` ('ref', 'fast' or 'xla', `names.IMPLS`) and computes the same
function as its reference; 'ref' runs the reference itself. The other forms round differently (the
order of sums changes), so they serve inference; gradients through them are correct but do not
round as the original's (at a leaky ReLU a value rounded across 0 switches its slope), which is why
training and parity use 'ref'. tests/unit/test_fast_ops.py checks each form against its reference.

- 'fast', for graphs that TensorFlow's kernels run: the resampling convs the original computes at
  full resolution run as one stride-2 (transposed) conv from 16x16 inputs on (4/9 and 1/4 of the
  multiply-adds; 1.5-2.4x faster on CPUs; slower below 16x16), and the epilogues of feature maps of
  512x512 and more run as XLA clusters inside the uncompiled graph (memory-bound there: eleven
  passes become four; StyleGAN's Gs at 1024²: 1.2x).
- 'xla', for functions that XLA compiles whole: the blur as shifted sums (XLA's depthwise conv on
  CPUs is ~50x slower) and the 3x3 upsampling transposed conv per output phase (XLA runs a
  transposed conv as a dense conv over the zero-dilated input, 3.7x slower at 512 -> 1024).
"""

import keras
import numpy as np
import tensorflow as tf

from stylegan_tf import names
from stylegan_tf.ops import reference

# From this input size on, 'fast' runs the full-resolution resampling convs strided.
STRIDED_RESAMPLING_MIN_SIZE = 16
# From this many pixels on, 'fast' runs the epilogue as XLA clusters; below it the clusters measured
# no faster than TensorFlow's kernels on CPUs (and a 256x256 generator slower as a whole).
FUSED_EPILOGUE_MIN_PIXELS = 512 * 512
# The same for bfloat16/float16 maps (mixed precision): TensorFlow's CPU kernels run 16-bit element-wise
# ops and the casts around the float32 statistics slowly, one pass each; fused, the bf16 Gs at 256²
# (batch 4, on a CPU with AMX) ran 1.29x faster (7.7 -> 10.0 img/s; 5.3 in float32). Measured flat
# between 32² and 128² maps.
FUSED_EPILOGUE_MIN_PIXELS_16BIT = 64 * 64
# XLA runs a reduction on CPUs in one thread: the instance norm's two reductions are split into this
# many row bands, clusters of their own that TensorFlow runs in parallel (1.5x for a 1024x1024
# epilogue at batch 1; a batch of 4 kept its speed).
STATISTICS_ROW_BANDS = 4


def check_impl(impl):
    return names.check_choice(impl, names.IMPLS, "impl")


def _cluster(function):
    """`function` compiled by XLA as one cluster inside an otherwise uncompiled graph. Non-tensor
    arguments are static (one compiled cluster per value and input shape)."""
    compiled = tf.function(function, jit_compile=True, autograph=False)

    def call(*args):
        # A tf.function argument must be a tensor or a Python value: variables are read here.
        return compiled(*(tf.convert_to_tensor(a) if isinstance(a, keras.Variable) else a for a in args))

    return call


_clustered_style_epilogue = _cluster(reference.style_epilogue)


def _band_sum(x, noise, noise_weight, bias, activation, start, rows, mean=None):
    """Sum over H and W of rows [start, start + rows) of the activations (minus `mean`, squared)."""
    band = [0, start, 0, 0], [-1, rows, -1, -1]
    x = reference.noise_bias_act(tf.slice(x, *band), None if noise is None else tf.slice(noise, *band),
                                 noise_weight, bias, activation)
    return tf.reduce_sum(x if mean is None else tf.square(x - mean), axis=[1, 2], keepdims=True)


def _normalize_and_style(x, noise, noise_weight, bias, activation, mean, variance, scale, shift):
    x = reference.noise_bias_act(x, noise, noise_weight, bias, activation) - mean
    return reference.apply_style(x * tf.math.rsqrt(variance + reference.NORM_EPSILON), scale, shift)


_clustered_band_sum = _cluster(_band_sum)
_clustered_normalize_and_style = _cluster(_normalize_and_style)


def _banded_style_epilogue(x, noise, noise_weight, bias, activation, scale, shift):
    """The epilogue with instance norm (and no pixel norm), its statistics summed over row bands."""
    bands = STATISTICS_ROW_BANDS if x.shape[1] % STATISTICS_ROW_BANDS == 0 else 1
    rows, count = x.shape[1] // bands, x.shape[1] * x.shape[2]
    per_band = [(tf.constant(band * rows), rows) for band in range(bands)]
    inputs = (noise, noise_weight, bias, activation)
    mean = tf.add_n([_clustered_band_sum(x, *inputs, *band) for band in per_band]) / count
    variance = tf.add_n([_clustered_band_sum(x, *inputs, *band, mean) for band in per_band]) / count
    return _clustered_normalize_and_style(x, *inputs, mean, variance, scale, shift)


def style_epilogue(x, noise, noise_weight, bias, activation, use_pixel_norm, use_instance_norm, scale, shift,
                   impl):
    """`reference.style_epilogue`; with 'fast' on maps of at least FUSED_EPILOGUE_MIN_PIXELS (16-bit
    maps: FUSED_EPILOGUE_MIN_PIXELS_16BIT), XLA clusters: one, or with instance norm on float32 three
    kinds (statistics per row band, the rest; banding 16-bit maps measured slower)."""
    args = (x, noise, noise_weight, bias, activation, use_pixel_norm, use_instance_norm, scale, shift)
    height, width = x.shape[1], x.shape[2]
    minimum = FUSED_EPILOGUE_MIN_PIXELS if x.dtype == tf.float32 else FUSED_EPILOGUE_MIN_PIXELS_16BIT
    if check_impl(impl) != "fast" or height is None or width is None or height * width < minimum:
        return reference.style_epilogue(*args)
    if use_instance_norm and not use_pixel_norm and x.dtype == tf.float32:
        return _banded_style_epilogue(x, noise, noise_weight, bias, activation, scale, shift)
    return _clustered_style_epilogue(*args)


def shifted_blur2d(x, blur_filter, normalize=True):
    """`reference.blur2d` as sums of shifted copies of the zero-padded input (one pass per axis for
    a 1-D filter), which XLA fuses into one loop."""
    taps = np.asarray(blur_filter, dtype=np.float64)
    kernel = reference.blur_kernel(blur_filter, normalize)
    kh, kw = kernel.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2  # TF's SAME padding
    padded = tf.pad(x, [[0, 0], [top, kh - 1 - top], [left, kw - 1 - left], [0, 0]])
    height, width = x.shape[1], x.shape[2]
    if taps.ndim == 1:  # kernel = outer(taps, taps) / sum(taps)^2
        taps = taps / taps.sum() if normalize else taps
        y = sum(float(taps[i]) * padded[:, i:i + height] for i in range(kh))
        return sum(float(taps[j]) * y[:, :, j:j + width] for j in range(kw))
    return sum(float(kernel[i, j]) * padded[:, i:i + height, j:j + width]
               for i in range(kh) for j in range(kw))


def blur2d(x, blur_filter, impl):
    """`reference.blur2d`; 'xla': `shifted_blur2d`."""
    kernel = reference.blur_kernel(blur_filter)
    if check_impl(impl) != "xla" or (kernel.shape == (1, 1) and kernel[0, 0] == 1):
        return reference.blur2d(x, blur_filter)
    return shifted_blur2d(x, blur_filter)


# Which input row (0, 1, 2 = i - 1, i, i + 1) each 3x3 tap row reads, for output rows 2i and 2i + 1
# of "nearest 2x upsampling, then a 3x3 conv" (columns alike).
_PHASE_TAPS = np.array([[[1, 0, 0], [0, 1, 1], [0, 0, 0]],
                        [[0, 0, 0], [1, 1, 0], [0, 0, 1]]], np.float32)


def phased_upscale2d_conv2d(x, weight):
    """The fused 3x3 upsampling conv (`reference.upscale2d_conv2d(x, weight, fused=True)`) as one
    SAME 3x3 conv on the low-resolution input with 4x the output channels (one set per output
    phase), then depth_to_space: the transposed convolution's function (its kernel entries are the
    same sums of weights)."""
    taps = tf.constant(_PHASE_TAPS, weight.dtype)
    rotated = weight[::-1, ::-1]  # the transposed conv applies the kernel rotated by 180 degrees
    phases = [tf.einsum("rd,ce,deio->rcio", taps[a], taps[b], rotated) for a in (0, 1) for b in (0, 1)]
    return tf.nn.depth_to_space(reference.conv2d(x, tf.concat(phases, axis=-1)), 2)


def _strided(x, impl):
    return impl == "fast" and x.shape[1] is not None and x.shape[1] >= STRIDED_RESAMPLING_MIN_SIZE


def upscale2d_conv2d(x, weight, fused, impl):
    """`reference.upscale2d_conv2d`; 'fast' runs the unfused form as the transposed conv from
    16x16 inputs on, 'xla' the fused 3x3 form per output phase."""
    check_impl(impl)
    if not fused and _strided(x, impl):
        # The transposed conv rotates it back: upsampling + conv exactly. (tf.reverse: a negative-
        # stride slice of a 3x3x512x512 kernel took 15 ms per call, tf.reverse 1.6 ms.)
        weight, fused = tf.reverse(weight, [0, 1]), True
    if fused and impl == "xla" and weight.shape[0] == 3:
        return phased_upscale2d_conv2d(x, weight)
    return reference.upscale2d_conv2d(x, weight, fused)


def conv2d_downscale2d(x, weight, fused, impl):
    """`reference.conv2d_downscale2d`; 'fast' runs the unfused form strided from 16x16 inputs on."""
    check_impl(impl)
    return reference.conv2d_downscale2d(x, weight, fused or _strided(x, impl))
