"""StyleGAN2's FIR resampling (`dnnlib/tflib/ops/upfirdn_2d.py`) on NHWC tensors, in plain TensorFlow.

`upfirdn2d` upsamples by zero insertion, pads (negative pads crop), convolves with a 2-D FIR kernel
(a true convolution, i.e. the kernel flipped) and downsamples by keeping every `down`-th sample.
The wrappers set the kernel gain and the pads exactly as the original's; `resample_kernel=None`
means `[1] * factor` (nearest up / box down), as there. No custom op: the original's CUDA kernel
and its reference implementation compute the same function.
"""

import numpy as np
import tensorflow as tf


def setup_kernel(kernel, factor=2):
    """The original's `_setup_kernel`: None -> [1] * factor; 1-D -> outer product; sum 1; float32."""
    kernel = np.asarray([1] * factor if kernel is None else kernel, dtype=np.float32)
    if kernel.ndim == 1:
        kernel = np.outer(kernel, kernel)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.size == 0:
        raise ValueError(f"resample_kernel must be a 1-D list or a square 2-D array, got shape {kernel.shape}.")
    total = np.sum(kernel)
    if not np.isfinite(total) or total == 0:
        raise ValueError("resample_kernel must have a finite, non-zero sum.")
    return kernel / total


def insert_zeros_and_pad(x, up, pad0, pad1):
    """x [N, H, W, C] upsampled by zero insertion (`up - 1` zeros after each sample on both axes),
    then padded by pad0/pad1 on both axes (negative pads crop): the first half of `upfirdn2d`."""
    height, width, channels = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    if up > 1:  # zero insertion, one axis at a time in 4-D (TFLite's builtins pad up to 4-D)
        x = tf.reshape(x, [-1, width, 1, channels])
        x = tf.pad(x, [[0, 0], [0, 0], [0, up - 1], [0, 0]])
        x = tf.reshape(x, [-1, height, 1, width * up * channels])
        x = tf.pad(x, [[0, 0], [0, 0], [0, up - 1], [0, 0]])
        height, width = height * up, width * up
        x = tf.reshape(x, [-1, height, width, channels])
    x = tf.pad(x, [[0, 0], [max(pad0, 0), max(pad1, 0)], [max(pad0, 0), max(pad1, 0)], [0, 0]])
    if pad0 < 0 or pad1 < 0:
        x = x[:, max(-pad0, 0):int(x.shape[1]) - max(-pad1, 0), max(-pad0, 0):int(x.shape[2]) - max(-pad1, 0)]
    return x


def upfirdn2d(x, kernel, up=1, down=1, pad0=0, pad1=0):
    """The core op on x [N, H, W, C] with a 2-D kernel (NumPy), the same pads on both axes."""
    channels = int(x.shape[3])
    x = insert_zeros_and_pad(x, up, pad0, pad1)
    flipped = np.asarray(kernel, np.float32)[::-1, ::-1]
    depthwise = np.tile(flipped[:, :, np.newaxis, np.newaxis], [1, 1, channels, 1])
    return tf.nn.depthwise_conv2d(x, tf.constant(depthwise, dtype=x.dtype), strides=[1, down, down, 1],
                                  padding="VALID")


def upsample_2d(x, kernel=None, factor=2, gain=1):
    """FIR upsampling by `factor` (`upsample_2d`): the kernel scaled by gain * factor**2."""
    k = setup_kernel(kernel, factor) * (gain * factor ** 2)
    p = k.shape[0] - factor
    return upfirdn2d(x, k, up=factor, pad0=(p + 1) // 2 + factor - 1, pad1=p // 2)


def downsample_2d(x, kernel=None, factor=2, gain=1):
    """FIR downsampling by `factor` (`downsample_2d`)."""
    k = setup_kernel(kernel, factor) * gain
    p = k.shape[0] - factor
    return upfirdn2d(x, k, down=factor, pad0=(p + 1) // 2, pad1=p // 2)


def upsample_conv_2d(x, weight, kernel=None, factor=2, gain=1):
    """`upsample_conv_2d`: a stride-`factor` transposed convolution with the (flipped, in/out-swapped)
    HWIO `weight`, then the FIR filter; x [N, H, W, C] -> [N, H * factor, W * factor, out]."""
    size, out_channels = int(weight.shape[0]), int(weight.shape[3])
    k = setup_kernel(kernel, factor) * (gain * factor ** 2)
    p = (k.shape[0] - factor) - (size - 1)
    filters = tf.transpose(weight[::-1, ::-1], [0, 1, 3, 2])  # [k, k, out, in]
    height, width = int(x.shape[1]), int(x.shape[2])
    output_shape = [tf.shape(x)[0], (height - 1) * factor + size, (width - 1) * factor + size, out_channels]
    x = tf.nn.conv2d_transpose(x, filters, output_shape, strides=[1, factor, factor, 1], padding="VALID")
    x = tf.ensure_shape(x, [None, (height - 1) * factor + size, (width - 1) * factor + size, out_channels])
    return upfirdn2d(x, k, pad0=(p + 1) // 2 + factor - 1, pad1=p // 2 + 1)


def conv_downsample_2d(x, weight, kernel=None, factor=2, gain=1):
    """`conv_downsample_2d`: the FIR filter, then a stride-`factor` VALID convolution with `weight`."""
    size = int(weight.shape[0])
    k = setup_kernel(kernel, factor) * gain
    p = (k.shape[0] - factor) + (size - 1)
    x = upfirdn2d(x, k, pad0=(p + 1) // 2, pad1=p // 2)
    return tf.nn.conv2d(x, weight, strides=[1, factor, factor, 1], padding="VALID")
