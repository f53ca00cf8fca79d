"""Writing multi-resolution TFRecord datasets (`tfrecord_format`) without ever leaving a partial one.

The exporter writes into a temporary directory next to the target and renames it into place only when every
image and the labels are written. Library code: every function takes plain arguments; the command line lives in
`dataset_tool.py`, the source readers in `image_folder` and `sources`.
"""
import collections
import concurrent.futures
import dataclasses
import os
import shutil

import numpy as np
import tqdm

from stylegan_tf import cli, fileio
from stylegan_tf.dataset.tfrecord_format import encode_image

MAX_LISTED_FILES = 5


class DatasetError(ValueError):
    """A user-facing problem with the input or the target (printed as `Error: ...` by the tools)."""


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
        self.overwrite = overwrite
        self.progress = progress
        self.cur_images = 0
        self.shape = None
        self.resolution_log2 = None
        self._writers = []
        check_target(self.tfrecord_dir, overwrite)
        if progress:
            print(f'Creating dataset "{tfrecord_dir}"')
        _import_tensorflow()
        for stale in fileio.remove_stale_temp_dirs(self.tfrecord_dir):
            if progress:
                print(f'Removed "{stale}", left by an interrupted run.')
        self._temp_dir = fileio.make_temp_dir_beside(self.tfrecord_dir)
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
        fileio.atomic_replace_dir(self._temp_dir, self.tfrecord_dir)
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


def export_items(tfrecord_dir, items, load, expected_images, options, labels=None, desc="Exporting"):
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


def say(options, message):
    if options.progress:
        print(cli.printable(message))


def format_files(paths):
    names = [cli.printable(os.path.basename(path)) for path in paths[:MAX_LISTED_FILES]]
    more = f" and {len(paths) - MAX_LISTED_FILES} more" if len(paths) > MAX_LISTED_FILES else ""
    return ", ".join(names) + more
