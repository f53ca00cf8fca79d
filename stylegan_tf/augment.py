"""StyleGAN2-ADA's discriminator augmentation pipeline (Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data"), channels-last, with the TF release's numbers.

Every op fires per image with probability `multiplier * p`. As in the release, the blit and general
geometric ops compose into one inverse 3x3 matrix per image, executed by one warp (reflect padding,
2x upsampling with the `sym6` wavelet, bilinear sampling, `sym6` downsampling, crop); the colour ops
compose into one 4x4 matrix; then the 4-band image-space filter, additive noise and cutout.

The warp samples with gathers, not `ImageProjectiveTransformV3` (which XLA does not compile). Its
values equal the release's; its gradient w.r.t. the images is the exact adjoint of the sampling
(the release's registered gradient warps the incoming gradient by the inverse transform, an
approximation of it). Everything is differentiable w.r.t. the images to second order (R1 on the
augmented reals) and runs under tf.function, XLA, tf.distribute and mixed precision (the pipeline
computes in float32 and returns the input's dtype).

    pipeline = AugmentPipeline("bgc")
    augmented = pipeline(images, p, StatelessDraws(seed, batch))   # images NHWC in [-1, 1]

Where the random parameters come from is the `draws` argument: `RandomDraws` (tf.random),
`StatelessDraws` (a seed; optionally the rows of one replica out of a global minibatch, so that the
numbers do not depend on the number of replicas), or any object with the same three methods (the
parity tests feed the release's recorded noise).
"""

import numpy as np
import scipy.signal
import tensorflow as tf

from stylegan_tf import names
from stylegan_tf.training.losses import stateless_normal, stateless_uniform

# The release's default strengths and ranges of each op (multipliers are 0 unless a preset enables them).
OP_DEFAULTS = dict(
    xflip=0.0, rotate90=0.0, xint=0.0, xint_max=0.125,
    scale=0.0, rotate=0.0, aniso=0.0, xfrac=0.0, scale_std=0.2, rotate_max=1.0, aniso_std=0.2,
    xfrac_std=0.125,
    brightness=0.0, contrast=0.0, lumaflip=0.0, hue=0.0, saturation=0.0, brightness_std=0.2,
    contrast_std=0.5, hue_max=1.0, saturation_std=1.0,
    imgfilter=0.0, imgfilter_bands=(1.0, 1.0, 1.0, 1.0), imgfilter_std=1.0,
    noise=0.0, cutout=0.0, noise_std=0.1, cutout_size=0.5,
)

# Low-pass filters of two orthogonal wavelets (Daubechies' symlets; standard coefficients).
SYM2 = np.array([-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025])
SYM6 = np.array([0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
                 0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
                 -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148])
WARP_FILTER_PAD = len(SYM6) // 4  # margin (in pixels) the 2x resampling filter needs
LUMA_AXIS = np.array([1, 1, 1, 0], np.float64) / np.sqrt(3)
BAND_EXPECTED_POWER = np.array([10, 1, 1, 1], np.float64) / 13  # a 1/f spectrum over the 4 bands


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


def pipeline_ops(pipe="bgc", **overrides):
    """The op multipliers and ranges of a preset (`names.AUGMENT_PIPES`; None: no op), with overrides."""
    ops = dict(OP_DEFAULTS)
    if pipe is not None:
        for op in names.AUGMENT_PIPES[names.check_choice(pipe, tuple(names.AUGMENT_PIPES), "augpipe")]:
            ops[op] = 1.0
    unknown = sorted(set(overrides) - set(OP_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown augmentation option(s) {', '.join(unknown)}; expected some of "
                         f"{', '.join(OP_DEFAULTS)}.")
    ops.update(overrides)
    return ops


# ----------------------------------------------------------------------------------------------
# Random parameters.


class RandomDraws:
    """Parameters from TensorFlow's stateful random ops (eager use, previews)."""

    def __init__(self, batch):
        self.batch = batch

    def uniform(self, tail, low, high):
        return tf.random.uniform([self.batch] + list(tail), low, high)

    def normal(self, tail, std):
        return tf.random.normal([self.batch] + list(tail), 0.0, std)

    def noise_image(self, shape):
        return tf.random.normal(shape)


class StatelessDraws:
    """Parameters from a stateless seed [2]: each draw folds a counter into it. With `rows` =
    (global_batch, slot) the parameters are drawn for the global minibatch and the slot's rows taken
    (as the trainer's latents), so a run on N replicas augments as a run on one."""

    def __init__(self, seed, batch, rows=None):
        self.seed = seed
        self.batch = batch
        self.rows = rows
        self.count = 0

    def _seed(self):
        self.count += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.count, alg="philox")

    def _take(self, values):
        if self.rows is None:
            return values
        grouped = tf.reshape(values, [-1, self.batch] + values.shape.as_list()[1:])
        return tf.gather(grouped, self.rows[1])

    def _draw_batch(self):
        return self.batch if self.rows is None else self.rows[0]

    def uniform(self, tail, low, high):
        values = stateless_uniform([self._draw_batch()] + list(tail), self._seed())
        return self._take(low + (high - low) * values)

    def normal(self, tail, std):
        return self._take(stateless_normal([self._draw_batch()] + list(tail), self._seed()) * std)

    def noise_image(self, shape):
        seed = self._seed()
        if self.rows is not None:
            seed = tf.random.experimental.stateless_fold_in(seed, self.rows[1], alg="philox")
        return stateless_normal(shape, seed)


def _gate(draws, probability, values, disabled):
    """`values` where a per-image U[0,1) draw is below `probability`, else `disabled`."""
    on = draws.uniform([], 0.0, 1.0) < probability
    on = tf.reshape(on, [-1] + [1] * (values.shape.rank - 1))
    return tf.where(on, values, tf.cast(disabled, values.dtype) * tf.ones_like(values))


def _percentile(debug_percentile, batch, tail=()):
    return tf.broadcast_to(tf.constant(debug_percentile, tf.float32), [batch] + list(tail))


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
# The pipeline.


class AugmentPipeline:
    """The release's `augment_pipeline` with a preset's ops (`pipeline_ops`).

    Args:
        pipe: preset name (`names.AUGMENT_PIPES`: 'blit', 'geom', 'color', 'filter', 'noise', 'cutout',
            'bg', 'bgc', 'bgcf', 'bgcfn', 'bgcfnc'), or None to enable ops one by one.
        **overrides: any op multiplier or range of `OP_DEFAULTS` (e.g. xflip=0.5, noise_std=0.05).
    """

    def __init__(self, pipe="bgc", **overrides):
        self.pipe = pipe
        self.ops = pipeline_ops(pipe, **overrides)

    def __call__(self, images, p, draws=None, debug_percentile=None, static_padding=True):
        """Augments images.

        Args:
            images: [N, H, W, C] (C 1 or 3), dynamic range [-1, 1]; any float dtype.
            p: augmentation probability (a float or scalar tensor, e.g. ADA's variable).
            draws: the random parameters' source (default `RandomDraws`).
            debug_percentile: None, or a value in [0, 1] that replaces every random parameter by
                that percentile of its distribution (the release's visualization mode).
            static_padding: pad the warp's input by the largest margin it can need (W-1, H-1), a
                static shape for XLA; False pads by what the batch's transforms need, as the release.

        Returns:
            The augmented images, same shape and dtype.
        """
        dtype = images.dtype
        x = tf.cast(images, tf.float32)
        batch = x.shape[0]
        if batch is None:
            raise ValueError("the augmentation pipeline needs a static batch size.")
        self.check_size(x.shape[1], x.shape[2])
        draws = draws or RandomDraws(batch)
        p = tf.cast(p, tf.float32)
        geometric = self.geometric_matrix(batch, x.shape[1], x.shape[2], p, draws, debug_percentile)
        if geometric is not None:
            x = warp(x, geometric, static_padding)
        color = self.color_matrix(batch, x.shape[3], p, draws, debug_percentile)
        if color is not None:
            x = apply_color_matrix(x, color)
        if self.ops["imgfilter"] > 0:
            x = filter_bands(x, self.band_gains(batch, p, draws, debug_percentile))
        if self.ops["noise"] > 0:
            x = self._noise(x, p, draws, debug_percentile)
        if self.ops["cutout"] > 0:
            x = self._cutout(x, p, draws, debug_percentile)
        return tf.cast(x, dtype)

    def check_size(self, height, width):
        """ValueError for images too small for an enabled op (the filter bank's reflect padding)."""
        pad = BAND_FILTERS.shape[1] // 2
        if self.ops["imgfilter"] > 0 and min(height, width) <= pad:
            raise ValueError(f"the imgfilter augmentation (pipelines bgcf, bgcfn, bgcfnc, filter) needs images of "
                             f"at least {pad + 1}x{pad + 1}, got {height}x{width}; use bgc or a larger resolution.")

    # ---- parameters -----------------------------------------------------------------------------

    def geometric_matrix(self, batch, height, width, p, draws, debug_percentile=None):
        """The inverse 2D transform [N, 3, 3] (output pixel -> input pixel, centred coordinates) of
        the blit and geometric ops, or None when the pipeline has none."""
        o, pct = self.ops, debug_percentile
        matrices = []
        if o["xflip"] > 0:
            i = tf.floor(draws.uniform([], 0.0, 2.0))
            i = _gate(draws, o["xflip"] * p, i, 0)
            if pct is not None:
                i = tf.floor(_percentile(pct, batch) * 2)
            matrices.append(scale2d(1 / (1 - 2 * i), 1, batch))
        if o["rotate90"] > 0:
            i = tf.floor(draws.uniform([], 0.0, 4.0))
            i = _gate(draws, o["rotate90"] * p, i, 0)
            if pct is not None:
                i = tf.floor(_percentile(pct, batch) * 4)
            matrices.append(rotate2d(np.pi / 2 * i, batch))
        if o["xint"] > 0:
            t = draws.uniform([2], -o["xint_max"], o["xint_max"])
            t = _gate(draws, o["xint"] * p, t, 0)
            if pct is not None:
                t = (_percentile(pct, batch, [2]) * 2 - 1) * o["xint_max"]
            matrices.append(translate2d(-tf.math.rint(t[:, 0] * width), -tf.math.rint(t[:, 1] * height), batch))
        if o["scale"] > 0:
            s = 2 ** draws.normal([], o["scale_std"])
            s = _gate(draws, o["scale"] * p, s, 1)
            if pct is not None:
                s = 2 ** (tf.math.erfinv(_percentile(pct, batch) * 2 - 1) * o["scale_std"])
            matrices.append(scale2d(1 / s, 1 / s, batch))
        # P(pre-rotation or post-rotation) = rotate * p.
        p_rot = 1 - tf.sqrt(tf.maximum(1 - o["rotate"] * p, 0.0))
        if o["rotate"] > 0:
            theta = draws.uniform([], -np.pi * o["rotate_max"], np.pi * o["rotate_max"])
            theta = _gate(draws, p_rot, theta, 0)
            if pct is not None:
                theta = (_percentile(pct, batch) * 2 - 1) * np.pi * o["rotate_max"]
            matrices.append(rotate2d(theta, batch))
        if o["aniso"] > 0:
            s = 2 ** draws.normal([], o["aniso_std"])
            s = _gate(draws, o["aniso"] * p, s, 1)
            if pct is not None:
                s = 2 ** (tf.math.erfinv(_percentile(pct, batch) * 2 - 1) * o["aniso_std"])
            matrices.append(scale2d(1 / s, s, batch))
        if o["rotate"] > 0:
            theta = draws.uniform([], -np.pi * o["rotate_max"], np.pi * o["rotate_max"])
            theta = _gate(draws, p_rot, theta, 0)
            if pct is not None:
                theta = tf.zeros([batch])
            matrices.append(rotate2d(theta, batch))
        if o["xfrac"] > 0:
            t = draws.normal([2], o["xfrac_std"])
            t = _gate(draws, o["xfrac"] * p, t, 0)
            if pct is not None:
                t = tf.math.erfinv(_percentile(pct, batch, [2]) * 2 - 1) * o["xfrac_std"]
            matrices.append(translate2d(-t[:, 0] * width, -t[:, 1] * height, batch))
        if not matrices:
            return None
        result = matrices[0]
        for matrix in matrices[1:]:
            result = result @ matrix
        return result

    def color_matrix(self, batch, channels, p, draws, debug_percentile=None):
        """The colour transform [N, 4, 4] (homogeneous RGB) of the colour ops, or None."""
        o, pct = self.ops, debug_percentile
        eye = tf.eye(4, batch_shape=[batch])
        color = None

        def then(matrix):
            return matrix if color is None else matrix @ color

        if o["brightness"] > 0:
            b = draws.normal([], o["brightness_std"])
            b = _gate(draws, o["brightness"] * p, b, 0)
            if pct is not None:
                b = tf.math.erfinv(_percentile(pct, batch) * 2 - 1) * o["brightness_std"]
            color = then(translate3d(b, b, b, batch))
        if o["contrast"] > 0:
            c = 2 ** draws.normal([], o["contrast_std"])
            c = _gate(draws, o["contrast"] * p, c, 1)
            if pct is not None:
                c = 2 ** (tf.math.erfinv(_percentile(pct, batch) * 2 - 1) * o["contrast_std"])
            color = then(scale3d(c, c, c, batch))
        luma = np.outer(LUMA_AXIS, LUMA_AXIS).astype(np.float32)
        if o["lumaflip"] > 0:
            i = tf.floor(draws.uniform([], 0.0, 2.0))
            i = _gate(draws, o["lumaflip"] * p, i, 0)
            if pct is not None:
                i = tf.floor(_percentile(pct, batch) * 2)
            color = then(eye - 2 * luma * i[:, None, None])  # Householder reflection about the luma axis
        if o["hue"] > 0 and channels > 1:
            theta = draws.uniform([], -np.pi * o["hue_max"], np.pi * o["hue_max"])
            theta = _gate(draws, o["hue"] * p, theta, 0)
            if pct is not None:
                theta = (_percentile(pct, batch) * 2 - 1) * np.pi * o["hue_max"]
            color = then(rotate3d(LUMA_AXIS, theta, batch))
        if o["saturation"] > 0 and channels > 1:
            s = 2 ** draws.normal([], o["saturation_std"])
            s = _gate(draws, o["saturation"] * p, s, 1)
            if pct is not None:
                s = 2 ** (tf.math.erfinv(_percentile(pct, batch) * 2 - 1) * o["saturation_std"])
            color = then(luma + (eye - luma) * s[:, None, None])
        return color

    def band_gains(self, batch, p, draws, debug_percentile=None):
        """[N, 4] gains of the filter bank's bands, normalised to the expected power spectrum."""
        o = self.ops
        power = tf.constant(BAND_EXPECTED_POWER, tf.float32)
        gains = tf.ones([batch, 4])
        for band, band_strength in enumerate(o["imgfilter_bands"]):
            gain = 2 ** draws.normal([], o["imgfilter_std"])
            gain = _gate(draws, o["imgfilter"] * p * band_strength, gain, 1)
            if debug_percentile is not None:
                gain = (2 ** (tf.math.erfinv(_percentile(debug_percentile, batch) * 2 - 1) * o["imgfilter_std"])
                        if band_strength > 0 else tf.ones([batch]))
            one = tf.one_hot(band, 4)
            band_gains = 1 + (gain[:, None] - 1) * one  # this band's gain, 1 elsewhere
            band_gains /= tf.sqrt(tf.reduce_sum(power * tf.square(band_gains), axis=-1, keepdims=True))
            gains *= band_gains
        return gains

    def _noise(self, x, p, draws, pct):
        sigma = tf.abs(draws.normal([], self.ops["noise_std"]))
        sigma = _gate(draws, self.ops["noise"] * p, sigma, 0)
        if pct is not None:
            sigma = tf.math.erfinv(_percentile(pct, x.shape[0])) * self.ops["noise_std"]
        return x + draws.noise_image(x.shape) * sigma[:, None, None, None]

    def _cutout(self, x, p, draws, pct):
        batch, height, width = x.shape[0], x.shape[1], x.shape[2]
        size = tf.fill([batch, 2], float(self.ops["cutout_size"]))
        size = _gate(draws, self.ops["cutout"] * p, size, 0)
        center = draws.uniform([2], 0.0, 1.0)
        if pct is not None:
            size = tf.fill([batch, 2], float(self.ops["cutout_size"]))
            center = _percentile(pct, batch, [2])
        coord_x = (tf.range(width, dtype=tf.float32) + 0.5) / width
        coord_y = (tf.range(height, dtype=tf.float32) + 0.5) / height
        outside_x = tf.abs(coord_x[None, None, :] - center[:, 0, None, None]) >= size[:, 0, None, None] / 2
        outside_y = tf.abs(coord_y[None, :, None] - center[:, 1, None, None]) >= size[:, 1, None, None] / 2
        return x * tf.cast(tf.logical_or(outside_x, outside_y), tf.float32)[..., None]


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
