"""Benchmark of the dataset tool and the input pipeline; prints images/s.

1. Conversion: `create_from_images` on a folder of real photos (default: the shared 256x256 faces), with one
   decoding thread and with one per core.
2. Pipeline: `TFRecordDataset.make_dataset` at 64x64 and 256x256 (shuffle + repeat, as training reads it),
   as uint8 and as float32 in [-1, 1] with mirror augment; and at 1024x1024 from a dataset of the faces
   upsampled 4x (`--num_1024` of them), beside what training consumes there (the releases' 8-GPU rates).

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
flags.DEFINE_integer("num_1024", 48, "Faces upsampled to 1024x1024 for the 1024 pipeline figure (0 = skip).")
flags.DEFINE_integer("parallel_batches", 2, "TFRecordDataset's batches decoded at once.")
flags.DEFINE_integer("prefetch_batches", 2, "TFRecordDataset's batches kept ready.")
flags.DEFINE_bool("conversion", True, "Also time create_from_images (else the pipeline only).")
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
    ds = dataset.TFRecordDataset(tfrecord_dir, parallel_batches=FLAGS.parallel_batches,
                                 prefetch_batches=FLAGS.prefetch_batches)
    iterator = iter(ds.make_dataset(lod, batch_size, **kwargs))
    for _ in range(20):
        next(iterator)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        images, _ = next(iterator)
        count += int(images.shape[0])
    return count / (time.perf_counter() - start), images.shape


# Images/s that training consumes on a DGX-1 (8 V100s), from the releases' README training times:
# StyleGAN2 config F, 25,000 kimg in 4 d 18 h (256x256) and 9 d 18 h (1024x1024); StyleGAN's default
# config averages 87 img/s (256) and 44 img/s (1024) over its progressive run.
TRAINING_CONSUMES = {256: 25e6 / ((4 * 24 + 18) * 3600), 1024: 25e6 / ((9 * 24 + 18) * 3600)}
STYLEGAN_AVERAGE = {256: 25e6 / ((3 * 24 + 8) * 3600), 1024: 25e6 / ((6 * 24 + 14) * 3600)}


def upsampled_faces(faces_dir, target_dir, count):
    """The first `count` faces resized to 1024x1024 (bicubic) as PNGs in `target_dir`."""
    from PIL import Image
    os.makedirs(target_dir, exist_ok=True)
    for path in image_folder.list_image_files(faces_dir)[0][:count]:
        with Image.open(path) as image:
            image.convert("RGB").resize((1024, 1024), Image.BICUBIC).save(
                os.path.join(target_dir, os.path.splitext(os.path.basename(path))[0] + ".png"))
    return target_dir


def print_pipeline(tfrecord_dir, resolutions, batch_size, seconds):
    ds = dataset.TFRecordDataset(tfrecord_dir)
    for resolution in resolutions:
        if resolution > ds.resolution:
            continue
        lod = ds.resolution_log2 - int(resolution).bit_length() + 1
        for label, kwargs in (("uint8", {}), ("float32 [-1, 1] + mirror", {"drange": (-1, 1),
                                                                          "mirror_augment": True})):
            rate, shape = bench_pipeline(tfrecord_dir, lod, batch_size, seconds, **kwargs)
            consumed = TRAINING_CONSUMES.get(resolution)
            beside = (f"  ({rate / consumed:5.1f}x StyleGAN2's {consumed:.0f} img/s on 8 V100s, "
                      f"{rate / STYLEGAN_AVERAGE[resolution]:5.1f}x StyleGAN's {STYLEGAN_AVERAGE[resolution]:.0f})"
                      if consumed else "")
            print(f"  {resolution:4d}x{resolution:<4d} {label:26s} {rate:10.0f} images/s  batch {list(shape)}{beside}",
                  flush=True)


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
        for workers in sorted({1, cores}) if FLAGS.conversion else [cores]:
            rate, tfrecord_dir = bench_conversion(FLAGS.faces_dir, work_dir, workers, FLAGS.repeats)
            print(f"  {workers} thread(s): {rate:8.1f} images/s")
        print(f"Pipeline: make_dataset, batch {FLAGS.batch_size}, shuffle + repeat, {FLAGS.seconds:.0f} s each, "
              f"{FLAGS.parallel_batches} batches decoded at once, {FLAGS.prefetch_batches} prefetched")
        print_pipeline(tfrecord_dir, (64, 256), FLAGS.batch_size, FLAGS.seconds)
        if FLAGS.num_1024:
            faces_1024 = upsampled_faces(FLAGS.faces_dir, os.path.join(work_dir, "faces-1024"), FLAGS.num_1024)
            exporter = image_folder.create_from_images(
                os.path.join(work_dir, "ds-1024"), faces_1024,
                options=writer.ExportOptions(num_workers=cores, progress=False))
            print(f"  (a 1024x1024 dataset of {exporter.cur_images} upsampled faces)")
            print_pipeline(os.path.join(work_dir, "ds-1024"), (1024,), FLAGS.batch_size, FLAGS.seconds)
    finally:
        if FLAGS.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    app.run(main)
