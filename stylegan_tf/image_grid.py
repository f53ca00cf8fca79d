"""Training snapshot grids as the original writes them (`misc.save_image_grid`, SPEC §6.7).

Images are NHWC. Image i goes to column `i mod grid_w`, row `i // grid_w` (`images.image_grid`);
values are mapped from `drange` to [0, 255], rounded with `rint` and clipped, as the original's
`convert_to_pil_image` (not the half-up `images.to_uint8` of its generation scripts).
"""

import numpy as np

from stylegan_tf import images as images_lib


def adjust_dynamic_range(data, drange_in, drange_out):
    """Linear map of `data` from `drange_in` to `drange_out` in float32, as the original."""
    if list(drange_in) != list(drange_out):
        scale = (np.float32(drange_out[1]) - np.float32(drange_out[0])) / (
            np.float32(drange_in[1]) - np.float32(drange_in[0]))
        bias = np.float32(drange_out[0]) - np.float32(drange_in[0]) * scale
        data = data * scale + bias
    return data


def rint_uint8(image, drange):
    """Float image(s) in `drange` -> uint8 with the original grid's `rint` + clip."""
    image = adjust_dynamic_range(np.asarray(image, dtype=np.float32), drange, [0, 255])
    return np.rint(image).clip(0, 255).astype(np.uint8)


def grid_uint8(images, grid_size, drange):
    """The uint8 grid [grid_h * H, grid_w * W, C] of `images` [N, H, W, C] in `drange`."""
    return rint_uint8(images_lib.image_grid(images, grid_size), drange)


def save_image_grid(images, path, drange, grid_size):
    """Writes the grid of `images` [N, H, W, C] (C = 1 or 3) as PNG, atomically.

    Args:
        images: NumPy array [N, H, W, C].
        path: output .png path.
        drange: value range of `images`, e.g. [-1, 1] for network outputs, [0, 255] for uint8.
        grid_size: (grid_w, grid_h).
    """
    images_lib.save_png(path, grid_uint8(images, grid_size, drange))
