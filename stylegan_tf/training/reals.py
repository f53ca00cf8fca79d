"""The original's just-in-time processing of a real minibatch before D sees it (`training/training_loop.py`)."""

import tensorflow as tf

from stylegan_tf import images as image_utils
from stylegan_tf import ops


def process_reals(images, lod, mirror_augment, drange_data, drange_net, resolution,
                  mirror_random=None):
    """The original's just-in-time processing of a real minibatch, NHWC.

    Args:
        images: [N, h, w, C] as read at resolution h = 2**(log2(R) - floor(lod)) (uint8 or float).
        lod: scalar float tensor.
        mirror_augment: flip each image horizontally with probability 0.5.
        drange_data, drange_net: value ranges of the data and of the networks.
        resolution: network resolution R; images are upscaled (nearest) to R x R.
        mirror_random: U[0, 1) values [N] deciding the flips (< 0.5 keeps the image); None draws.

    Returns:
        float32 [N, R, R, C].
    """
    x = tf.cast(images, tf.float32)
    x = image_utils.adjust_dynamic_range(x, drange_data, drange_net)
    if mirror_augment:
        if mirror_random is None:
            mirror_random = tf.random.uniform([tf.shape(x)[0]], 0.0, 1.0)
        x = ops.mirror(x, mirror_random >= 0.5)
    # Smooth crossfade towards the coarser level while the new one fades in.
    lod = tf.cast(lod, tf.float32)
    coarse = ops.upscale2d(ops.downscale2d(x))
    x = ops.lerp(x, coarse, lod - tf.floor(lod))
    height = images.shape[1]
    if resolution % height:
        raise ValueError(f"reals of size {height} do not divide the resolution {resolution}.")
    return ops.upscale2d(x, resolution // height)
