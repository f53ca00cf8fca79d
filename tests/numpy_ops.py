"""NumPy references of the basic image ops, shared by the layer and op tests."""

import numpy as np


def np_conv2d_same(x, kernel, stride=1):
    """Cross-correlation with SAME zero padding (TF's convention). x: NHWC, kernel: HWIO."""
    kh, kw, _, out = kernel.shape
    n, h, w, _ = x.shape
    out_h, out_w = -(-h // stride), -(-w // stride)
    pad_h = max((out_h - 1) * stride + kh - h, 0)
    pad_w = max((out_w - 1) * stride + kw - w, 0)
    padded = np.pad(x, [(0, 0), (pad_h // 2, pad_h - pad_h // 2),
                        (pad_w // 2, pad_w - pad_w // 2), (0, 0)])
    result = np.zeros((n, out_h, out_w, out))
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            result[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return result


def np_upscale(x, factor=2):
    return x.repeat(factor, axis=1).repeat(factor, axis=2)


def np_downscale(x, factor=2):
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))
