"""Image conversion, grids and PNG output (NHWC).

`to_uint8` is the original release's `convert_images_to_uint8` (`dnnlib/tflib/tfutil.py`): map the dynamic range
to [0, 255] with `x * 255 / (hi - lo) + 0.5 - lo * 255 / (hi - lo)` (for [-1, 1]: `x * 127.5 + 128`)
in float32, then a saturating cast (clamp to [0, 255], truncate), i.e. round half up.
"""

import pathlib

import numpy as np
import PIL.Image
import tensorflow as tf

from stylegan_tf import fileio

_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def _uint8_scale_and_offset(drange):
    low, high = float(drange[0]), float(drange[1])
    if high <= low:
        raise ValueError(f"drange must be (low, high) with low < high, got {drange!r}.")
    scale = 255.0 / (high - low)
    return np.float32(scale), np.float32(0.5 - low * scale)


def to_uint8(images, drange=(-1, 1)):
    """Float images (NumPy or tensor, any shape, usually NHWC) -> np.uint8 of the same shape.

    Args:
        images: float values nominally in `drange`; values outside saturate at 0 / 255.
        drange: (low, high) mapped to (0, 255).
    """
    scale, offset = _uint8_scale_and_offset(drange)
    values = np.asarray(images, dtype=np.float32) * scale + offset
    # Clamp first so the float -> int cast truncates inside [0, 255] (tf.saturate_cast semantics);
    # NaN maps to 0 as on TF's CPU kernels.
    return np.nan_to_num(np.clip(values, 0.0, 255.0), nan=0.0).astype(np.uint8)


def to_uint8_tensor(images, drange=(-1, 1)):
    """`to_uint8` inside a TensorFlow graph (for exported serving functions)."""
    scale, offset = _uint8_scale_and_offset(drange)
    images = tf.cast(images, tf.float32)
    return tf.saturate_cast(images * scale + offset, tf.uint8)


def image_grid(images, grid_size=None):
    """Tiles images [N, H, W, C] into one [rows * H, cols * W, C] array (unused cells are 0).

    Args:
        images: array [N, H, W, C] (or [N, H, W]).
        grid_size: (cols, rows); default: the original's near-square layout,
            cols = ceil(sqrt(N)), rows = ceil(N / cols).
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or images.shape[0] == 0:
        raise ValueError(f"image_grid expects a non-empty batch [N, H, W(, C)], got shape "
                         f"{images.shape}.")
    count, height, width = images.shape[:3]
    if grid_size is None:
        cols = max(int(np.ceil(np.sqrt(count))), 1)
        rows = max((count - 1) // cols + 1, 1)
    else:
        cols, rows = (int(value) for value in grid_size)
        if cols < 1 or rows < 1 or cols * rows < count:
            raise ValueError(f"grid_size {grid_size} (cols, rows) cannot hold {count} images.")
    grid = np.zeros((rows * height, cols * width) + images.shape[3:], dtype=images.dtype)
    for index, image in enumerate(images):
        y, x = (index // cols) * height, (index % cols) * width
        grid[y:y + height, x:x + width] = image
    return grid


def to_pil(image):
    """One uint8 image [H, W], [H, W, 1], [H, W, 3] or [H, W, 4] -> PIL image (L / RGB / RGBA)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}; convert with to_uint8().")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.ndim not in (2, 3) or channels not in _PIL_MODES:
        raise ValueError(f"cannot save an image of shape {image.shape} (1, 3 or 4 channels).")
    return PIL.Image.fromarray(image, _PIL_MODES[channels])


def save_png(path, image):
    """Writes a uint8 array or a PIL image as PNG via a temporary file and a rename.

    Args:
        path: destination; its folder is created if needed.
        image: uint8 [H, W(, C)] array or PIL.Image.
    Returns:
        pathlib.Path of the written file.
    """
    path = pathlib.Path(path)
    pil_image = image if isinstance(image, PIL.Image.Image) else to_pil(image)
    with fileio.atomic_write(path) as file:
        pil_image.save(file, format="PNG")
    return path


# ----------------------------------------------------------------------------------------------
# Training snapshot grids as the original writes them (`misc.save_image_grid`): image i goes to
# column `i mod grid_w`, row `i // grid_w`; values are mapped from `drange` to [0, 255], rounded
# with `rint` and clipped, as the original's `convert_to_pil_image` (not the half-up `to_uint8`
# of its generation scripts).


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
    return rint_uint8(image_grid(images, grid_size), drange)


def save_image_grid(images, path, drange, grid_size):
    """Writes the grid of `images` [N, H, W, C] (C = 1 or 3) as PNG, atomically.

    Args:
        images: NumPy array [N, H, W, C].
        path: output .png path.
        drange: value range of `images`, e.g. [-1, 1] for network outputs, [0, 255] for uint8.
        grid_size: (grid_w, grid_h).
    """
    save_png(path, grid_uint8(images, grid_size, drange))
