"""Writing multi-resolution TFRecord datasets in the original StyleGAN format, and the source readers.

A dataset directory `D/` holds one uncompressed TFRecord file per resolution, `D/<basename(D)>-rNN.tfrecords`
with NN = log2(resolution), from the full resolution down to 4x4, and optionally `D/<basename(D)>-rxx.labels`
(`np.save` of float32 [num_images, label_size]). Every record is a `tf.train.Example` with the features
`shape` (int64 [C, H, W]) and `data` (the image as uint8 CHW bytes); record i of every file is the same image.
Lower resolutions are 2x2 means computed in float32 from the previous level's unrounded values, stored rounded
half-to-even. The files we write are byte-identical to the original `dataset_tool.py`'s (which serialized
`shape` before `data`).

Library code: every function takes plain arguments; the command line lives in `dataset_tool.py`.
Nothing half-written is ever left behind: the exporter writes into a temporary directory next to the
target and renames it into place only when every image and the labels are written.
"""
import collections
import concurrent.futures
import dataclasses
import functools
import glob
import gzip
import io
import os
import pickle
import shutil
import tempfile

import numpy as np
import PIL.Image
import tqdm

SHUFFLE_SEED = 123  # The original's fixed seed for the record order.

# Record counts the original asserts for each classic dataset; a different count means a wrong or partial download.
# Module-level so that tests can shrink them.
EXPECTED_COUNTS = {
    "mnist": 60000,
    "cifar10": 50000,
    "cifar100": 50000,
    "svhn": 73257,
    "celeba": 202599,
}

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
CONVERT_CHOICES = ("rgb", "grayscale")
TRANSFORM_CHOICES = ("center-crop", "pad")

_MAX_LISTED_FILES = 5


class DatasetError(ValueError):
    """A user-facing problem with the input or the target (printed as `Error: ...` by the tools)."""


# ----------------------------------------------------------------------------------------------------------------
# Record encoding.


def _varint(value):
    """Protobuf base-128 varint of a non-negative int."""
    out = bytearray()
    while True:
        low7 = value & 0x7F
        value >>= 7
        if value:
            out.append(low7 | 0x80)
        else:
            out.append(low7)
            return bytes(out)


def _length_delimited(field_number, payload_len):
    """Tag and length of a length-delimited (wire type 2) protobuf field; the payload follows."""
    return _varint((field_number << 3) | 2) + _varint(payload_len)


@functools.lru_cache(maxsize=64)
def _cached_layout(shape):
    return example_layout(shape)


def example_layout(shape, data_first=False):
    """The bytes around the pixel data in a serialized image record: record = prefix + data + suffix.

    Records hold a `tf.train.Example` whose feature map has two entries, `shape` (int64 [C, H, W], packed)
    and `data` (one bytes value of C*H*W uint8). For a given shape every byte outside the data is fixed once
    the entry order is: the original tool wrote `shape` first (its dict order); protobuf's deterministic mode
    sorts keys, giving `data` first. The reader uses this to check and slice records without parsing them.

    Args:
        shape: [C, H, W].
        data_first: the `data` entry precedes the `shape` entry.

    Returns:
        (prefix, suffix) bytes.
    """
    data_len = int(np.prod(shape))
    packed_shape = b"".join(_varint(int(dim)) for dim in shape)
    # Feature{int64_list (3): Int64List{value (1), packed}}
    int64_list = _length_delimited(1, len(packed_shape)) + packed_shape
    shape_feature = _length_delimited(3, len(int64_list)) + int64_list
    # Feature{bytes_list (1): BytesList{value (1): data}}, up to the data.
    bytes_value_head = _length_delimited(1, data_len)
    data_feature_head = _length_delimited(1, len(bytes_value_head) + data_len) + bytes_value_head
    data_feature_len = len(data_feature_head) + data_len
    # Features{feature (1): map entry{key (1), value (2)}} per feature.
    shape_entry = _length_delimited(1, 5) + b"shape" + _length_delimited(2, len(shape_feature)) + shape_feature
    shape_item = _length_delimited(1, len(shape_entry)) + shape_entry
    data_entry_head = _length_delimited(1, 4) + b"data" + _length_delimited(2, data_feature_len) + data_feature_head
    data_item_head = _length_delimited(1, len(data_entry_head) + data_len) + data_entry_head
    features_len = len(shape_item) + len(data_item_head) + data_len
    example_head = _length_delimited(1, features_len)  # Example{features (1)}
    if data_first:
        return example_head + data_item_head, shape_item
    return example_head + shape_item + data_item_head, b""


def serialize_example(image):
    """Serializes one CHW uint8 image exactly as the original tool did (`shape` entry first).

    Hand-encoded because protobuf's own serializers order map entries arbitrarily (upb) or by key
    (deterministic mode); see example_layout.

    Args:
        image: np.ndarray uint8 [C, H, W].

    Returns:
        bytes of the serialized tf.train.Example.
    """
    assert image.dtype == np.uint8 and image.ndim == 3
    prefix, suffix = _cached_layout(tuple(image.shape))
    return b"".join([prefix, np.ascontiguousarray(image).tobytes(), suffix])


def mip_levels(image):
    """The image at every stored resolution, full size first, down to 4x4, computed the original's way.

    Args:
        image: np.ndarray [C, H, W] (uint8, or any real dtype in [0, 255]), H == W a power of two >= 4.

    Returns:
        list of np.ndarray uint8 [C, H / 2**k, W / 2**k], k = 0 .. log2(H) - 2.
    """
    num_levels = int(np.log2(image.shape[1])) - 1
    level = image
    levels = []
    for lod in range(num_levels):
        if lod:
            # float32 sums of the previous level's unrounded values, in the original's order.
            level = level.astype(np.float32)
            level = (level[:, 0::2, 0::2] + level[:, 0::2, 1::2] + level[:, 1::2, 0::2] + level[:, 1::2, 1::2]) * 0.25
        if level.dtype == np.uint8:
            levels.append(level)
        else:
            levels.append(np.rint(level).clip(0, 255).astype(np.uint8))
    return levels


def encode_image(image):
    """Serialized records of one CHW image at every resolution (full size first); safe to call from threads."""
    return [serialize_example(level) for level in mip_levels(image)]


def shuffled_order(num_images):
    """The original's record order: a permutation of range(num_images) from RandomState(123)."""
    order = np.arange(num_images)
    np.random.RandomState(SHUFFLE_SEED).shuffle(order)
    return order


def default_num_workers():
    """Threads for decoding: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # Not on Linux.
        return max(1, os.cpu_count() or 1)


def ordered_parallel_map(func, items, num_workers=None, max_in_flight=None):
    """Yields func(item) for every item, in order, computed by a pool of threads.

    Threads suffice because the heavy parts (image decoding, NumPy, zlib) release the GIL. `items` is
    consumed in the calling thread, so sources that are not thread-safe (HDF5, LMDB cursors) can feed it.
    An exception in func is raised here, at that item's position; closing the generator cancels the rest.

    Args:
        func: callable taking one item.
        items: iterable of items.
        num_workers: thread count (None: one per core; 1: no threads).
        max_in_flight: bound on items submitted but not yet yielded (default: 4 per thread).
    """
    num_workers = num_workers or default_num_workers()
    if num_workers <= 1:
        for item in items:
            yield func(item)
        return
    max_in_flight = max_in_flight or 4 * num_workers
    pool = concurrent.futures.ThreadPoolExecutor(num_workers, thread_name_prefix="dataset_tool")
    pending = collections.deque()
    try:
        for item in items:
            pending.append(pool.submit(func, item))
            if len(pending) >= max_in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ----------------------------------------------------------------------------------------------------------------
# The exporter.


def _open_record_writer(path):
    """A TFRecord writer for one file (a module-level hook so that tests can simulate disk errors)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  # Only writing needs TensorFlow.
    return tf.io.TFRecordWriter(path)


def _import_tensorflow():
    """Imports TensorFlow (seconds) before a progress bar starts, so that the bar's rate means something."""
    import tensorflow  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import


def check_target(tfrecord_dir, overwrite=False):
    """Raises DatasetError if tfrecord_dir may not be (re)created.

    An existing empty directory is taken as absent; anything else needs overwrite=True.
    """
    if os.path.lexists(tfrecord_dir):
        if os.path.isdir(tfrecord_dir) and not os.path.islink(tfrecord_dir):
            if os.listdir(tfrecord_dir) and not overwrite:
                raise DatasetError(f'"{tfrecord_dir}" already exists and is not empty; '
                                   "pass --overwrite to replace it")
        elif not overwrite:
            raise DatasetError(f'"{tfrecord_dir}" already exists and is not a directory; '
                               "pass --overwrite to replace it")


def atomic_replace_dir(temp_dir, target_dir):
    """Moves the finished temp_dir to target_dir, replacing whatever was there (checked by the caller).

    The old target is first renamed aside, so a failure in between leaves either the old or the new one.
    """
    parent = os.path.dirname(os.path.abspath(target_dir))
    old = None
    if os.path.lexists(target_dir):
        if os.path.isdir(target_dir) and not os.path.islink(target_dir) and not os.listdir(target_dir):
            os.rmdir(target_dir)
        else:
            old = tempfile.mkdtemp(prefix="." + os.path.basename(target_dir) + ".old-", dir=parent)
            os.rename(target_dir, os.path.join(old, "old"))
    os.rename(temp_dir, target_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def make_temp_dir_beside(target_dir):
    """An empty temporary directory in target_dir's parent (same file system, so rename is atomic).

    It gets the permissions of a plain `mkdir` (mkdtemp's are owner-only), since it becomes the target.
    """
    parent = os.path.dirname(os.path.abspath(target_dir))
    os.makedirs(parent, exist_ok=True)
    temp_dir = tempfile.mkdtemp(prefix="." + os.path.basename(target_dir) + ".tmp-", dir=parent)
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(temp_dir, 0o777 & ~umask)
    return temp_dir


class TFRecordExporter:
    """Writes one multi-resolution TFRecord dataset; a context manager that commits on success.

    Images must be added in their final (shuffled) order; the first one fixes the shape. On leaving the
    `with` block normally, the files are closed and the directory is renamed into place; on an exception
    the temporary directory is deleted and the target is untouched.

    Args:
        tfrecord_dir: the dataset directory to create; its basename prefixes the file names.
        expected_images: count for the progress bar (None: unknown).
        overwrite: replace an existing non-empty target.
        progress: show a tqdm progress bar and the original's messages.
        progress_desc: label of the progress bar.
    """

    def __init__(self, tfrecord_dir, expected_images=None, overwrite=False, progress=True, progress_desc="Exporting"):
        self.tfrecord_dir = os.path.normpath(tfrecord_dir)
        self.name = os.path.basename(os.path.abspath(self.tfrecord_dir))
        self.expected_images = expected_images
        self.overwrite = overwrite
        self.progress = progress
        self.cur_images = 0
        self.shape = None
        self.resolution_log2 = None
        self._writers = []
        self._has_labels = False
        check_target(self.tfrecord_dir, overwrite)
        if progress:
            print(f'Creating dataset "{tfrecord_dir}"')
        _import_tensorflow()
        self._temp_dir = make_temp_dir_beside(self.tfrecord_dir)
        self._bar = tqdm.tqdm(total=expected_images, unit="img", desc=progress_desc, disable=not progress,
                              dynamic_ncols=True)

    def _path(self, suffix):
        return os.path.join(self._temp_dir, self.name + suffix)

    def _start(self, shape):
        channels, height, width = shape
        if channels not in (1, 3):
            raise DatasetError(f"images must have 1 or 3 channels, got shape [C, H, W] = {list(shape)}")
        if height != width:
            raise DatasetError(f"images must be square, got shape [C, H, W] = {list(shape)}")
        if height < 4 or height != 2 ** int(np.round(np.log2(height))):
            raise DatasetError(f"image resolution must be a power of two >= 4, got {height}")
        self.shape = tuple(shape)
        self.resolution_log2 = int(np.round(np.log2(height)))
        for lod in range(self.resolution_log2 - 1):
            self._writers.append(_open_record_writer(self._path(f"-r{self.resolution_log2 - lod:02d}.tfrecords")))

    def add_records(self, shape, records):
        """Adds one image given its serialized records (from encode_image).

        Args:
            shape: (C, H, W) of the full-resolution image.
            records: list of bytes, one per resolution, full size first.
        """
        if self.shape is None:
            self._start(shape)
        elif tuple(shape) != self.shape:
            raise DatasetError(f"image {self.cur_images} has shape [C, H, W] = {list(shape)}, "
                               f"but the first image has {list(self.shape)}")
        assert len(records) == len(self._writers)
        for writer, record in zip(self._writers, records):
            writer.write(record)
        self.cur_images += 1
        self._bar.update(1)

    def add_image(self, image):
        """Adds one image, np.ndarray [C, H, W] (uint8, or real values in [0, 255])."""
        image = np.asarray(image)
        if image.ndim != 3:
            raise DatasetError(f"images must be [C, H, W] arrays, got shape {list(image.shape)}")
        self.add_records(image.shape, encode_image(image))

    def add_labels(self, labels):
        """Writes `<name>-rxx.labels`: float32 [num_images, label_size], one row per added image, same order."""
        labels = np.asarray(labels, dtype=np.float32)
        if labels.ndim != 2 or labels.shape[0] != self.cur_images:
            raise DatasetError(f"labels must have shape [{self.cur_images}, label_size], got {list(labels.shape)}")
        with open(self._path("-rxx.labels"), "wb") as file:
            np.save(file, labels)
        self._has_labels = True

    def commit(self):
        """Closes the files and moves the finished dataset into place."""
        self._bar.close()
        if self.cur_images == 0:
            raise DatasetError("no images were added")
        if self.progress:
            print("Flushing data...", flush=True)
        for writer in self._writers:
            writer.close()
        self._writers = []
        check_target(self.tfrecord_dir, self.overwrite)  # Again: something may have appeared meanwhile.
        atomic_replace_dir(self._temp_dir, self.tfrecord_dir)
        self._temp_dir = None
        if self.progress:
            print(f"Added {self.cur_images} images.")

    def abort(self):
        """Deletes everything written so far; the target stays as it was."""
        self._bar.close()
        for writer in self._writers:
            try:
                writer.close()
            except Exception:  # pylint: disable=broad-except  # Already failing; the files are deleted anyway.
                pass
        self._writers = []
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()
        return False


@dataclasses.dataclass
class ExportOptions:
    """Settings shared by every create_* function.

    Args:
        overwrite: replace an existing, non-empty target directory.
        num_workers: decoding threads (None or 0: one per core).
        progress: print the messages and a progress bar.
    """
    overwrite: bool = False
    num_workers: int | None = None
    progress: bool = True


def _export(tfrecord_dir, items, load, expected_images, options, labels=None, desc="Exporting"):
    """Runs load(item) -> CHW image (or None to skip) on threads, in order, and writes the dataset.

    Returns:
        the exporter (closed), for its `cur_images`.
    """
    def encode(item):
        image = load(item)
        if image is None:
            return None
        return image.shape, encode_image(image)

    with TFRecordExporter(tfrecord_dir, expected_images, overwrite=options.overwrite, progress=options.progress,
                          progress_desc=desc) as exporter:
        results = ordered_parallel_map(encode, items, options.num_workers)
        try:
            for result in results:
                if result is not None:
                    exporter.add_records(*result)
        finally:
            results.close()  # Stops the threads now, also on errors.
        if labels is not None:
            exporter.add_labels(labels)
    return exporter


def _say(options, message):
    if options.progress:
        print(message)


def _format_files(paths):
    names = [os.path.basename(path) for path in paths[:_MAX_LISTED_FILES]]
    more = f" and {len(paths) - _MAX_LISTED_FILES} more" if len(paths) > _MAX_LISTED_FILES else ""
    return ", ".join(names) + more


def _one_hot(labels, num_classes):
    onehot = np.zeros((labels.size, num_classes), dtype=np.float32)
    onehot[np.arange(labels.size), labels] = 1.0
    return onehot


def _check_count(what, found, key, source):
    expected = EXPECTED_COUNTS[key]
    if found != expected:
        raise DatasetError(f"expected {expected} {what} in \"{source}\", found {found}")


def _check_classes(labels, num_classes, source):
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"labels in \"{source}\" must lie in [0, {num_classes - 1}], "
                           f"found [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int64)


# ----------------------------------------------------------------------------------------------------------------
# create_from_images: folders of PNG/JPEG images.


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
        if self.resolution is not None and not _is_power_of_two(self.resolution, minimum=4):
            raise DatasetError(f"resolution must be a power of two >= 4, got {self.resolution}")


def _is_power_of_two(value, minimum=1):
    return value >= minimum and value & (value - 1) == 0


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
        details = "; ".join(f"{os.path.basename(path)} ({error})" for path, error in unreadable[:_MAX_LISTED_FILES])
        more = f"; and {len(unreadable) - _MAX_LISTED_FILES} more" if len(unreadable) > _MAX_LISTED_FILES else ""
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
            listed = "; ".join(f"mode {mode}: {_format_files(files)}" for mode, files in sorted(by_mode.items()))
            count = sum(len(files) for files in by_mode.values())
            problems.append(f"Input images must be stored as RGB or grayscale; {count} image(s) are not ({listed}). "
                            "Pass --convert rgb or --convert grayscale to convert them")
        mixed = [path for path, mode, _ in readable if mode in _NATIVE_MODES and mode != target_mode]
        if mixed:
            kind = "grayscale" if target_mode == "RGB" else "RGB"
            problems.append(f"Input images have mixed channels: the first image is {target_mode} but {len(mixed)} "
                            f"image(s) are {kind}: {_format_files(mixed)}. Pass --convert rgb or --convert grayscale")

    # Geometry.
    not_square = [path for path, _, size in readable if _output_side(size, options) is None]
    if not_square:
        problems.append(f"Input images must have the same width and height; {len(not_square)} image(s) do not: "
                        f"{_format_files(not_square)}. Pass --transform center-crop or --transform pad")
    sides = [(path, _output_side(size, options), size) for path, _, size in readable]
    sides = [entry for entry in sides if entry[1] is not None]
    resolution = None
    if sides:
        first_path, resolution, first_size = sides[0]
        different = [path for path, side, _ in sides if side != resolution]
        if different:
            problems.append(f"Input images have different sizes: {os.path.basename(first_path)} is "
                            f"{first_size[0]}x{first_size[1]} but {len(different)} image(s) differ: "
                            f"{_format_files(different)}. Pass --resolution N to resize them all")
        elif not _is_power_of_two(resolution):
            problems.append(f"Input image resolution must be a power-of-two, got {resolution}x{resolution}. "
                            "Pass --resolution N to resize, or --transform center-crop / pad")
        elif resolution < 4:
            problems.append(f"Input image resolution must be at least 4x4, got {resolution}x{resolution}")
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
    _say(options, f'Loading images from "{image_dir}"')
    check_target(tfrecord_dir, options.overwrite)
    paths, skipped = list_image_files(image_dir)
    if not paths:
        raise DatasetError(f'No input images found in "{image_dir}"')
    if skipped:
        _say(options, f"Skipping {len(skipped)} entries that are not image files: {_format_files(skipped)}")
    headers = list(ordered_parallel_map(_read_header, paths, options.num_workers))
    mode, side = plan_image_export(paths, headers, image_options)
    order = shuffled_order(len(paths)) if shuffle else np.arange(len(paths))
    ordered_paths = [paths[index] for index in order]
    return _export(tfrecord_dir, ordered_paths, lambda path: load_image(path, mode, side, image_options),
                   len(paths), options, desc="Images")


# ----------------------------------------------------------------------------------------------------------------
# Other sources, each read the way the original reads it.


def create_from_hdf5(tfrecord_dir, hdf5_filename, shuffle=True, options=None):
    """Creates a dataset from a legacy HDF5 archive (the `data*` entry with the largest resolution, NCHW uint8).

    Labels come from `<archive without extension>-labels.npy` when that file exists.
    """
    import h5py  # pylint: disable=import-outside-toplevel  # Only this source needs it.
    options = options or ExportOptions()
    _say(options, f'Loading HDF5 archive from "{hdf5_filename}"')
    check_target(tfrecord_dir, options.overwrite)
    if not os.path.isfile(hdf5_filename):
        raise DatasetError(f'HDF5 archive "{hdf5_filename}" does not exist')
    with h5py.File(hdf5_filename, "r") as hdf5_file:
        entries = [value for key, value in hdf5_file.items() if key.startswith("data")]
        entries = [value for value in entries if getattr(value, "ndim", 0) == 4]
        if not entries:
            raise DatasetError(f'"{hdf5_filename}" has no 4-D "data*" entries')
        hdf5_data = max(entries, key=lambda value: value.shape[3])
        num_images = hdf5_data.shape[0]
        order = shuffled_order(num_images) if shuffle else np.arange(num_images)
        labels = None
        npy_filename = os.path.splitext(hdf5_filename)[0] + "-labels.npy"
        if os.path.isfile(npy_filename):
            labels = np.load(npy_filename)
            if labels.shape[0] != num_images:
                raise DatasetError(f'"{npy_filename}" has {labels.shape[0]} rows but the archive {num_images} images')
            labels = labels[order]
        # Items are read here, in the calling thread: h5py is not safe to use from several threads.
        items = (hdf5_data[index] for index in order)
        return _export(tfrecord_dir, items, lambda image: image, num_images, options, labels=labels)


def _read_mnist_images(mnist_dir):
    path = os.path.join(mnist_dir, "train-images-idx3-ubyte.gz")
    if not os.path.isfile(path):
        raise DatasetError(f'MNIST file "{path}" does not exist')
    with gzip.open(path, "rb") as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16)
    if images.size % (28 * 28):
        raise DatasetError(f'"{path}" does not hold whole 28x28 images')
    images = images.reshape(-1, 28, 28)
    _check_count("MNIST training images", images.shape[0], "mnist", mnist_dir)
    return np.pad(images, [(0, 0), (2, 2), (2, 2)], "constant", constant_values=0)  # 32x32


def create_mnist(tfrecord_dir, mnist_dir, options=None):
    """MNIST training set: gz idx files, padded to 32x32 grayscale, one-hot labels of 10 classes, shuffled."""
    options = options or ExportOptions()
    _say(options, f'Loading MNIST from "{mnist_dir}"')
    check_target(tfrecord_dir, options.overwrite)
    images = _read_mnist_images(mnist_dir)
    labels_path = os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz")
    if not os.path.isfile(labels_path):
        raise DatasetError(f'MNIST file "{labels_path}" does not exist')
    with gzip.open(labels_path, "rb") as file:
        labels = np.frombuffer(file.read(), np.uint8, offset=8)
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(f"MNIST has {images.shape[0]} images but {labels.shape[0]} labels")
    labels = _check_classes(labels, 10, labels_path)
    order = shuffled_order(images.shape[0])
    return _export(tfrecord_dir, (images[index][np.newaxis] for index in order), lambda image: image,
                   images.shape[0], options, labels=_one_hot(labels, 10)[order])


def create_mnistrgb(tfrecord_dir, mnist_dir, num_images=1000000, random_seed=123, options=None):
    """MNIST-RGB: each image stacks 3 random MNIST digits as its R, G, B channels; no labels."""
    options = options or ExportOptions()
    _say(options, f'Loading MNIST from "{mnist_dir}"')
    check_target(tfrecord_dir, options.overwrite)
    if num_images < 1:
        raise DatasetError(f"num_images must be positive, got {num_images}")
    images = _read_mnist_images(mnist_dir)
    rnd = np.random.RandomState(random_seed)
    items = (images[rnd.randint(images.shape[0], size=3)] for _ in range(num_images))
    return _export(tfrecord_dir, items, lambda image: image, num_images, options)


def _load_pickle(path):
    if not os.path.isfile(path):
        raise DatasetError(f'"{path}" does not exist')
    with open(path, "rb") as file:
        return pickle.load(file, encoding="latin1")


def _export_classified(tfrecord_dir, images, labels, num_classes, source, options):
    if images.dtype != np.uint8 or images.shape[1:] != (3, 32, 32):
        raise DatasetError(f'images in "{source}" must be uint8 [N, 3, 32, 32], got {images.dtype} '
                           f"{list(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise DatasetError(f'"{source}" has {images.shape[0]} images but labels of shape {list(labels.shape)}')
    labels = _check_classes(labels, num_classes, source)
    order = shuffled_order(images.shape[0])
    return _export(tfrecord_dir, (images[index] for index in order), lambda image: image, images.shape[0],
                   options, labels=_one_hot(labels, num_classes)[order])


def create_cifar10(tfrecord_dir, cifar10_dir, options=None):
    """CIFAR-10 training set (python pickles data_batch_1..5), one-hot labels of 10 classes, shuffled."""
    options = options or ExportOptions()
    _say(options, f'Loading CIFAR-10 from "{cifar10_dir}"')
    check_target(tfrecord_dir, options.overwrite)
    images, labels = [], []
    for batch in range(1, 6):
        data = _load_pickle(os.path.join(cifar10_dir, f"data_batch_{batch}"))
        images.append(np.asarray(data["data"]).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(data["labels"]))
    images, labels = np.concatenate(images), np.concatenate(labels)
    _check_count("CIFAR-10 training images", images.shape[0], "cifar10", cifar10_dir)
    return _export_classified(tfrecord_dir, images, labels, 10, cifar10_dir, options)


def create_cifar100(tfrecord_dir, cifar100_dir, options=None):
    """CIFAR-100 training set (python pickle `train`), one-hot `fine_labels` of 100 classes, shuffled."""
    options = options or ExportOptions()
    _say(options, f'Loading CIFAR-100 from "{cifar100_dir}"')
    check_target(tfrecord_dir, options.overwrite)
    data = _load_pickle(os.path.join(cifar100_dir, "train"))
    images = np.asarray(data["data"]).reshape(-1, 3, 32, 32)
    labels = np.asarray(data["fine_labels"])
    _check_count("CIFAR-100 training images", images.shape[0], "cifar100", cifar100_dir)
    return _export_classified(tfrecord_dir, images, labels, 100, cifar100_dir, options)


def create_svhn(tfrecord_dir, svhn_dir, options=None):
    """SVHN training set as the original reads it: pickles train_1..3.pkl of (images NCHW uint8, labels)."""
    options = options or ExportOptions()
    _say(options, f'Loading SVHN from "{svhn_dir}"')
    check_target(tfrecord_dir, options.overwrite)
    images, labels = [], []
    for batch in range(1, 4):
        data = _load_pickle(os.path.join(svhn_dir, f"train_{batch}.pkl"))
        images.append(np.asarray(data[0]))
        labels.append(np.asarray(data[1]))
    images, labels = np.concatenate(images), np.concatenate(labels)
    _check_count("SVHN training images", images.shape[0], "svhn", svhn_dir)
    return _export_classified(tfrecord_dir, images, labels, 10, svhn_dir, options)


def _decode_rgb(encoded):
    """Decodes an encoded image to RGB HWC uint8 with Pillow (the original tried OpenCV first)."""
    with PIL.Image.open(io.BytesIO(encoded)) as img:
        return np.asarray(img.convert("RGB"))


def _lmdb_values(lmdb_dir):
    """(total entries, generator of values) of an LMDB database, read in the calling thread."""
    try:
        import lmdb  # pylint: disable=import-outside-toplevel  # Only the LSUN sources need it.
    except ImportError as error:
        raise DatasetError("the LSUN commands need the lmdb package: pip install lmdb") from error
    if not os.path.exists(lmdb_dir):
        raise DatasetError(f'LMDB database "{lmdb_dir}" does not exist')
    env = lmdb.open(lmdb_dir, readonly=True, lock=False)
    txn = env.begin(write=False)
    total = txn.stat()["entries"]

    def values():
        try:
            for key, value in txn.cursor():
                yield key, value
        finally:
            txn.abort()
            env.close()
    return total, values()


def _skip_failures(load, progress):
    """Wraps load(key, value) so that a failing image is reported and skipped, as the original does."""
    def safe(item):
        key, value = item
        try:
            return load(value)
        except Exception as error:  # pylint: disable=broad-except  # The original skips any failing image.
            if progress:
                tqdm.tqdm.write(f"Skipping {key!r}: {type(error).__name__}: {error}")
            return None
    return safe


def _export_lmdb(tfrecord_dir, lmdb_dir, load, max_images, options):
    check_target(tfrecord_dir, options.overwrite)
    if max_images is not None and max_images < 1:
        raise DatasetError(f"max_images must be positive, got {max_images}")
    total, values = _lmdb_values(lmdb_dir)
    expected = total if max_images is None else min(max_images, total)

    def encode(item):
        image = load(item)
        return None if image is None else (image.shape, encode_image(image))

    skipped = 0
    with TFRecordExporter(tfrecord_dir, expected, overwrite=options.overwrite, progress=options.progress,
                          progress_desc="Images") as exporter:
        results = ordered_parallel_map(encode, values, options.num_workers)
        try:
            for result in results:
                if result is None:
                    skipped += 1
                else:
                    exporter.add_records(*result)
                if exporter.cur_images == max_images:
                    break
        finally:
            results.close()
    if skipped and options.progress:
        print(f"Skipped {skipped} images.")
    return exporter


def create_lsun(tfrecord_dir, lmdb_dir, resolution=256, max_images=None, options=None):
    """One LSUN category (LMDB of encoded images): centre square crop, Lanczos resize to resolution.

    Images that fail to decode are reported and skipped, as in the original.
    """
    options = options or ExportOptions()
    if not _is_power_of_two(resolution, minimum=4):
        raise DatasetError(f"resolution must be a power of two >= 4, got {resolution}")
    _say(options, f'Loading LSUN dataset from "{lmdb_dir}"')

    def load(value):
        img = _decode_rgb(value)
        crop = np.min(img.shape[:2])
        img = img[(img.shape[0] - crop) // 2: (img.shape[0] + crop) // 2,
                  (img.shape[1] - crop) // 2: (img.shape[1] + crop) // 2]
        img = PIL.Image.fromarray(img, "RGB").resize((resolution, resolution), PIL.Image.LANCZOS)
        return np.asarray(img).transpose(2, 0, 1)

    return _export_lmdb(tfrecord_dir, lmdb_dir, _skip_failures(load, options.progress), max_images, options)


def create_lsun_wide(tfrecord_dir, lmdb_dir, width=512, height=384, max_images=None, options=None):
    """LSUN with a non-square aspect: width x height letterboxed (black bars) in a square width x width image.

    Images narrower than width, or whose height at that width is below height, are skipped silently (original).
    """
    options = options or ExportOptions()
    if not _is_power_of_two(width, minimum=4):
        raise DatasetError(f"width must be a power of two >= 4, got {width}")
    if not 1 <= height <= width:
        raise DatasetError(f"height must lie in [1, width={width}], got {height}")
    _say(options, f'Loading LSUN dataset from "{lmdb_dir}"')

    def load(value):
        img = _decode_rgb(value)
        scaled_height = int(np.round(width * img.shape[0] / img.shape[1]))
        if img.shape[1] < width or scaled_height < height:
            return None
        img = img[(img.shape[0] - scaled_height) // 2: (img.shape[0] + scaled_height) // 2]
        img = PIL.Image.fromarray(img, "RGB").resize((width, height), PIL.Image.LANCZOS)
        canvas = np.zeros([3, width, width], dtype=np.uint8)
        canvas[:, (width - height) // 2: (width + height) // 2] = np.asarray(img).transpose(2, 0, 1)
        return canvas

    return _export_lmdb(tfrecord_dir, lmdb_dir, _skip_failures(load, options.progress), max_images, options)


def create_celeba(tfrecord_dir, celeba_dir, cx=89, cy=121, options=None):
    """CelebA (aligned PNGs in img_align_celeba_png/, all 202599 of them): 128x128 crop centred at (cx, cy)."""
    options = options or ExportOptions()
    _say(options, f'Loading CelebA from "{celeba_dir}"')
    check_target(tfrecord_dir, options.overwrite)
    paths = sorted(glob.glob(os.path.join(celeba_dir, "img_align_celeba_png", "*.png")))
    if len(paths) != EXPECTED_COUNTS["celeba"]:
        raise DatasetError(f"Expected to find {EXPECTED_COUNTS['celeba']} images in "
                           f"\"{os.path.join(celeba_dir, 'img_align_celeba_png')}\", found {len(paths)}")
    if not (64 <= cy <= 218 - 64 and 64 <= cx <= 178 - 64):
        raise DatasetError(f"the 128x128 crop centred at cx={cx}, cy={cy} must lie inside the 178x218 images")

    def load(path):
        try:
            with PIL.Image.open(path) as img:
                array = np.asarray(img)
        except Exception as error:  # pylint: disable=broad-except  # PIL raises many types for bad files.
            raise DatasetError(f'cannot read image "{path}": {type(error).__name__}: {error}') from error
        if array.shape != (218, 178, 3):
            raise DatasetError(f'"{path}" has shape {list(array.shape)}, expected [218, 178, 3]')
        return array[cy - 64: cy + 64, cx - 64: cx + 64].transpose(2, 0, 1)

    order = shuffled_order(len(paths))
    return _export(tfrecord_dir, [paths[index] for index in order], load, len(paths), options, desc="Images")
