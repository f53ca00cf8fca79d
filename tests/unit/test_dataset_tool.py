"""Tests of dataset_tool.py and stylegan_tf/dataset/: parity with the original's files, every source
format, the checks on user input, and that failures never leave a half-written dataset."""
import gzip
import io
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from stylegan_tf.dataset import image_folder, reader, sources, tfrecord_format, writer

from conftest import REPO_ROOT, fixture_dirs

ORIGINAL_DATASETS = fixture_dirs("original-dataset", "STYLEGAN_DATASET_FIXTURES")
QUIET = writer.ExportOptions(progress=False, num_workers=2)


# ----------------------------------------------------------------------------------------------------------------
# Helpers.


def read_tfrecord_file(path):
    """All records of a file, split by the TFRecord framing (checksums are TensorFlow's job elsewhere)."""
    with open(path, "rb") as file:
        blob = file.read()
    records, offset = [], 0
    while offset < len(blob):
        length = int.from_bytes(blob[offset:offset + 8], "little")
        records.append(blob[offset + 12:offset + 12 + length])
        offset += length + 16
    return records


def read_dataset_arrays(tfrecord_dir):
    """{resolution: uint8 [N, C, H, W]} of every file of a dataset directory, decoded by protobuf."""
    arrays = {}
    for name in sorted(os.listdir(tfrecord_dir)):
        if name.endswith(".tfrecords"):
            images = np.stack([reader.parse_tfrecord_np(record)
                               for record in read_tfrecord_file(os.path.join(tfrecord_dir, name))])
            arrays[images.shape[-1]] = images
    return arrays


def write_images(folder, images, names=None, mode=None, ext="png"):
    """Saves HWC / HW uint8 arrays as image files img000.png, ..."""
    os.makedirs(folder, exist_ok=True)
    for index, image in enumerate(images):
        name = names[index] if names else f"img{index:03d}.{ext}"
        PIL.Image.fromarray(image, mode).save(os.path.join(folder, name))
    return folder


def random_images(count, shape, seed=0):
    return [np.random.RandomState(seed + index).randint(0, 256, shape).astype(np.uint8) for index in range(count)]


def chw(image):
    return image[np.newaxis] if image.ndim == 2 else image.transpose(2, 0, 1)


def assert_no_leftovers(parent, name):
    """Neither the target nor any temporary directory of it exists."""
    assert not os.path.exists(os.path.join(parent, name))
    assert [entry for entry in os.listdir(parent) if entry.startswith("." + name)] == []


def run_tool(*args):
    """Runs dataset_tool's command line in this process; returns its exit code."""
    import dataset_tool  # pylint: disable=import-outside-toplevel
    dataset_tool.FLAGS.unparse_flags()
    argv = dataset_tool.parse_flags(["dataset_tool.py", *[str(arg) for arg in args]])
    return dataset_tool.main(argv)


# ----------------------------------------------------------------------------------------------------------------
# Parity with the original release.


@pytest.mark.parametrize("fixture", ORIGINAL_DATASETS, ids=lambda path: path.name)
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffled", "noshuffle"])
def test_create_from_images_matches_original_byte_for_byte(tmp_path, fixture, shuffle):
    reference = fixture / ("tfrecords" if shuffle else "tfrecords-noshuffle")
    target = tmp_path / reference.name  # Same basename, so the file names must match too.
    image_folder.create_from_images(str(target), str(fixture / "images"), shuffle=shuffle, options=QUIET)
    assert sorted(os.listdir(target)) == sorted(os.listdir(reference))
    for name in os.listdir(reference):
        assert (target / name).read_bytes() == (reference / name).read_bytes(), name
    # The record order is the one the fixture documents.
    meta = json.loads((fixture / "records.json").read_text())
    order = meta["tfrecords"]["order"] if shuffle else meta["images"]
    full = read_dataset_arrays(target)
    full = full[max(full)]
    for index, name in enumerate(order):
        assert np.array_equal(full[index], chw(np.asarray(PIL.Image.open(fixture / "images" / name))))


@pytest.mark.parametrize("fixture", ORIGINAL_DATASETS, ids=lambda path: path.name)
def test_command_line_of_the_original_reproduces_its_files(tmp_path, fixture, capsys):
    target = tmp_path / "tfrecords-noshuffle"
    assert run_tool("create_from_images", target, fixture / "images", "--shuffle", "0") == 0
    assert capsys.readouterr().out.strip().endswith(f"Added {len(os.listdir(fixture / 'images'))} images.")
    reference = fixture / "tfrecords-noshuffle"
    for name in os.listdir(reference):
        assert (target / name).read_bytes() == (reference / name).read_bytes(), name


def test_serialized_example_is_a_valid_example_in_the_original_field_order():
    image = np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8)
    record = tfrecord_format.serialize_example(image)
    example = tf.train.Example.FromString(record)
    assert list(example.features.feature["shape"].int64_list.value) == [3, 8, 8]
    assert example.features.feature["data"].bytes_list.value[0] == image.tobytes()
    assert record.index(b"shape") < record.index(b"data")
    # protobuf's deterministic mode sorts the keys: that is the other layout the reader accepts.
    prefix, suffix = tfrecord_format.example_layout(image.shape, data_first=True)
    assert example.SerializeToString(deterministic=True) == prefix + image.tobytes() + suffix
    # A large image needs multi-byte varints everywhere.
    big = np.zeros([3, 128, 128], np.uint8)
    assert tf.train.Example.FromString(tfrecord_format.serialize_example(big)).features.feature[
        "data"].bytes_list.value[0] == big.tobytes()


def test_mip_levels_average_unrounded_values_and_round_half_to_even():
    image = np.zeros([1, 16, 16], np.uint8)
    # Three 2x2 blocks with mean 1.5 and one with mean 0.25: level 1 stores 2, 2, 2, 0; level 2 averages the
    # unrounded 1.5, 1.5, 1.5, 0.25 = 1.1875 -> 1 (averaging the stored values would give 1.5 -> 2).
    image[0, :4, :4] = [[1, 2, 1, 2],
                        [1, 2, 1, 2],
                        [1, 2, 1, 0],
                        [1, 2, 0, 0]]
    image[0, 4:6, 0:2] = [[2, 3], [2, 3]]  # Mean 2.5 -> 2 (half to even).
    image[0, 6:8, 0:2] = [[3, 4], [3, 4]]  # Mean 3.5 -> 4.
    levels = tfrecord_format.mip_levels(image)
    assert [level.shape for level in levels] == [(1, 16, 16), (1, 8, 8), (1, 4, 4)]
    assert levels[0] is image
    assert levels[1][0, :4, 0].tolist() == [2, 2, 2, 4]
    assert levels[1][0, :2, :2].tolist() == [[2, 2], [2, 0]]
    assert levels[2][0, 0, 0] == 1
    assert all(level.dtype == np.uint8 for level in levels)


# ----------------------------------------------------------------------------------------------------------------
# create_from_images: what the original refuses, and what we offer instead.


def test_grayscale_folder_gives_one_channel_dataset(tmp_path):
    images = random_images(3, (8, 8))
    write_images(tmp_path / "gray", images, mode="L")
    image_folder.create_from_images(str(tmp_path / "ds"), str(tmp_path / "gray"), shuffle=False, options=QUIET)
    arrays = read_dataset_arrays(tmp_path / "ds")
    assert sorted(arrays) == [4, 8]
    assert np.array_equal(arrays[8], np.stack(images)[:, np.newaxis])


def test_jpeg_inputs_and_non_image_files(tmp_path):
    images = random_images(2, (16, 16, 3))
    write_images(tmp_path / "jpg", images, ext="jpg")
    (tmp_path / "jpg" / "README.md").write_text("not an image")
    image_folder.create_from_images(str(tmp_path / "ds"), str(tmp_path / "jpg"), shuffle=False, options=QUIET)
    decoded = [np.asarray(PIL.Image.open(tmp_path / "jpg" / f"img{index:03d}.jpg")) for index in range(2)]
    assert np.array_equal(read_dataset_arrays(tmp_path / "ds")[16], np.stack([chw(image) for image in decoded]))


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(writer.DatasetError, match="No input images found"):
        image_folder.create_from_images(str(tmp_path / "ds"), str(tmp_path / "empty"), options=QUIET)
    assert_no_leftovers(tmp_path, "ds")


def test_corrupt_image_names_the_file_and_leaves_nothing(tmp_path):
    folder = write_images(tmp_path / "images", random_images(6, (16, 16, 3)))
    data = (folder / "img003.png").read_bytes()
    (folder / "img003.png").write_bytes(data[:len(data) // 2])  # Truncated: the header still reads.
    with pytest.raises(writer.DatasetError, match="img003.png"):
        image_folder.create_from_images(str(tmp_path / "ds"), str(folder), options=QUIET)
    assert_no_leftovers(tmp_path, "ds")
    (folder / "img004.png").write_bytes(b"garbage")  # Not an image at all: found before anything is written.
    with pytest.raises(writer.DatasetError, match=r"cannot be read as images: img004.png"):
        image_folder.create_from_images(str(tmp_path / "ds"), str(folder), options=QUIET)
    assert_no_leftovers(tmp_path, "ds")


def test_mixed_sizes_and_channels_name_the_files(tmp_path):
    folder = write_images(tmp_path / "images", random_images(3, (16, 16, 3)))
    write_images(folder, random_images(1, (32, 32, 3)), names=["big.png"])
    write_images(folder, random_images(1, (16, 16)), names=["gray.png"], mode="L")
    with pytest.raises(writer.DatasetError) as error:
        image_folder.create_from_images(str(tmp_path / "ds"), str(folder), options=QUIET)
    message = str(error.value)
    assert "different sizes" in message and "big.png" in message
    assert "mixed channels" in message and "gray.png" in message
    assert_no_leftovers(tmp_path, "ds")
    # Converting and resizing makes them usable.
    image_folder.create_from_images(
        str(tmp_path / "ds"), str(folder), shuffle=False, options=QUIET,
        image_options=image_folder.ImageOptions(convert="rgb", resolution=16))
    arrays = read_dataset_arrays(tmp_path / "ds")
    assert arrays[16].shape == (5, 3, 16, 16)
    gray = np.asarray(PIL.Image.open(folder / "gray.png"))
    assert np.array_equal(arrays[16][1], np.stack([gray] * 3))  # Sorted: big.png, gray.png, img000.png, ...


def test_rgba_and_palette_are_refused_by_default_and_converted_on_request(tmp_path):
    folder = tmp_path / "images"
    rgba = np.zeros([8, 8, 4], np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[:4, :, 3] = 0  # Top half transparent: becomes black.
    write_images(folder, [rgba], names=["alpha.png"], mode="RGBA")
    palette = PIL.Image.fromarray(np.tile(np.arange(8, dtype=np.uint8), (8, 1)), "L").convert("P")
    palette.save(folder / "palette.png")
    write_images(folder, random_images(1, (8, 8, 3)), names=["rgb.png"])
    with pytest.raises(writer.DatasetError) as error:
        image_folder.create_from_images(str(tmp_path / "ds"), str(folder), options=QUIET)
    assert "mode P: palette.png" in str(error.value) and "mode RGBA: alpha.png" in str(error.value)
    assert_no_leftovers(tmp_path, "ds")

    image_folder.create_from_images(str(tmp_path / "ds"), str(folder), shuffle=False, options=QUIET,
                                       image_options=image_folder.ImageOptions(convert="rgb"))
    alpha = read_dataset_arrays(tmp_path / "ds")[8][0]  # Sorted: alpha.png first.
    assert np.all(alpha[:, :4] == 0) and np.all(alpha[0, 4:] == 200) and np.all(alpha[1:, 4:] == 0)
    image_folder.create_from_images(str(tmp_path / "gray"), str(folder), shuffle=False, options=QUIET,
                                       image_options=image_folder.ImageOptions(convert="grayscale"))
    arrays = read_dataset_arrays(tmp_path / "gray")
    assert arrays[8].shape == (3, 1, 8, 8)
    assert np.array_equal(arrays[8][1, 0], np.tile(np.arange(8), (8, 1)))  # The palette's gray ramp.


def test_sixteen_bit_grayscale_is_scaled_when_converting(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    values = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    PIL.Image.fromarray(values).save(folder / "deep.png")  # A 16-bit grayscale PNG.
    with pytest.raises(writer.DatasetError, match="deep.png"):
        image_folder.create_from_images(str(tmp_path / "ds"), str(folder), options=QUIET)
    image_folder.create_from_images(str(tmp_path / "ds"), str(folder), options=QUIET,
                                       image_options=image_folder.ImageOptions(convert="grayscale"))
    stored = read_dataset_arrays(tmp_path / "ds")[8][0, 0]
    assert np.array_equal(stored, np.rint(values / 257.0).astype(np.uint8))


def test_non_square_and_non_power_of_two_need_an_option(tmp_path):
    folder = tmp_path / "images"
    wide = np.random.RandomState(1).randint(0, 256, (12, 20, 3)).astype(np.uint8)  # 20 wide, 12 high.
    write_images(folder, [wide])
    with pytest.raises(writer.DatasetError, match="same width and height.*img000.png"):
        image_folder.create_from_images(str(tmp_path / "ds"), str(folder), options=QUIET)

    def create(name, **image_options):
        image_folder.create_from_images(str(tmp_path / name), str(folder), options=QUIET,
                                           image_options=image_folder.ImageOptions(**image_options))
        return read_dataset_arrays(tmp_path / name)

    # Crop without --resolution: the largest centred power-of-two square, no resampling.
    cropped = create("crop", transform="center-crop")
    assert np.array_equal(cropped[8][0], chw(wide[2:10, 6:14]))
    # Pad: the smallest power of two that holds the image, centred on black.
    padded = create("pad", transform="pad")[32][0]
    assert np.array_equal(padded[:, 10:22, 6:26], chw(wide)) and padded.sum() == wide.sum()
    # With --resolution: the central 12x12 square, Lanczos-resized to 16x16.
    resized = create("resized", transform="center-crop", resolution=16)[16][0]
    expected = PIL.Image.fromarray(wide[:, 4:16]).resize((16, 16), PIL.Image.LANCZOS)
    assert np.array_equal(resized, chw(np.asarray(expected)))
    # Square but not a power of two.
    write_images(tmp_path / "odd", [wide[:12, :12]])
    with pytest.raises(writer.DatasetError, match="power-of-two"):
        image_folder.create_from_images(str(tmp_path / "x"), str(tmp_path / "odd"), options=QUIET)


def test_existing_target_is_refused_unless_overwrite(tmp_path):
    folder = write_images(tmp_path / "images", random_images(2, (8, 8, 3)))
    target = tmp_path / "ds"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(writer.DatasetError, match="already exists"):
        image_folder.create_from_images(str(target), str(folder), options=QUIET)
    assert (target / "keep.txt").read_text() == "precious"
    image_folder.create_from_images(str(target), str(folder), options=writer.ExportOptions(
        overwrite=True, progress=False))
    assert sorted(os.listdir(target)) == ["ds-r02.tfrecords", "ds-r03.tfrecords"]
    assert [entry for entry in os.listdir(tmp_path) if entry.startswith(".ds")] == []
    # An existing empty directory is simply used.
    (tmp_path / "empty").mkdir()
    image_folder.create_from_images(str(tmp_path / "empty"), str(folder), options=QUIET)
    assert len(os.listdir(tmp_path / "empty")) == 2


class _FailingWriter:
    """Stands in for TFRecordWriter: fails like a full disk after a few records."""

    writes = 0

    def __init__(self, path):
        self.file = open(path, "wb")  # pylint: disable=consider-using-with

    def write(self, record):
        _FailingWriter.writes += 1
        if _FailingWriter.writes > 7:
            raise OSError(28, "No space left on device")
        self.file.write(record)

    def close(self):
        self.file.close()


def test_disk_error_midway_leaves_the_target_untouched(tmp_path, monkeypatch):
    folder = write_images(tmp_path / "images", random_images(8, (8, 8, 3)))
    monkeypatch.setattr(writer, "_open_record_writer", _FailingWriter)
    _FailingWriter.writes = 0
    with pytest.raises(OSError, match="No space left"):
        image_folder.create_from_images(str(tmp_path / "ds"), str(folder), options=QUIET)
    assert_no_leftovers(tmp_path, "ds")
    # Replacing an existing dataset: the old one survives the failure.
    old = tmp_path / "old"
    old.mkdir()
    (old / "old-r03.tfrecords").write_bytes(b"old data")
    _FailingWriter.writes = 0
    with pytest.raises(OSError):
        image_folder.create_from_images(str(old), str(folder), options=writer.ExportOptions(
            overwrite=True, progress=False))
    assert os.listdir(old) == ["old-r03.tfrecords"] and (old / "old-r03.tfrecords").read_bytes() == b"old data"
    assert [entry for entry in os.listdir(tmp_path) if entry.startswith(".old")] == []


def test_command_line_errors_print_a_message_and_exit_1(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_tool("create_from_images", tmp_path / "ds", tmp_path / "empty") == 1
    assert "Error: No input images found" in capsys.readouterr().err
    assert run_tool("create_from_images", tmp_path / "ds") == 1
    assert "takes 2 argument(s)" in capsys.readouterr().err
    assert run_tool("create_from_images", tmp_path / "ds", tmp_path / "empty", "--width", "64") == 1
    assert "does not use --width" in capsys.readouterr().err
    assert run_tool("create_nothing", tmp_path / "ds") == 1
    assert "unknown command" in capsys.readouterr().err
    assert_no_leftovers(tmp_path, "ds")


@pytest.mark.slow
def test_help_lists_every_subcommand():
    result = subprocess.run([sys.executable, "dataset_tool.py", "--help"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0
    for command in ["create_from_images", "create_from_hdf5", "create_mnist", "create_mnistrgb", "create_cifar10",
                    "create_cifar100", "create_svhn", "create_lsun", "create_lsun_wide", "create_celeba", "display",
                    "extract", "compare", "info"]:
        assert f"  {command} <" in result.stdout, command
    assert "--shuffle" in result.stdout and "--overwrite" in result.stdout


# ----------------------------------------------------------------------------------------------------------------
# The other sources, from tiny inputs in their original formats.


@pytest.fixture
def small_counts(monkeypatch):
    """Shrinks the record counts the classic datasets must have."""
    counts = {"mnist": 12, "cifar10": 10, "cifar100": 6, "svhn": 9, "celeba": 3}
    monkeypatch.setattr(sources, "EXPECTED_COUNTS", counts)
    return counts


def _write_mnist(folder, count):
    rnd = np.random.RandomState(5)
    images = rnd.randint(0, 256, (count, 28, 28)).astype(np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    folder.mkdir()
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as file:
        file.write(b"\0" * 16 + images.tobytes())
    with gzip.open(folder / "train-labels-idx1-ubyte.gz", "wb") as file:
        file.write(b"\0" * 8 + labels.tobytes())
    return images, labels


def _labels(tfrecord_dir):
    name = os.path.basename(tfrecord_dir)
    return np.load(os.path.join(tfrecord_dir, f"{name}-rxx.labels"))


def test_create_mnist_and_mnistrgb(tmp_path, small_counts):
    images, labels = _write_mnist(tmp_path / "mnist", small_counts["mnist"])
    sources.create_mnist(str(tmp_path / "mnist_ds"), str(tmp_path / "mnist"), options=QUIET)
    order = tfrecord_format.shuffled_order(len(images))
    padded = np.pad(images, [(0, 0), (2, 2), (2, 2)])
    assert np.array_equal(read_dataset_arrays(tmp_path / "mnist_ds")[32][:, 0], padded[order])
    stored = _labels(str(tmp_path / "mnist_ds"))
    assert stored.dtype == np.float32 and stored.shape == (len(images), 10)
    assert np.array_equal(stored.argmax(axis=1), labels[order]) and np.all(stored.sum(axis=1) == 1)

    sources.create_mnistrgb(str(tmp_path / "rgb"), str(tmp_path / "mnist"), num_images=5, random_seed=7,
                                    options=QUIET)
    rnd = np.random.RandomState(7)
    expected = np.stack([padded[rnd.randint(len(images), size=3)] for _ in range(5)])
    assert np.array_equal(read_dataset_arrays(tmp_path / "rgb")[32], expected)
    assert not os.path.exists(tmp_path / "rgb" / "rgb-rxx.labels")


def test_mnist_count_check_keeps_the_original_behaviour(tmp_path):
    _write_mnist(tmp_path / "mnist", 12)
    with pytest.raises(writer.DatasetError, match="expected 60000 MNIST training images"):
        sources.create_mnist(str(tmp_path / "ds"), str(tmp_path / "mnist"), options=QUIET)
    assert_no_leftovers(tmp_path, "ds")


def _check_classified(tfrecord_dir, images, labels, num_classes):
    order = tfrecord_format.shuffled_order(len(images))
    assert np.array_equal(read_dataset_arrays(tfrecord_dir)[32], images[order])
    stored = _labels(str(tfrecord_dir))
    assert stored.shape == (len(images), num_classes)
    assert np.array_equal(stored.argmax(axis=1), labels[order])


def test_create_cifar10_cifar100_svhn(tmp_path, small_counts):
    rnd = np.random.RandomState(3)
    cifar10 = rnd.randint(0, 256, (10, 3, 32, 32)).astype(np.uint8)
    cifar10_labels = rnd.randint(0, 10, 10)
    (tmp_path / "c10").mkdir()
    for batch in range(5):
        rows = slice(2 * batch, 2 * batch + 2)
        with open(tmp_path / "c10" / f"data_batch_{batch + 1}", "wb") as file:
            pickle.dump({"data": cifar10[rows].reshape(2, -1), "labels": cifar10_labels[rows].tolist()}, file)
    sources.create_cifar10(str(tmp_path / "cifar10"), str(tmp_path / "c10"), options=QUIET)
    _check_classified(tmp_path / "cifar10", cifar10, cifar10_labels, 10)

    cifar100 = rnd.randint(0, 256, (6, 3, 32, 32)).astype(np.uint8)
    cifar100_labels = np.array([0, 99, 5, 50, 7, 3])
    (tmp_path / "c100").mkdir()
    with open(tmp_path / "c100" / "train", "wb") as file:
        pickle.dump({"data": cifar100.reshape(6, -1), "fine_labels": cifar100_labels.tolist(),
                     "coarse_labels": [0] * 6}, file)
    sources.create_cifar100(str(tmp_path / "cifar100"), str(tmp_path / "c100"), options=QUIET)
    _check_classified(tmp_path / "cifar100", cifar100, cifar100_labels, 100)

    svhn = rnd.randint(0, 256, (9, 3, 32, 32)).astype(np.uint8)
    svhn_labels = rnd.randint(0, 10, 9).astype(np.uint8)
    (tmp_path / "s").mkdir()
    for batch in range(3):
        rows = slice(3 * batch, 3 * batch + 3)
        with open(tmp_path / "s" / f"train_{batch + 1}.pkl", "wb") as file:
            pickle.dump((svhn[rows], svhn_labels[rows]), file)
    sources.create_svhn(str(tmp_path / "svhn"), str(tmp_path / "s"), options=QUIET)
    _check_classified(tmp_path / "svhn", svhn, svhn_labels, 10)


def test_create_from_hdf5_with_labels(tmp_path):
    import h5py  # pylint: disable=import-outside-toplevel
    rnd = np.random.RandomState(4)
    images = rnd.randint(0, 256, (5, 3, 16, 16)).astype(np.uint8)
    with h5py.File(tmp_path / "archive.h5", "w") as file:
        file["data4x4"] = images[:, :, ::4, ::4]
        file["data16x16"] = images
    labels = rnd.rand(5, 3).astype(np.float32)
    np.save(tmp_path / "archive-labels.npy", labels)
    sources.create_from_hdf5(str(tmp_path / "ds"), str(tmp_path / "archive.h5"), options=QUIET)
    order = tfrecord_format.shuffled_order(5)
    assert np.array_equal(read_dataset_arrays(tmp_path / "ds")[16], images[order])
    assert np.array_equal(_labels(str(tmp_path / "ds")), labels[order])


def _encoded(image, fmt):
    buffer = io.BytesIO()
    PIL.Image.fromarray(image).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def lmdb_dir(tmp_path):
    lmdb = pytest.importorskip("lmdb")
    rnd = np.random.RandomState(6)
    images = [rnd.randint(0, 256, shape).astype(np.uint8) for shape in [(12, 16, 3), (16, 12, 3), (8, 24, 3),
                                                                          (20, 20, 3)]]
    values = [_encoded(images[0], "PNG"), _encoded(images[1], "PNG"), b"corrupt", _encoded(images[2], "PNG"),
              _encoded(images[3][:, :, 0], "PNG")]  # The last one is grayscale.
    path = str(tmp_path / "lmdb")
    with lmdb.open(path, map_size=1 << 24) as env:
        with env.begin(write=True) as txn:
            for index, value in enumerate(values):
                txn.put(f"{index:04d}".encode(), value)
    return path, images


def test_create_lsun_crops_resizes_and_skips_bad_images(tmp_path, lmdb_dir, capsys):
    path, images = lmdb_dir
    sources.create_lsun(str(tmp_path / "ds"), path, resolution=8,
                                options=writer.ExportOptions(num_workers=2))
    captured = capsys.readouterr()
    assert "Skipping b'0002'" in captured.out + captured.err
    stored = read_dataset_arrays(tmp_path / "ds")[8]
    assert stored.shape == (4, 3, 8, 8)

    def expected(image):
        side = min(image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        crop = PIL.Image.fromarray(image[top:top + side, left:left + side]).resize((8, 8), PIL.Image.LANCZOS)
        return chw(np.asarray(crop))
    assert np.array_equal(stored[0], expected(images[0]))
    assert np.array_equal(stored[2], expected(images[2]))
    assert np.array_equal(stored[3], expected(np.stack([images[3][:, :, 0]] * 3, axis=2)))
    sources.create_lsun(str(tmp_path / "two"), path, resolution=8, max_images=2, options=QUIET)
    assert np.array_equal(read_dataset_arrays(tmp_path / "two")[8], stored[:2])


def test_create_lsun_wide_letterboxes(tmp_path, lmdb_dir):
    path, images = lmdb_dir
    sources.create_lsun_wide(str(tmp_path / "ds"), path, width=16, height=8, options=QUIET)
    stored = read_dataset_arrays(tmp_path / "ds")[16]
    # (12, 16): height at width 16 is 12 >= 8, kept; (16, 12) is narrower than 16, skipped; (8, 24): 5 < 8,
    # skipped; (20, 20): kept.
    assert stored.shape == (2, 3, 16, 16)
    # All 12 rows are kept (12 = 16 * 12 / 16) and squeezed to 16x8, then pasted at rows 4..11.
    first = np.asarray(PIL.Image.fromarray(images[0]).resize((16, 8), PIL.Image.LANCZOS))
    assert np.array_equal(stored[0, :, 4:12], chw(first))
    # (20, 20): ch = round(16 * 20 / 20) = 16, and the original keeps that many *source* rows (2..17) before
    # resizing all 20 columns to 16x8.
    gray = np.stack([images[3][:, :, 0]] * 3, axis=2)
    last = np.asarray(PIL.Image.fromarray(gray[2:18]).resize((16, 8), PIL.Image.LANCZOS))
    assert np.array_equal(stored[1, :, 4:12], chw(last))
    assert stored[0, :, :4].max() == 0 and stored[0, :, 12:].max() == 0


def test_create_celeba_checks_the_count_and_crops(tmp_path, monkeypatch):
    folder = tmp_path / "celeba" / "img_align_celeba_png"
    images = random_images(3, (218, 178, 3), seed=20)
    write_images(folder, images, names=[f"{index:06d}.png" for index in range(1, 4)])
    with pytest.raises(writer.DatasetError, match="Expected to find 202599 images"):
        sources.create_celeba(str(tmp_path / "ds"), str(tmp_path / "celeba"), options=QUIET)
    monkeypatch.setitem(sources.EXPECTED_COUNTS, "celeba", 3)
    sources.create_celeba(str(tmp_path / "ds"), str(tmp_path / "celeba"), cx=90, cy=100, options=QUIET)
    order = tfrecord_format.shuffled_order(3)
    expected = np.stack([chw(images[index][100 - 64:100 + 64, 90 - 64:90 + 64]) for index in order])
    assert np.array_equal(read_dataset_arrays(tmp_path / "ds")[128], expected)


# ----------------------------------------------------------------------------------------------------------------
# The read-only commands.


def test_info_extract_compare_display(tmp_path, capsys):
    folder = write_images(tmp_path / "images", random_images(5, (8, 8, 3)))
    assert run_tool("create_from_images", tmp_path / "a", folder, "--shuffle", "0") == 0
    assert run_tool("create_from_images", tmp_path / "b", folder) == 0
    capsys.readouterr()

    assert run_tool("info", tmp_path / "a") == 0
    out = capsys.readouterr().out
    assert "8x8, 3 channel(s)" in out and "a-r02.tfrecords" in out and "5 records" in out

    assert run_tool("extract", tmp_path / "a", tmp_path / "png") == 0
    assert sorted(os.listdir(tmp_path / "png")) == [f"img{index:08d}.png" for index in range(5)]
    for index in range(5):
        assert np.array_equal(np.asarray(PIL.Image.open(tmp_path / "png" / f"img{index:08d}.png")),
                              np.asarray(PIL.Image.open(folder / f"img{index:03d}.png")))
    assert run_tool("extract", tmp_path / "a", tmp_path / "png") == 1  # Exists.

    capsys.readouterr()
    assert run_tool("compare", tmp_path / "a", tmp_path / "a") == 0
    out = capsys.readouterr().out
    assert "Identical images: 5 / 5" in out and "Identical labels: 5 / 5" in out
    assert run_tool("compare", tmp_path / "a", tmp_path / "b", "--ignore_labels", "1") == 0
    out = capsys.readouterr().out
    order = tfrecord_format.shuffled_order(5)
    same = int(np.sum(order == np.arange(5)))
    assert f"Identical images: {same} / 5" in out and "Identical labels" not in out

    sheet = tmp_path / "sheet.png"
    assert run_tool("display", tmp_path / "a", "--output", sheet, "--num_images", "4") == 0
    grid = np.asarray(PIL.Image.open(sheet))
    assert grid.shape == (16, 16, 3)
    assert np.array_equal(grid[8:, :8], np.asarray(PIL.Image.open(folder / "img002.png")))


def test_truncated_corrupt_and_bomb_mnist_files_are_named(tmp_path, small_counts):
    _write_mnist(tmp_path / "mnist", small_counts["mnist"])
    images = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    data = images.read_bytes()
    images.write_bytes(data[:len(data) // 2])
    with pytest.raises(writer.DatasetError, match="train-images-idx3-ubyte.gz\": truncated or corrupt gzip file"):
        sources.create_mnist(str(tmp_path / "a"), str(tmp_path / "mnist"), options=QUIET)
    images.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(writer.DatasetError, match="truncated or corrupt gzip file"):
        sources.create_mnist(str(tmp_path / "b"), str(tmp_path / "mnist"), options=QUIET)
    with gzip.open(images, "wb", compresslevel=9) as file:  # 65 MiB of zeros in about 64 KiB
        for _ in range(65):
            file.write(bytes(1 << 20))
    assert images.stat().st_size < 1 << 20
    with pytest.raises(writer.DatasetError, match="decompresses to more than 67108864 bytes"):
        sources.create_mnist(str(tmp_path / "c"), str(tmp_path / "mnist"), options=QUIET)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_a_truncated_lmdb_is_refused_before_it_is_mapped(tmp_path):
    """A 12 KiB LMDB whose meta page describes more pages than the file holds killed the process
    with SIGBUS (the binding maps the file); it is refused from its meta page instead."""
    import lmdb
    path = tmp_path / "bedroom_lmdb"
    with lmdb.open(str(path), map_size=1 << 24) as env:
        with env.begin(write=True) as txn:
            for index in range(40):
                txn.put(f"{index:04d}".encode(), bytes(3000))  # overflow pages
    data = (path / "data.mdb").read_bytes()
    (path / "data.mdb").write_bytes(data[:12288])
    result = subprocess.run([sys.executable, str(REPO_ROOT / "dataset_tool.py"), "create_lsun", str(tmp_path / "ds"),
                             str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, (result.returncode, result.stderr[-2000:])
    assert "data.mdb\" is truncated or corrupt: its meta page describes" in result.stderr.strip().splitlines()[-1]
    (tmp_path / "empty").mkdir()
    with pytest.raises(writer.DatasetError, match="holds no data.mdb: not an LMDB database"):
        sources.create_lsun(str(tmp_path / "ds2"), str(tmp_path / "empty"), options=QUIET)
    assert not (tmp_path / "ds").exists() and not (tmp_path / "ds2").exists()


def test_hdf5_archives_other_than_uint8_pixels_stored_inside_are_refused(tmp_path):
    import h5py  # pylint: disable=import-outside-toplevel
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(256)) * 12)  # another local file, 3 x 16 x 16 bytes
    cases = {
        "float": (lambda file: file.create_dataset("data16x16", data=np.random.RandomState(0).rand(2, 3, 16, 16)),
                  "holds float64 values; the archives hold uint8 pixels"),
        "strings": (lambda file: file.create_dataset("data16x16", data=np.array([[[["a"] * 16] * 16] * 3] * 2, "S1")),
                    "holds \\|S1 values"),
        "external": (lambda file: file.create_dataset("data16x16", (1, 3, 16, 16), np.uint8,
                                                      external=[(str(secret), 0, 768)]),
                     "keeps its data in other files"),
        "link": (lambda file: file.__setitem__("data16x16", h5py.ExternalLink(str(tmp_path / "float.h5"), "data16x16")),
                 "is a ExternalLink"),
        "huge": (lambda file: file.create_dataset("data16x16", (2 ** 40, 3, 16, 16), np.uint8, chunks=(1, 3, 16, 16)),
                 "has shape \\[1099511627776, 3, 16, 16\\]"),
    }
    for name, (make, expect) in cases.items():
        with h5py.File(tmp_path / f"{name}.h5", "w") as file:
            make(file)
        assert (tmp_path / f"{name}.h5").stat().st_size < 1 << 20
        with pytest.raises(writer.DatasetError, match=f"{name}.h5\": entry data16x16 {expect}"):
            sources.create_from_hdf5(str(tmp_path / f"ds-{name}"), str(tmp_path / f"{name}.h5"), options=QUIET)
        assert not (tmp_path / f"ds-{name}").exists()


def test_padding_a_very_long_image_stays_within_memory(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    PIL.Image.fromarray(np.full([1, 60000], 200, np.uint8)).save(folder / "line.png")  # 1 x 60000
    with pytest.raises(writer.DatasetError, match="would become 65536x65536, more than the 8192x8192"):
        image_folder.create_from_images(str(tmp_path / "ds"), str(folder), options=QUIET,
                                        image_options=image_folder.ImageOptions(transform="pad"))
    result = subprocess.run(  # with --resolution: shrunk, then padded (a 60000² canvas needs 3.6 GB)
        [sys.executable, str(REPO_ROOT / "dataset_tool.py"), "create_from_images", str(tmp_path / "ds"), str(folder),
         "--transform", "pad", "--resolution", "64"], capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: __import__("resource").setrlimit(__import__("resource").RLIMIT_AS, (6 << 30, 6 << 30)))
    assert result.returncode == 0, result.stderr[-2000:]
    stored = read_dataset_arrays(tmp_path / "ds")[64][0, 0]
    assert stored[31].min() > 100 and stored[0].max() == 0 and stored.sum() == stored[31].sum()  # one line, centred


def test_file_names_that_are_not_utf8_are_printed_with_escapes(tmp_path):
    folder = write_images(tmp_path / "images", random_images(2, (8, 8, 3)))
    (folder / os.fsdecode(b"notes-caf\xe9.txt")).write_text("not an image")
    PIL.Image.fromarray(random_images(1, (8, 8, 3))[0]).save(folder / os.fsdecode(b"caf\xe9.png"))
    result = subprocess.run([sys.executable, str(REPO_ROOT / "dataset_tool.py"), "create_from_images",
                             str(tmp_path / "ds"), str(folder)], capture_output=True, timeout=120, cwd=tmp_path,
                            env=dict(os.environ, PYTHONIOENCODING="utf-8:strict"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"notes-caf\\xe9.txt" in result.stdout
    assert read_dataset_arrays(tmp_path / "ds")[8].shape[0] == 3  # the non-UTF-8 image name is read too
