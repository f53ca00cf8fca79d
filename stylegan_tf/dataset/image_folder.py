"""`create_from_images`: a folder of PNG/JPEG/... images -> a dataset, every file checked before writing."""
import collections
import dataclasses
import glob
import os

import numpy as np
import PIL.Image

from stylegan_tf import network_limits
from stylegan_tf.dataset.tfrecord_format import is_power_of_two, shuffled_order
from stylegan_tf.dataset.writer import (
    MAX_LISTED_FILES,
    DatasetError,
    ExportOptions,
    check_target,
    export_items,
    format_files,
    ordered_parallel_map,
    say,
)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")


CONVERT_CHOICES = ("rgb", "grayscale")


TRANSFORM_CHOICES = ("center-crop", "pad")


@dataclasses.dataclass(frozen=True)
class ImageOptions:
    """How create_from_images treats images that the original would refuse.

    Args:
        convert: None (the original: every image RGB, or every image grayscale; anything else is an error),
            'rgb' or 'grayscale' (convert every image; alpha is composited onto black, 16-bit is scaled to 8).
        transform: None (images must be square), 'center-crop' (keep the central square) or 'pad' (pad to a
            square with black, centred).
        resolution: None (no resampling: sizes must agree and, after the transform, be a power of two; crop
            takes the largest power of two that fits, pad the smallest that holds the image), or the output
            resolution (power of two >= 4): every image is transformed to a square and Lanczos-resized to it.
    """
    convert: str | None = None
    transform: str | None = None
    resolution: int | None = None

    def __post_init__(self):
        if self.convert not in (None,) + CONVERT_CHOICES:
            raise DatasetError(f"convert must be one of {CONVERT_CHOICES}, got {self.convert!r}")
        if self.transform not in (None,) + TRANSFORM_CHOICES:
            raise DatasetError(f"transform must be one of {TRANSFORM_CHOICES}, got {self.transform!r}")
        if self.resolution is not None and not is_power_of_two(self.resolution, minimum=4):
            raise DatasetError(f"resolution must be a power of two >= 4, got {self.resolution}")


_NATIVE_MODES = {"RGB": 3, "L": 1}


_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")


def list_image_files(image_dir):
    """Image files directly in image_dir, sorted like the original (`sorted(glob(image_dir/*))`).

    Files with other extensions (README.md, ...) and folders are skipped; the original would have failed on them.

    Returns:
        (image_paths, skipped_paths)
    """
    if not os.path.isdir(image_dir):
        raise DatasetError(f'image directory "{image_dir}" does not exist')
    images, skipped = [], []
    for path in sorted(glob.glob(os.path.join(image_dir, "*"))):
        if os.path.isfile(path) and path.lower().endswith(IMAGE_EXTENSIONS):
            images.append(path)
        else:
            skipped.append(path)
    return images, skipped


def _read_header(path):
    """(mode, (width, height)) of an image file, or an error string; reads the header only."""
    try:
        with PIL.Image.open(path) as img:
            return img.mode, img.size
    except Exception as error:  # pylint: disable=broad-except  # Reported, with the file name, by the caller.
        return f"{type(error).__name__}: {error}", None


def _output_side(size, options):
    """Side of the square an image of this size becomes, or None if it cannot become one."""
    width, height = size
    if options.transform is None and width != height:
        return None
    if options.resolution is not None:
        return options.resolution
    if options.transform == "center-crop":
        return 2 ** int(np.floor(np.log2(min(width, height))))
    if options.transform == "pad":
        return 2 ** int(np.ceil(np.log2(max(width, height))))
    return width


def plan_image_export(paths, headers, options):
    """Checks every image header against the options before anything is written.

    Args:
        paths: image file paths.
        headers: (mode, size) or (error string, None) for each path, from _read_header.
        options: ImageOptions.

    Returns:
        (mode, resolution): the PIL mode every image is brought to ('RGB' or 'L') and the output side.

    Raises:
        DatasetError: naming the files and their problems.
    """
    problems = []
    unreadable = [(path, mode) for path, (mode, size) in zip(paths, headers) if size is None]
    if unreadable:
        details = "; ".join(f"{os.path.basename(path)} ({error})" for path, error in unreadable[:MAX_LISTED_FILES])
        more = f"; and {len(unreadable) - MAX_LISTED_FILES} more" if len(unreadable) > MAX_LISTED_FILES else ""
        problems.append(f"{len(unreadable)} file(s) cannot be read as images: {details}{more}")
    readable = [(path, mode, size) for path, (mode, size) in zip(paths, headers) if size is not None]
    if not readable:
        raise DatasetError("\n  ".join(problems))

    # Channels: the first image decides, as in the original, unless a conversion is asked for.
    if options.convert is not None:
        target_mode = "RGB" if options.convert == "rgb" else "L"
    else:
        target_mode = readable[0][1] if readable[0][1] in _NATIVE_MODES else "RGB"
        by_mode = collections.defaultdict(list)
        for path, mode, _ in readable:
            if mode not in _NATIVE_MODES:
                by_mode[mode].append(path)
        if by_mode:
            listed = "; ".join(f"mode {mode}: {format_files(files)}" for mode, files in sorted(by_mode.items()))
            count = sum(len(files) for files in by_mode.values())
            problems.append(f"Input images must be stored as RGB or grayscale; {count} image(s) are not ({listed}). "
                            "Pass --convert rgb or --convert grayscale to convert them")
        mixed = [path for path, mode, _ in readable if mode in _NATIVE_MODES and mode != target_mode]
        if mixed:
            kind = "grayscale" if target_mode == "RGB" else "RGB"
            problems.append(f"Input images have mixed channels: the first image is {target_mode} but {len(mixed)} "
                            f"image(s) are {kind}: {format_files(mixed)}. Pass --convert rgb or --convert grayscale")

    # Geometry.
    not_square = [path for path, _, size in readable if _output_side(size, options) is None]
    if not_square:
        problems.append(f"Input images must have the same width and height; {len(not_square)} image(s) do not: "
                        f"{format_files(not_square)}. Pass --transform center-crop or --transform pad")
    sides = [(path, _output_side(size, options), size) for path, _, size in readable]
    sides = [entry for entry in sides if entry[1] is not None]
    resolution = None
    if sides:
        first_path, resolution, first_size = sides[0]
        different = [path for path, side, _ in sides if side != resolution]
        if different:
            problems.append(f"Input images have different sizes: {os.path.basename(first_path)} is "
                            f"{first_size[0]}x{first_size[1]} but {len(different)} image(s) differ: "
                            f"{format_files(different)}. Pass --resolution N to resize them all")
        elif not is_power_of_two(resolution):
            problems.append(f"Input image resolution must be a power-of-two, got {resolution}x{resolution}. "
                            "Pass --resolution N to resize, or --transform center-crop / pad")
        elif resolution < 4:
            problems.append(f"Input image resolution must be at least 4x4, got {resolution}x{resolution}")
        elif resolution > network_limits.MAX_SIZES["resolution"]:
            problems.append(f"The images would become {resolution}x{resolution}, more than the "
                            f"{network_limits.MAX_SIZES['resolution']}x{network_limits.MAX_SIZES['resolution']} any "
                            "network takes (network_limits.MAX_SIZES). Pass --resolution N")
    if problems:
        raise DatasetError("\n  ".join(problems))
    return target_mode, resolution


def _convert_mode(img, target_mode):
    """Converts a PIL image to 'RGB' or 'L': alpha composited onto black, 16-bit scaled to 8 bits."""
    if img.mode == target_mode:
        return img
    if img.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(img).astype(np.float64) / 257.0
        img = PIL.Image.fromarray(np.rint(values).clip(0, 255).astype(np.uint8), "L")
        return img if target_mode == "L" else img.convert(target_mode)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        black = PIL.Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = PIL.Image.alpha_composite(black, rgba)
    return img.convert(target_mode)


def _fit(img, side, options):
    """Brings a PIL image to side x side by the requested transform (and resize)."""
    width, height = img.size
    if options.transform == "center-crop":
        crop = min(width, height) if options.resolution is not None else side
        left, top = (width - crop) // 2, (height - crop) // 2
        img = img.crop((left, top, left + crop, top + crop))
    elif options.transform == "pad":
        if options.resolution is not None and max(width, height) > side:
            # Shrink first, then pad: a canvas of the long side (60000² for a 1x60000 image) would not fit.
            scale = side / max(width, height)
            img = img.resize((max(1, round(width * scale)), max(1, round(height * scale))), PIL.Image.LANCZOS)
            width, height = img.size
        square = max(width, height) if options.resolution is not None else side
        canvas = PIL.Image.new(img.mode, (square, square), 0)
        canvas.paste(img, ((square - width) // 2, (square - height) // 2))
        img = canvas
    if img.size != (side, side):
        img = img.resize((side, side), PIL.Image.LANCZOS)
    return img


def load_image(path, mode, side, options):
    """Decodes one image file to CHW uint8, as planned.

    Args:
        path: image file.
        mode: 'RGB' or 'L', from plan_image_export.
        side: output resolution, from plan_image_export.
        options: ImageOptions.

    Raises:
        DatasetError: naming the file, if it cannot be decoded or does not match the plan.
    """
    try:
        with PIL.Image.open(path) as img:
            img.load()
            if options.convert is not None:
                img = _convert_mode(img, mode)
            if options.transform is not None or img.size != (side, side):
                img = _fit(img, side, options)
            array = np.asarray(img)
    except DatasetError:
        raise
    except Exception as error:  # pylint: disable=broad-except  # PIL raises many types for bad files.
        raise DatasetError(f'cannot read image "{path}": {type(error).__name__}: {error}') from error
    channels = _NATIVE_MODES[mode]
    expected = (side, side, channels) if channels == 3 else (side, side)
    if array.shape != expected or array.dtype != np.uint8:
        raise DatasetError(f'image "{path}" decodes to {array.dtype} {list(array.shape)}, expected uint8 '
                           f"{list(expected)} like the others (its header did not tell)")
    return array[np.newaxis] if channels == 1 else array.transpose(2, 0, 1)


def create_from_images(tfrecord_dir, image_dir, shuffle=True, image_options=None, options=None):
    """Creates a dataset from a directory of images (sorted by name; shuffled with seed 123 unless shuffle=False).

    Args:
        tfrecord_dir: dataset directory to create.
        image_dir: folder holding the images (PNG, JPEG, ...); other files are skipped.
        shuffle: store the images in the original's shuffled order (else in sorted file order).
        image_options: ImageOptions for inputs the original refuses (None: behave as the original).
        options: ExportOptions.
    """
    image_options = image_options or ImageOptions()
    options = options or ExportOptions()
    say(options, f'Loading images from "{image_dir}"')
    check_target(tfrecord_dir, options.overwrite)
    paths, skipped = list_image_files(image_dir)
    if not paths:
        raise DatasetError(f'No input images found in "{image_dir}"')
    if skipped:
        say(options, f"Skipping {len(skipped)} entries that are not image files: {format_files(skipped)}")
    headers = list(ordered_parallel_map(_read_header, paths, options.num_workers))
    mode, side = plan_image_export(paths, headers, image_options)
    order = shuffled_order(len(paths)) if shuffle else np.arange(len(paths))
    ordered_paths = [paths[index] for index in order]
    return export_items(tfrecord_dir, ordered_paths, lambda path: load_image(path, mode, side, image_options),
                   len(paths), options, desc="Images")
