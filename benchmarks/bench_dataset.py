"""Benchmark of the dataset tool and the input pipeline; prints images/s.

1. Conversion: `create_from_images` on a folder of real photos (default: the shared 256x256 faces), with one
   decoding thread and with one per core.
2. Pipeline: `TFRecordDataset.make_dataset` at 64x64 and 256x256 (shuffle + repeat, as training reads it),
   as uint8 and as float32 in [-1, 1] with mirror augment.

    python benchmarks/bench_dataset.py [--faces_dir ../shared/data/frl_faces_256] [--batch_size 32]

Compare the pipeline figures with what a training step consumes at the same resolution (../shared/PERF.md).
"""
import os
import pathlib
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import (
    app,  # pylint: disable=wrong-import-position
    flags,  # pylint: disable=wrong-import-position
)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from stylegan_tf import dataset  # noqa: E402
from stylegan_tf.dataset import image_folder, writer  # noqa: E402

flags.DEFINE_string("faces_dir", str(REPO_ROOT.parent / "shared" / "data" / "frl_faces_256"),
                    "Folder of images to convert (default: ../shared/data/frl_faces_256 beside the repository).")
flags.DEFINE_integer("batch_size", 32, "Pipeline batch size.")
flags.DEFINE_float("seconds", 5.0, "Time to measure each pipeline configuration.")
flags.DEFINE_integer("repeats", 2, "Conversions per thread setting (the best is reported).")
flags.DEFINE_string("work_dir", None, "Where to write the datasets (default: a temporary directory, removed).")
FLAGS = flags.FLAGS


def bench_conversion(image_dir, work_dir, num_workers, repeats):
    """Best images/s of create_from_images over `repeats` runs."""
    best = 0.0
    for run in range(repeats):
        target = os.path.join(work_dir, f"convert-{num_workers}-{run}")
        start = time.perf_counter()
        exporter = image_folder.create_from_images(
            target, image_dir, options=writer.ExportOptions(num_workers=num_workers, progress=False))
        best = max(best, exporter.cur_images / (time.perf_counter() - start))
        if run < repeats - 1:
            shutil.rmtree(target)
    return best, target


def bench_pipeline(tfrecord_dir, lod, batch_size, seconds, **kwargs):
    """images/s delivered by make_dataset after a warm-up of 20 batches."""
    ds = dataset.TFRecordDataset(tfrecord_dir)
    iterator = iter(ds.make_dataset(lod, batch_size, **kwargs))
    for _ in range(20):
        next(iterator)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        images, _ = next(iterator)
        count += int(images.shape[0])
    return count / (time.perf_counter() - start), images.shape


def main(_):
    if not os.path.isdir(FLAGS.faces_dir):
        print(f"Error: {FLAGS.faces_dir} does not exist (pass --faces_dir)", file=sys.stderr)
        return 1
    work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix="bench_dataset-")
    cores = writer.default_num_workers()
    try:
        num_images = len(image_folder.list_image_files(FLAGS.faces_dir)[0])
        print(f"Conversion: create_from_images, {num_images} images from {FLAGS.faces_dir}")
        tfrecord_dir = None
        for workers in sorted({1, cores}):
            rate, tfrecord_dir = bench_conversion(FLAGS.faces_dir, work_dir, workers, FLAGS.repeats)
            print(f"  {workers} thread(s): {rate:8.1f} images/s")
        ds = dataset.TFRecordDataset(tfrecord_dir)
        print(f"Pipeline: make_dataset, batch {FLAGS.batch_size}, shuffle + repeat, {FLAGS.seconds:.0f} s each")
        for resolution in (64, 256):
            if resolution > ds.resolution:
                continue
            lod = ds.resolution_log2 - int(resolution).bit_length() + 1
            for label, kwargs in (("uint8", {}), ("float32 [-1, 1] + mirror", {"drange": (-1, 1),
                                                                              "mirror_augment": True})):
                rate, shape = bench_pipeline(tfrecord_dir, lod, FLAGS.batch_size, FLAGS.seconds, **kwargs)
                print(f"  {resolution:4d}x{resolution:<4d} {label:26s} {rate:10.0f} images/s  batch {list(shape)}")
    finally:
        if FLAGS.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    app.run(main)
