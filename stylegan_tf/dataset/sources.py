"""The original `dataset_tool.py`'s other sources (HDF5, MNIST, CIFAR, SVHN, LSUN, CelebA), each read its way."""
import glob
import gzip
import io
import os
import pickle
import zlib

import numpy as np
import PIL.Image
import tqdm

from stylegan_tf import network_limits, npz, safe_pickle
from stylegan_tf.dataset.tfrecord_format import encode_image, is_power_of_two, one_hot, shuffled_order
from stylegan_tf.dataset.writer import (
    DatasetError,
    ExportOptions,
    TFRecordExporter,
    check_target,
    export_items,
    ordered_parallel_map,
    say,
)

# Record counts the original asserts for each classic dataset; a different count means a wrong or partial download.
# Module-level so that tests can shrink them.
EXPECTED_COUNTS = {
    "mnist": 60000,
    "cifar10": 50000,
    "cifar100": 50000,
    "svhn": 73257,
    "celeba": 202599,
}


def _begin(tfrecord_dir, options, what, source):
    """The options (defaults for None), once the source is announced and the target checked."""
    options = options or ExportOptions()
    say(options, f'Loading {what} from "{source}"')
    check_target(tfrecord_dir, options.overwrite)
    return options


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


MAX_HDF5_IMAGES = 100_000_000  # far beyond any image archive; a crafted header may declare 2**40


def _hdf5_images(h5py, hdf5_file, path):
    """The `data*` entry of the largest resolution, checked before any pixel is read: stored in
    this file (no external link, external storage or virtual dataset, which would copy another
    file's bytes into the dataset), uint8 NCHW as the original's archives, sane sizes."""
    entries = []
    for key in hdf5_file.keys():
        if not key.startswith("data"):
            continue
        link = hdf5_file.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise DatasetError(f'"{path}": entry {key} is a {type(link).__name__}; only data stored in the archive '
                               "itself is read")
        value = hdf5_file[key]
        if isinstance(value, h5py.Dataset) and value.ndim == 4:
            if value.external or value.is_virtual:
                raise DatasetError(f'"{path}": entry {key} keeps its data in other files (external storage or '
                                   "a virtual dataset); only data stored in the archive itself is read")
            entries.append((key, value))
    if not entries:
        raise DatasetError(f'"{path}" has no 4-D "data*" entries')
    key, data = max(entries, key=lambda item: item[1].shape[3])
    count, channels, height, width = data.shape
    if data.dtype != np.uint8:
        raise DatasetError(f'"{path}": entry {key} holds {data.dtype} values; the archives hold uint8 pixels in '
                           "[0, 255] (scale float images, e.g. by 255, and store them as uint8)")
    if not (0 < count <= MAX_HDF5_IMAGES and channels in (1, 3) and height == width
            and 4 <= height <= network_limits.MAX_SIZES["resolution"]):
        raise DatasetError(f'"{path}": entry {key} has shape {list(data.shape)}; expected [N <= {MAX_HDF5_IMAGES}, '
                           f"1 or 3, R, R] with R <= {network_limits.MAX_SIZES['resolution']}")
    return data


def create_from_hdf5(tfrecord_dir, hdf5_filename, shuffle=True, options=None):
    """Creates a dataset from a legacy HDF5 archive (the `data*` entry with the largest resolution, NCHW uint8).

    Labels come from `<archive without extension>-labels.npy` when that file exists.
    """
    import h5py  # pylint: disable=import-outside-toplevel  # Only this source needs it.
    options = _begin(tfrecord_dir, options, "HDF5 archive", hdf5_filename)
    if not os.path.isfile(hdf5_filename):
        raise DatasetError(f'HDF5 archive "{hdf5_filename}" does not exist')
    with h5py.File(hdf5_filename, "r") as hdf5_file:
        hdf5_data = _hdf5_images(h5py, hdf5_file, hdf5_filename)
        num_images = hdf5_data.shape[0]
        order = shuffled_order(num_images) if shuffle else np.arange(num_images)
        labels = None
        npy_filename = os.path.splitext(hdf5_filename)[0] + "-labels.npy"
        if os.path.isfile(npy_filename):
            try:
                labels = npz.load_npy(npy_filename, "label file")
            except ValueError as error:
                raise DatasetError(str(error)) from None
            if labels.shape[0] != num_images:
                raise DatasetError(f'"{npy_filename}" has {labels.shape[0]} rows but the archive {num_images} images')
            labels = labels[order]
        # Items are read here, in the calling thread: h5py is not safe to use from several threads.
        items = (hdf5_data[index] for index in order)
        return export_items(tfrecord_dir, items, lambda image: image, num_images, options, labels=labels)


# MNIST's training files hold 47,040,016 and 60,008 bytes: more from a small .gz is a bomb.
MNIST_MAX_BYTES = {"train-images-idx3-ubyte.gz": 64 << 20, "train-labels-idx1-ubyte.gz": 1 << 20}


def _read_mnist_file(path, header_bytes):
    """The bytes after the idx header of one MNIST .gz file, decompressed up to its size limit; a
    missing, truncated, corrupt or oversized file is a DatasetError naming it."""
    if not os.path.isfile(path):
        raise DatasetError(f'MNIST file "{path}" does not exist')
    limit = MNIST_MAX_BYTES[os.path.basename(path)]
    try:
        with gzip.open(path, "rb") as file:
            data = file.read(limit + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f'"{path}": truncated or corrupt gzip file ({error})') from None
    if len(data) > limit:
        raise DatasetError(f'"{path}" decompresses to more than {limit} bytes, far more than MNIST holds '
                           "(sources.MNIST_MAX_BYTES)")
    if len(data) < header_bytes:
        raise DatasetError(f'"{path}" is too short for an MNIST idx file')
    return np.frombuffer(data, np.uint8, offset=header_bytes)


def _read_mnist_images(mnist_dir):
    path = os.path.join(mnist_dir, "train-images-idx3-ubyte.gz")
    images = _read_mnist_file(path, 16)
    if images.size % (28 * 28):
        raise DatasetError(f'"{path}" does not hold whole 28x28 images')
    images = images.reshape(-1, 28, 28)
    _check_count("MNIST training images", images.shape[0], "mnist", mnist_dir)
    return np.pad(images, [(0, 0), (2, 2), (2, 2)], "constant", constant_values=0)  # 32x32


def create_mnist(tfrecord_dir, mnist_dir, options=None):
    """MNIST training set: gz idx files, padded to 32x32 grayscale, one-hot labels of 10 classes, shuffled."""
    options = _begin(tfrecord_dir, options, "MNIST", mnist_dir)
    images = _read_mnist_images(mnist_dir)
    labels_path = os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz")
    labels = _read_mnist_file(labels_path, 8)
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(f"MNIST has {images.shape[0]} images but {labels.shape[0]} labels")
    labels = _check_classes(labels, 10, labels_path)
    order = shuffled_order(images.shape[0])
    return export_items(tfrecord_dir, (images[index][np.newaxis] for index in order), lambda image: image,
                   images.shape[0], options, labels=one_hot(labels, 10)[order])


def create_mnistrgb(tfrecord_dir, mnist_dir, num_images=1000000, random_seed=123, options=None):
    """MNIST-RGB: each image stacks 3 random MNIST digits as its R, G, B channels; no labels."""
    options = _begin(tfrecord_dir, options, "MNIST", mnist_dir)
    if num_images < 1:
        raise DatasetError(f"num_images must be positive, got {num_images}")
    images = _read_mnist_images(mnist_dir)
    rnd = np.random.RandomState(random_seed)
    items = (images[rnd.randint(images.shape[0], size=3)] for _ in range(num_images))
    return export_items(tfrecord_dir, items, lambda image: image, num_images, options)


def _load_pickle(path):
    """A dataset batch pickle (dicts, lists, bytes, str, numbers and NumPy arrays) read with the
    restricted unpickler: a crafted file cannot run code."""
    if not os.path.isfile(path):
        raise DatasetError(f'"{path}" does not exist')
    try:
        with open(path, "rb") as file:
            return safe_pickle.RestrictedUnpickler(file, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, MemoryError) as error:
        raise DatasetError(f'"{path}": not a readable dataset pickle ({error})') from None


def _export_classified(tfrecord_dir, images, labels, num_classes, source, options):
    if images.dtype != np.uint8 or images.shape[1:] != (3, 32, 32):
        raise DatasetError(f'images in "{source}" must be uint8 [N, 3, 32, 32], got {images.dtype} '
                           f"{list(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise DatasetError(f'"{source}" has {images.shape[0]} images but labels of shape {list(labels.shape)}')
    labels = _check_classes(labels, num_classes, source)
    order = shuffled_order(images.shape[0])
    return export_items(tfrecord_dir, (images[index] for index in order), lambda image: image, images.shape[0],
                   options, labels=one_hot(labels, num_classes)[order])


def _create_classified(tfrecord_dir, options, what, key, source, files, images_of, labels_of, num_classes):
    """A labelled 32x32 RGB set from pickled batches (`files` in `source`); images_of(batch) gives NCHW
    uint8 images, labels_of(batch) class indices."""
    options = _begin(tfrecord_dir, options, what, source)
    batches = [_load_pickle(os.path.join(source, name)) for name in files]
    images = np.concatenate([np.asarray(images_of(batch)) for batch in batches])
    labels = np.concatenate([np.asarray(labels_of(batch)) for batch in batches])
    _check_count(f"{what} training images", images.shape[0], key, source)
    return _export_classified(tfrecord_dir, images, labels, num_classes, source, options)


def _cifar_images(batch):
    return np.asarray(batch["data"]).reshape(-1, 3, 32, 32)  # rows of 3072 bytes, CHW


def create_cifar10(tfrecord_dir, cifar10_dir, options=None):
    """CIFAR-10 training set (python pickles data_batch_1..5), one-hot labels of 10 classes, shuffled."""
    return _create_classified(tfrecord_dir, options, "CIFAR-10", "cifar10", cifar10_dir,
                              [f"data_batch_{batch}" for batch in range(1, 6)],
                              _cifar_images, lambda batch: batch["labels"], 10)


def create_cifar100(tfrecord_dir, cifar100_dir, options=None):
    """CIFAR-100 training set (python pickle `train`), one-hot `fine_labels` of 100 classes, shuffled."""
    return _create_classified(tfrecord_dir, options, "CIFAR-100", "cifar100", cifar100_dir, ["train"],
                              _cifar_images, lambda batch: batch["fine_labels"], 100)


def create_svhn(tfrecord_dir, svhn_dir, options=None):
    """SVHN training set as the original reads it: pickles train_1..3.pkl of (images NCHW uint8, labels)."""
    return _create_classified(tfrecord_dir, options, "SVHN", "svhn", svhn_dir,
                              [f"train_{batch}.pkl" for batch in range(1, 4)],
                              lambda batch: batch[0], lambda batch: batch[1], 10)


def _decode_rgb(encoded):
    """Decodes an encoded image to RGB HWC uint8 with Pillow (the original tried OpenCV first)."""
    with PIL.Image.open(io.BytesIO(encoded)) as img:
        return np.asarray(img.convert("RGB"))


_LMDB_MAGIC = 0xBEEFC0DE


def check_lmdb_file(lmdb_dir):
    """Refuses an LMDB data file whose meta pages describe pages beyond its end, before the lmdb
    binding maps it: reading such a page through the map kills the process with SIGBUS. (LMDB itself
    refuses page numbers beyond the meta's last page, so within the file every read is safe.)"""
    path = os.path.join(lmdb_dir, "data.mdb") if os.path.isdir(lmdb_dir) else lmdb_dir
    if not os.path.isfile(path):
        raise DatasetError(f'"{lmdb_dir}" holds no data.mdb: not an LMDB database (LSUN comes as a folder '
                           "per category, e.g. bedroom_train_lmdb/ with data.mdb and lock.mdb)")
    size = os.path.getsize(path)
    metas = []
    with open(path, "rb") as file:
        first = file.read(152)
        page_size = int.from_bytes(first[40:44], "little") if len(first) == 152 else 0
        for offset in (0, page_size):
            file.seek(offset)
            page = file.read(152)
            if len(page) == 152 and int.from_bytes(page[16:20], "little") == _LMDB_MAGIC:
                metas.append((int.from_bytes(page[144:152], "little"),     # txnid
                              int.from_bytes(page[136:144], "little"),     # last page
                              int.from_bytes(page[128:136], "little")))    # main db's root page
    if not metas or not 512 <= page_size <= 1 << 16 or page_size & (page_size - 1):
        raise DatasetError(f'"{path}" is not an LMDB data file (no valid meta page)')
    _, last_page, root = max(metas)
    if (last_page + 1) * page_size > size or (root != 2 ** 64 - 1 and root > last_page):
        raise DatasetError(f'"{path}" is truncated or corrupt: its meta page describes {last_page + 1} pages '
                           f"of {page_size} bytes, but the file holds {size} bytes")


def _lmdb_values(lmdb_dir):
    """(total entries, generator of values) of an LMDB database, read in the calling thread."""
    try:
        import lmdb  # pylint: disable=import-outside-toplevel  # Only the LSUN sources need it.
    except ImportError as error:
        raise DatasetError("the LSUN commands need the lmdb package: pip install lmdb") from error
    if not os.path.exists(lmdb_dir):
        raise DatasetError(f'LMDB database "{lmdb_dir}" does not exist')
    check_lmdb_file(lmdb_dir)
    try:
        env = lmdb.open(lmdb_dir, readonly=True, lock=False)
        txn = env.begin(write=False)
        total = txn.stat()["entries"]
    except lmdb.Error as error:
        raise DatasetError(f'"{lmdb_dir}": not a readable LMDB database ({error})') from None

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
    if not is_power_of_two(resolution, minimum=4):
        raise DatasetError(f"resolution must be a power of two >= 4, got {resolution}")
    say(options, f'Loading LSUN dataset from "{lmdb_dir}"')

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
    if not is_power_of_two(width, minimum=4):
        raise DatasetError(f"width must be a power of two >= 4, got {width}")
    if not 1 <= height <= width:
        raise DatasetError(f"height must lie in [1, width={width}], got {height}")
    say(options, f'Loading LSUN dataset from "{lmdb_dir}"')

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
    options = _begin(tfrecord_dir, options, "CelebA", celeba_dir)
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
    return export_items(tfrecord_dir, [paths[index] for index in order], load, len(paths), options, desc="Images")
