"""The image transforms of StyleGAN2-ADA's augmentation pipeline (`stylegan_tf.augment`), NHWC:
batched homogeneous matrices, the warp (reflect padding, 2x resampling with the sym6 wavelet, bilinear
sampling by gathers, which XLA compiles and whose gradient is the exact adjoint), colour matrices and
the 4-band filter bank."""

import numpy as np
import scipy.signal
import tensorflow as tf

# Low-pass filters of two orthogonal wavelets (Daubechies' symlets; standard coefficients).
SYM2 = np.array([-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025])
SYM6 = np.array([0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
                 0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
                 -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148])
WARP_FILTER_PAD = len(SYM6) // 4  # margin (in pixels) the 2x resampling filter needs


def _band_filters(num_bands=4):
    """[bands, taps] bandpass filters splitting an image into octaves (the release's filter bank from
    sym2: each band is the previous low-pass band's high-pass half)."""
    low = SYM2
    high = low * ((-1) ** np.arange(low.size))
    low2 = np.convolve(low, low[::-1]) / 2
    high2 = np.convolve(high, high[::-1]) / 2
    bands = np.eye(num_bands, 1)
    for i in range(1, num_bands):
        bands = np.dstack([bands, np.zeros_like(bands)]).reshape(num_bands, -1)[:, :-1]  # upsample 2x
        bands = scipy.signal.convolve(bands, [low2])
        start = (bands.shape[1] - high2.size) // 2
        bands[i, start:start + high2.size] += high2
    return bands


BAND_FILTERS = _band_filters()


# ----------------------------------------------------------------------------------------------
# Batched homogeneous matrices.


def _matrix(rows, batch):
    """[batch, n, n] from rows of scalars or [batch] tensors."""
    rows = [[tf.broadcast_to(tf.cast(value, tf.float32), [batch]) for value in row] for row in rows]
    return tf.stack([tf.stack(row, axis=-1) for row in rows], axis=-2)


def translate2d(tx, ty, batch):
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], batch)


def scale2d(sx, sy, batch):
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], batch)


def rotate2d(theta, batch):
    return _matrix([[tf.cos(theta), -tf.sin(theta), 0], [tf.sin(theta), tf.cos(theta), 0], [0, 0, 1]], batch)


def translate3d(tx, ty, tz, batch):
    return _matrix([[1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1]], batch)


def scale3d(sx, sy, sz, batch):
    return _matrix([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]], batch)


def rotate3d(axis, theta, batch):
    vx, vy, vz = (float(value) for value in axis[:3])
    s, c = tf.sin(theta), tf.cos(theta)
    cc = 1 - c
    return _matrix([[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
                    [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
                    [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
                    [0, 0, 0, 1]], batch)


# ----------------------------------------------------------------------------------------------
# Executing the transforms.


def _sym6_filters(channels):
    taps = SYM6.astype(np.float32)
    row = np.tile(taps.reshape(1, -1, 1, 1), [1, 1, channels, 1])  # [1, taps, C, 1]
    column = np.tile(taps.reshape(-1, 1, 1, 1), [1, 1, channels, 1])  # [taps, 1, C, 1]
    return tf.constant(row), tf.constant(column)


def bilinear_sample(images, coords):
    """Bilinear samples of images [N, H, W, C] at pixel coordinates [N, h, w, 2] (x, y; integer
    coordinates are pixel centres); samples outside the image read zeros (as
    `ImageProjectiveTransformV3` with constant fill 0). A gather: compiles under XLA, and its
    gradient w.r.t. the images is the exact adjoint. H and W may be dynamic."""
    shape = tf.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], images.shape[3]
    x, y = coords[..., 0], coords[..., 1]
    x0, y0 = tf.floor(x), tf.floor(y)
    flat = tf.reshape(images, [-1, channels])
    base = tf.reshape(tf.range(batch) * (height * width), [-1, 1, 1])
    max_x, max_y = tf.cast(width - 1, tf.float32), tf.cast(height - 1, tf.float32)

    def read(yy, xx):
        inside = (xx >= 0) & (xx <= max_x) & (yy >= 0) & (yy <= max_y)
        index = base + tf.cast(tf.clip_by_value(yy, 0, max_y), tf.int32) * width \
            + tf.cast(tf.clip_by_value(xx, 0, max_x), tf.int32)
        return tf.gather(flat, index) * tf.cast(inside, images.dtype)[..., None]

    wx, wy = (x - x0)[..., None], (y - y0)[..., None]
    top = (1 - wx) * read(y0, x0) + wx * read(y0, x0 + 1)
    bottom = (1 - wx) * read(y0 + 1, x0) + wx * read(y0 + 1, x0 + 1)
    return (1 - wy) * top + wy * bottom


def warp_margins(inverse, height, width, static_padding=True):
    """(low, high) reflect-padding margins [x, y] of the warp's input: the largest it can need
    (W-1, H-1), or what the batch's transformed corners need plus the filter's margin (the release)."""
    if static_padding:
        margin = tf.constant([width - 1, height - 1], tf.float32)
        return margin, margin
    cx, cy = (width - 1) / 2, (height - 1) / 2
    corners = tf.constant(np.transpose([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]]), tf.float32)
    points = (inverse @ corners[None])[:, :2, :]
    limit, extra = [width - 1, height - 1], WARP_FILTER_PAD * 2
    low = tf.clip_by_value(tf.math.ceil(tf.reduce_max(-points, axis=[0, 2]) - [cx, cy] + extra), [0, 0], limit)
    high = tf.clip_by_value(tf.math.ceil(tf.reduce_max(points, axis=[0, 2]) - [cx, cy] + extra), [0, 0], limit)
    return low, high


def sampling_transform(inverse, height, width, low):
    """The [N, 3, 3] map from pixels of the warp's 2x output to pixels of its 2x-upsampled, padded
    input (what the release hands its image transform), for centred inverse transforms."""
    batch, pad = inverse.shape[0], WARP_FILTER_PAD
    cx, cy = (width - 1) / 2, (height - 1) / 2
    transform = translate2d(cx + low[0], cy + low[1], batch) @ inverse @ translate2d(-(cx + pad), -(cy + pad), batch)
    return scale2d(2, 2, batch) @ transform @ scale2d(0.5, 0.5, batch)


def warp(images, inverse, static_padding=True):
    """Applies inverse 2D transforms [N, 3, 3] (output -> input, image-centred pixel coordinates) to
    images [N, H, W, C] as the release does: reflect padding, 2x upsampling with sym6, bilinear
    sampling, sym6 downsampling, crop."""
    batch, height, width, channels = images.shape
    pad = WARP_FILTER_PAD
    low, high = warp_margins(inverse, height, width, static_padding)
    low_i, high_i = tf.cast(low, tf.int32), tf.cast(high, tf.int32)
    x = tf.pad(images, [[0, 0], [low_i[1], high_i[1]], [low_i[0], high_i[0]], [0, 0]], mode="REFLECT")
    if static_padding:
        x = tf.ensure_shape(x, [batch, 3 * height - 2, 3 * width - 2, channels])
    row, column = _sym6_filters(channels)
    shape = tf.stack([batch, tf.shape(x)[1] * 2, tf.shape(x)[2] * 2, channels])
    x = tf.nn.depthwise_conv2d_backprop_input(shape, row, x, [1, 2, 2, 1], "SAME")
    x = tf.nn.depthwise_conv2d_backprop_input(shape, column, x, [1, 1, 1, 1], "SAME")
    transform = sampling_transform(inverse, height, width, low)
    out_h, out_w = (height + pad * 2) * 2, (width + pad * 2) * 2
    grid_x, grid_y = tf.meshgrid(tf.range(out_w, dtype=tf.float32), tf.range(out_h, dtype=tf.float32))
    grid = tf.stack([grid_x, grid_y, tf.ones_like(grid_x)], axis=-1)  # [h, w, 3]
    coords = tf.einsum("nij,hwj->nhwi", transform[:, :2, :], grid)
    x = bilinear_sample(x, coords)
    x = tf.nn.depthwise_conv2d(x, row, [1, 1, 1, 1], "SAME")
    x = tf.nn.depthwise_conv2d(x, column, [1, 2, 2, 1], "SAME")
    return tf.ensure_shape(x[:, pad:height + pad, pad:width + pad, :], images.shape)


def apply_color_matrix(images, color):
    """Applies homogeneous colour transforms [N, 4, 4] to RGB images (grayscale: the mean of the
    RGB rows, as the release)."""
    channels = images.shape[-1]
    if channels == 3:
        return tf.einsum("nhwc,ndc->nhwd", images, color[:, :3, :3]) + color[:, None, None, :3, 3]
    if channels == 1:
        mean_row = tf.reduce_mean(color[:, :3, :], axis=1)  # [N, 4]
        gain = tf.reduce_sum(mean_row[:, :3], axis=-1)
        return images * gain[:, None, None, None] + mean_row[:, None, None, None, 3]
    raise ValueError(f"colour augmentation takes RGB (3) or grayscale (1) images, got {channels} channels.")


def filter_bands(images, gains):
    """Applies per-image gains [N, 4] of the 4-band filter bank: a separable filter per image and
    channel, with reflect padding."""
    batch, height, width, channels = images.shape
    taps = tf.constant(BAND_FILTERS, tf.float32)  # [4, taps]
    per_image = gains @ taps  # [N, taps]
    kernel = tf.reshape(tf.tile(tf.transpose(per_image)[:, :, None], [1, 1, channels]), [-1, batch * channels])
    num_taps = BAND_FILTERS.shape[1]
    x = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, height, width, batch * channels])
    pad = num_taps // 2
    x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    x = tf.nn.depthwise_conv2d(x, tf.reshape(kernel, [1, num_taps, batch * channels, 1]), [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, tf.reshape(kernel, [num_taps, 1, batch * channels, 1]), [1, 1, 1, 1], "VALID")
    return tf.transpose(tf.reshape(x, [height, width, batch, channels]), [2, 0, 1, 3])
