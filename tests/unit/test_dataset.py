"""Tests of stylegan_tf/dataset.py: reading the original's files and ours, batches per lod, labels, augmentation,
sharding, tf.distribute, and errors that name the corrupt file and record."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from stylegan_tf import dataset
from stylegan_tf.dataset import reader, tfrecord_format, writer

from conftest import REPO_ROOT, fixture_dirs

ORIGINAL_DATASETS = fixture_dirs("original-dataset", "STYLEGAN_DATASET_FIXTURES")
QUIET = writer.ExportOptions(progress=False, num_workers=1)
NUM_IMAGES = 12


def make_images(count=NUM_IMAGES, resolution=16, channels=3, seed=0):
    """uint8 [N, C, R, R] images with a distinct first pixel each, so that order is easy to read."""
    images = np.random.RandomState(seed).randint(0, 256, (count, channels, resolution, resolution)).astype(np.uint8)
    images[:, 0, 0, 0] = np.arange(count)
    return images


def export(tfrecord_dir, images, labels=None):
    with writer.TFRecordExporter(str(tfrecord_dir), progress=False) as exporter:
        for image in images:
            exporter.add_image(image)
        if labels is not None:
            exporter.add_labels(labels)
    return str(tfrecord_dir)


def nhwc_levels(images):
    """{lod: uint8 [N, H, W, C]} computed by the writer's mip code."""
    per_image = [tfrecord_format.mip_levels(image) for image in images]
    return {lod: np.stack([levels[lod] for levels in per_image]).transpose(0, 2, 3, 1)
            for lod in range(len(per_image[0]))}


def collect(tf_dataset):
    images, labels = [], []
    for image_batch, label_batch in tf_dataset:
        images.append(image_batch.numpy())
        labels.append(label_batch.numpy())
    return np.concatenate(images), np.concatenate(labels)


@pytest.fixture(scope="module")
def labeled_dir(tmp_path_factory):
    images = make_images()
    labels = np.eye(4, dtype=np.float32)[np.arange(NUM_IMAGES) % 4]
    return export(tmp_path_factory.mktemp("labeled") / "labeled", images, labels), images, labels


# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ORIGINAL_DATASETS, ids=lambda path: path.name)
def test_reads_the_original_files(fixture):
    meta = json.loads((fixture / "records.json").read_text())
    ds = dataset.TFRecordDataset(str(fixture / "tfrecords"))
    first = np.asarray(PIL.Image.open(fixture / "images" / meta["images"][0]))
    channels = first.shape[2] if first.ndim == 3 else 1
    assert ds.shape == (first.shape[0], first.shape[0], channels) and ds.num_channels == channels
    assert ds.resolution == first.shape[0] and ds.resolution_log2 == int(np.log2(first.shape[0]))
    assert ds.num_images == len(meta["images"]) and ds.label_size == 0
    assert ds.labels.shape == (1 << 20, 0) and ds.labels.dtype == np.float32
    for lod, path in ds.tfrecord_files.items():
        images, labels = collect(ds.make_dataset(lod, 5, shuffle=False, repeat=False))
        stored = np.stack([reader.parse_tfrecord_np(record.numpy())
                           for record in tf.data.TFRecordDataset(path)]).transpose(0, 2, 3, 1)
        assert images.dtype == np.uint8 and np.array_equal(images, stored)
        assert labels.shape == (len(images), 0)
    full, _ = collect(ds.make_dataset(0, 7, shuffle=False, repeat=False))
    for index, name in enumerate(meta["tfrecords"]["order"]):
        image = np.asarray(PIL.Image.open(fixture / "images" / name))
        assert np.array_equal(full[index], image if image.ndim == 3 else image[:, :, None])


def test_batches_at_every_lod_with_labels(labeled_dir):
    path, images, labels = labeled_dir
    ds = dataset.TFRecordDataset(path, max_label_size="full")
    assert ds.label_size == 4 and np.array_equal(ds.labels, labels) and ds.num_images == NUM_IMAGES
    expected = nhwc_levels(images)
    for lod in range(3):
        got_images, got_labels = collect(ds.make_dataset(lod + 0.5, 5, shuffle=False, repeat=False))
        assert got_images.shape == (NUM_IMAGES, 16 >> lod, 16 >> lod, 3)
        assert np.array_equal(got_images, expected[lod]) and np.array_equal(got_labels, labels)
    plain = dataset.TFRecordDataset(path, max_label_size="full", jit_compile=False)
    got_images, _ = collect(plain.make_dataset(1, 5, shuffle=False, repeat=False, mirror_augment=True, seed=2))
    again, _ = collect(ds.make_dataset(1, 5, shuffle=False, repeat=False, mirror_augment=True, seed=2))
    assert np.array_equal(got_images, again)  # XLA and plain ops agree.
    # max_label_size keeps the first components; 0 (the default) none.
    assert dataset.TFRecordDataset(path, max_label_size=2).labels.shape == (NUM_IMAGES, 2)
    assert dataset.TFRecordDataset(path).label_size == 0
    with pytest.raises(ValueError, match="lod must lie in"):
        ds.make_dataset(3, 4)


def test_shuffle_repeat_cap_and_static_batches(labeled_dir):
    path, images, labels = labeled_dir
    ds = dataset.TFRecordDataset(path, max_label_size="full")
    epoch, epoch_labels = collect(ds.make_dataset(0, 4, shuffle=True, repeat=False, seed=3))
    ids = epoch[:, 0, 0, 0]
    assert sorted(ids.tolist()) == list(range(NUM_IMAGES)) and ids.tolist() != list(range(NUM_IMAGES))
    assert np.array_equal(epoch_labels, labels[ids])  # Labels travel with their images.
    # A seed fixes the sequence of epochs (each pass over one pipeline reshuffles).
    fresh = dataset.TFRecordDataset(path, max_label_size="full")
    again, _ = collect(fresh.make_dataset(0, 4, shuffle=True, repeat=False, seed=3))
    assert np.array_equal(again, epoch)
    # Repeating with max_images: only the first 5 records, forever, in full batches of static shape.
    capped = ds.make_dataset(1, 4, max_images=5, seed=1)
    assert capped.element_spec[0].shape.as_list() == [4, 8, 8, 3]
    seen = np.concatenate([batch.numpy()[:, 0, 0, 0] for batch, _ in capped.take(6)])
    first_pixels = nhwc_levels(images)[1][:5, 0, 0, 0]
    assert set(seen.tolist()) == set(first_pixels.tolist())
    # Cached: the same arguments give the same pipeline object.
    assert ds.make_dataset(1, 4, max_images=5, seed=1) is capped


def test_float_output_mirror_augment_and_random_labels(labeled_dir):
    path, images, labels = labeled_dir
    ds = dataset.TFRecordDataset(path, max_label_size="full")
    floats, _ = collect(ds.make_dataset(0, 6, shuffle=False, repeat=False, drange=(-1, 1)))
    reference = images.transpose(0, 2, 3, 1).astype(np.float32) * np.float32(2 / 255) + np.float32(-1)
    assert floats.dtype == np.float32 and np.array_equal(floats, reference)
    mirrored, _ = collect(ds.make_dataset(0, 6, shuffle=False, repeat=False, mirror_augment=True, seed=5))
    plain = images.transpose(0, 2, 3, 1)
    flipped = [bool(np.array_equal(mirrored[i], plain[i, :, ::-1])) for i in range(NUM_IMAGES)]
    kept = [bool(np.array_equal(mirrored[i], plain[i])) for i in range(NUM_IMAGES)]
    assert all(a or b for a, b in zip(flipped, kept)) and 0 < sum(flipped) < NUM_IMAGES
    again, _ = collect(ds.make_dataset(0, 6, shuffle=False, repeat=False, mirror_augment=True, seed=5))
    assert np.array_equal(again, mirrored)

    random_labels = ds.get_random_labels(7, rng=np.random.RandomState(0))
    assert random_labels.shape == (7, 4) and random_labels.dtype == np.float32
    assert all(any(np.array_equal(row, label) for label in labels) for row in random_labels)
    assert ds.get_random_labels(3, rng=np.random.default_rng(0)).shape == (3, 4)
    assert dataset.TFRecordDataset(path).get_random_labels(3).shape == (3, 0)


def test_sharding_by_input_pipeline(labeled_dir):
    path, images, _ = labeled_dir
    ds = dataset.TFRecordDataset(path, max_label_size="full")
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    shard, shard_labels = collect(ds.make_dataset(0, 3, shuffle=False, repeat=False, input_context=context))
    assert shard[:, 0, 0, 0].tolist() == list(range(1, NUM_IMAGES, 2))
    assert np.array_equal(shard_labels.argmax(axis=1), np.arange(1, NUM_IMAGES, 2) % 4)


def test_distribute_gives_per_replica_batches(labeled_dir):
    path, _, _ = labeled_dir
    ds = dataset.TFRecordDataset(path, max_label_size="full")
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    distributed = ds.distribute(strategy, lod=1, global_batch_size=4, seed=0)
    images, labels = next(iter(distributed))
    assert images.shape == (4, 8, 8, 3) and labels.shape == (4, 4)
    assert ds.distribute(strategy, lod=1, global_batch_size=4, seed=0) is distributed

    class TwoReplicas:  # Only what distribute() asks before building anything.
        num_replicas_in_sync = 2
    with pytest.raises(ValueError, match="multiple of the 2 replicas"):
        ds.distribute(TwoReplicas(), lod=0, global_batch_size=5)


def test_training_pipelines_are_not_autotuned(labeled_dir):
    """tf.data's autotuning thread made deleting an iterator wait (5 s after 15 s of a busy consumer
    on one core, over a minute in long runs): at every lod change and after abort.txt. The pipelines
    decode a fixed number of batches in parallel instead, and one replica reads them directly."""
    path, _, _ = labeled_dir
    ds = dataset.TFRecordDataset(path, max_label_size="full", parallel_batches=3, prefetch_batches=1)
    pipeline = ds.make_dataset(0, 4, seed=0)
    assert pipeline.options().autotune.enabled is False
    single = ds.distribute(tf.distribute.OneDeviceStrategy("/cpu:0"), 0, 4, seed=0)
    assert isinstance(single, tf.data.Dataset) and single is pipeline
    with pytest.raises(ValueError, match="parallel_batches and prefetch_batches must be >= 1"):
        dataset.TFRecordDataset(path, parallel_batches=0)


@pytest.mark.slow
def test_two_replicas_under_mirrored_strategy(labeled_dir):
    path, _, _ = labeled_dir
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from stylegan_tf import dataset
        ds = dataset.TFRecordDataset({path!r}, max_label_size="full")
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        images, labels = next(iter(ds.distribute(strategy, 0, 6, shuffle=False)))
        parts = strategy.experimental_local_results(images)
        assert [part.shape[0] for part in parts] == [3, 3], [part.shape for part in parts]
        ids = sorted(int(v) for part in parts for v in part.numpy()[:, 0, 0, 0])
        assert ids == list(range(6)), ids
        print("OK")
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env,
                            check=False)
    assert result.stdout.strip().endswith("OK"), result.stderr[-3000:]


# ----------------------------------------------------------------------------------------------------------------
# Damaged and unusual files.


def _copy(source, target):
    shutil.copytree(source, target)
    for name in os.listdir(target):
        os.chmod(os.path.join(target, name), 0o644)
    return str(target)


def test_flipped_byte_names_the_file_and_record(labeled_dir, tmp_path):
    path = _copy(labeled_dir[0], tmp_path / "labeled")
    victim = os.path.join(path, "labeled-r03.tfrecords")
    blob = bytearray(open(victim, "rb").read())
    record_size = len(blob) // NUM_IMAGES
    blob[7 * record_size + record_size // 2] ^= 0xFF  # Inside record 7's pixels: its checksum fails.
    open(victim, "wb").write(bytes(blob))
    ds = dataset.TFRecordDataset(path)
    for shuffle in (False, True):
        with pytest.raises(tf.errors.InvalidArgumentError) as error:
            collect(ds.make_dataset(1, 4, shuffle=shuffle, repeat=False))
        message = dataset.error_message(error.value)
        assert message.startswith(f"Corrupt dataset file {victim}: record(s) [7]"), message
    # Other levels of the same dataset are fine.
    assert collect(ds.make_dataset(0, 4, shuffle=False, repeat=False))[0].shape[0] == NUM_IMAGES


def test_truncated_and_inconsistent_files_are_reported_at_open(labeled_dir, tmp_path):
    path = _copy(labeled_dir[0], tmp_path / "labeled")
    victim = os.path.join(path, "labeled-r04.tfrecords")
    blob = open(victim, "rb").read()
    open(victim, "wb").write(blob[:len(blob) - 100])  # Ends inside record 11.
    with pytest.raises(ValueError, match=r"labeled-r04.tfrecords.*record 11 is truncated"):
        dataset.TFRecordDataset(path)
    record_size = len(blob) // NUM_IMAGES
    open(victim, "wb").write(blob[:record_size * 10])  # Two whole records short.
    with pytest.raises(ValueError, match="different numbers of records.*labeled-r04.tfrecords: 10"):
        dataset.TFRecordDataset(path)
    os.remove(os.path.join(path, "labeled-r03.tfrecords"))
    with pytest.raises(ValueError, match="lacks the files for 8x8"):
        dataset.TFRecordDataset(path)
    with pytest.raises(ValueError, match="does not exist"):
        dataset.TFRecordDataset(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no \\*.tfrecords files"):
        dataset.TFRecordDataset(str(tmp_path / "empty"))


def _write_records(path, records):
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)


def test_records_of_the_wrong_shape_are_named(tmp_path):
    images = make_images(6, resolution=4)
    folder = tmp_path / "odd"
    folder.mkdir()
    records = [tfrecord_format.serialize_example(image) for image in images]
    records[4] = tfrecord_format.serialize_example(np.zeros([1, 4, 4], np.uint8))  # Valid, but one channel.
    _write_records(str(folder / "odd-r02.tfrecords"), records)
    ds = dataset.TFRecordDataset(str(folder))
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        collect(ds.make_dataset(0, 6, shuffle=False, repeat=False))
    assert "odd-r02.tfrecords: record(s) [4]" in dataset.error_message(error.value)


def test_other_writers_layouts_are_read(tmp_path):
    """Sorted keys (protobuf's deterministic mode) and extra features (an unknown layout) both read."""
    images = make_images(5, resolution=4)
    for name, extra in (("sorted", False), ("extra", True)):
        folder = tmp_path / name
        folder.mkdir()
        records = []
        for image in images:
            feature = {"shape": tf.train.Feature(int64_list=tf.train.Int64List(value=image.shape)),
                       "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()]))}
            if extra:
                feature["note"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"hello"]))
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            records.append(example.SerializeToString(deterministic=True))
        _write_records(str(folder / f"{name}-r02.tfrecords"), records)
        got, _ = collect(dataset.TFRecordDataset(str(folder)).make_dataset(0, 2, shuffle=False, repeat=False))
        assert np.array_equal(got, images.transpose(0, 2, 3, 1)), name


def test_labels_file_lookup_and_unlabeled_cap(labeled_dir, tmp_path):
    path = _copy(labeled_dir[0], tmp_path / "labeled")
    np.save(os.path.join(path, "other.npy"), np.ones([NUM_IMAGES, 2], np.float32))
    os.rename(os.path.join(path, "other.npy"), os.path.join(path, "other.lbl"))
    ds = dataset.TFRecordDataset(path, label_file="other.lbl", max_label_size="full")
    assert ds.label_file == os.path.join(path, "other.lbl") and ds.labels.shape == (NUM_IMAGES, 2)
    with pytest.raises(ValueError, match="does not exist"):
        dataset.TFRecordDataset(path, label_file="nope.labels", max_label_size="full")
    # Fewer label rows than records: the original's zip stops at the shorter.
    np.save(os.path.join(path, "short.npy"), np.ones([5, 2], np.float32))
    short = dataset.TFRecordDataset(path, label_file=os.path.join(path, "short.npy"), max_label_size="full")
    assert short.num_images == 5
    assert collect(short.make_dataset(0, 2, shuffle=False, repeat=False))[0].shape[0] == 5
    assert reader.UNLABELED_RECORD_LIMIT == 1 << 20


def test_resolution_argument_ignores_larger_files(labeled_dir):
    path, images, _ = labeled_dir
    ds = dataset.TFRecordDataset(path, resolution=8)
    assert ds.shape == (8, 8, 3) and sorted(ds.tfrecord_files) == [0, 1]
    got, _ = collect(ds.make_dataset(0, 4, shuffle=False, repeat=False))
    assert np.array_equal(got, nhwc_levels(images)[1])
