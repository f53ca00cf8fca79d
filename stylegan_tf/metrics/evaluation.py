"""What a metric's `evaluate(Gs, options)` works with: the options, real images, cached statistics.

A metric is an object with a `name` and `evaluate(Gs, options) -> [reporting.MetricResult]`;
`registry.evaluate` loads a pickle, times the metric and records its results.
"""
import dataclasses
import glob
import hashlib
import os
import pathlib
import sys

import numpy as np
import tensorflow as tf

from stylegan_tf import downloads, fileio, npz


@dataclasses.dataclass
class EvaluationOptions:
    """How to evaluate: data, devices, randomness, caches.

    Args:
        tfrecord_dir: folder of the TFRecord dataset with the real images (FID only).
        mirror_augment: flip each real image with probability 0.5, as the run being evaluated.
        resolution: dataset resolution to read (None: the dataset's largest).
        num_gpus: the original's per-GPU batches are multiplied by this (minibatch sizes and,
            for PPL, one noise draw per per-GPU batch follow the original with this many GPUs).
        seed: seed of every random draw (latents, noise, interpolation points, mirroring).
        cache_dir: where real-image statistics are cached (default: <download cache>/metrics).
        classifier_dir: folder with the `celebahq-classifier-NN-*.pkl` files (linear separability).
        inception_path: FID Inception TorchScript file (None: the registered download).
        vgg16_pkl: NVIDIA's vgg16.pkl for precision and recall (None: <cache_dir>/vgg16.pkl).
        xla: compile the feature networks with XLA: 'auto' (on GPUs only), 'on' or 'off' (also
            no fused XLA clusters in Gs, `stylegan_tf.xla.elementwise`).
        progress: show tqdm progress bars.
    """
    tfrecord_dir: str = None
    mirror_augment: bool = False
    resolution: int = None
    num_gpus: int = 1
    seed: int = 1000
    cache_dir: str = None
    classifier_dir: str = None
    inception_path: str = None
    vgg16_pkl: str = None
    xla: str = "auto"
    progress: bool = True

    def metrics_cache_dir(self):
        return pathlib.Path(self.cache_dir) if self.cache_dir else downloads.cache_dir() / "metrics"


def box_downsample(images, size):
    """Averages non-overlapping factor x factor boxes so NHWC images become at most `size` wide.

    The original shrinks images larger than 256 this way before PPL's LPIPS and LS's classifiers.
    """
    height, width = images.shape[1], images.shape[2]
    if width <= size:
        return images
    factor = width // size
    channels = images.shape[3]
    images = tf.reshape(images, [-1, height // factor, factor, width // factor, factor, channels])
    return tf.reduce_mean(images, axis=[2, 4])


def zero_labels(Gs, count):
    """The labels the original feeds when it passes None: zeros [count, label_size], or None."""
    return tf.zeros([count, Gs.label_size]) if Gs.label_size else None


_FINGERPRINT_BYTES = 1 << 16


def dataset_fingerprint(tfrecord_dir):
    """What identifies a dataset folder's content cheaply: each record and label file's name, size and
    modification time and a SHA-256 of its first and last 64 KiB. A dataset rebuilt at the same path
    gets another fingerprint, so statistics cached for the old one are not reused."""
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(glob.escape(tfrecord_dir), "*.tfrecords"))
                       + glob.glob(os.path.join(glob.escape(tfrecord_dir), "*.labels"))):
        stat = os.stat(path)
        digest.update(f"{os.path.basename(path)}:{stat.st_size}:{stat.st_mtime_ns};".encode("utf-8"))
        with open(path, "rb") as file:
            digest.update(file.read(_FINGERPRINT_BYTES))
            file.seek(max(stat.st_size - _FINGERPRINT_BYTES, 0))
            digest.update(file.read(_FINGERPRINT_BYTES))
    return digest.hexdigest()


def real_statistics_cache_file(options, metric_name, **kwargs):
    """Cache path of real-image statistics, keyed like the original plus the dataset's content.

    The key is an MD5 over the sorted (metric name, mirror flag, dataset arguments, extra kwargs,
    `dataset_fingerprint`); the file is `<md5>-<metric>-<dataset folder name>.npz`. The dataset
    folder enters as an absolute path, so two datasets of the same name never share statistics, and
    with its fingerprint, so a dataset rebuilt at the same path does not either.
    """
    tfrecord_dir = os.path.abspath(options.tfrecord_dir)
    all_args = dict(metric_name=metric_name, mirror_augment=bool(options.mirror_augment),
                    tfrecord_dir=tfrecord_dir, resolution=options.resolution, shuffle_mb=0,
                    content=dataset_fingerprint(tfrecord_dir))
    all_args.update(kwargs)
    digest = hashlib.md5(repr(sorted(all_args.items())).encode("utf-8")).hexdigest()
    dataset_name = os.path.basename(os.path.normpath(tfrecord_dir))
    return options.metrics_cache_dir() / f"{digest}-{metric_name}-{dataset_name}.npz"


def load_cached_reals(cache_file, names):
    """The arrays `names` of a real-statistics cache file, or None when there is none; a damaged one
    (a truncated write from elsewhere, say) is reported, removed and recomputed."""
    if not cache_file.is_file():
        return None
    try:
        arrays = npz.load(cache_file, "statistics cache")
        values = [arrays[name] for name in names]
    except (ValueError, KeyError) as error:
        print(f"Warning: {error}; removing it and computing the statistics again.", file=sys.stderr)
        cache_file.unlink(missing_ok=True)
        return None
    print(f"Using the cached real-image statistics {cache_file} (same dataset content).", file=sys.stderr)
    return values


def save_npz_atomic(path, **arrays):
    """np.savez to a temporary file beside `path`, then rename."""
    with fileio.atomic_write(path) as file:
        np.savez(file, **arrays)


def open_reals(options):
    """The TFRecordDataset of the real images in `options`."""
    from stylegan_tf import dataset  # the dataset pipeline is only needed for real images

    if not options.tfrecord_dir:
        raise ValueError("this metric needs real images: give the TFRecord dataset folder (--dataset)")
    if not os.path.isdir(options.tfrecord_dir):
        raise ValueError(f"dataset folder not found: {options.tfrecord_dir}")
    return dataset.TFRecordDataset(options.tfrecord_dir, resolution=options.resolution)


def check_reals_match(Gs, options, num_images):
    """Refuses reals of another resolution or channel count than Gs makes (a metric between them
    would be computed, and meaningless); notes when `num_images` exceeds the dataset."""
    reals = open_reals(options)
    held = (reals.resolution, reals.num_channels)
    # A stand-in that declares no output shape (a replay of images, say) cannot be checked.
    made = (int(Gs.resolution), int(Gs.num_channels)) if hasattr(Gs, "resolution") else held
    if made != held:
        hint = (f" (read it at {made[0]}x{made[0]} with --resolution={made[0]})"
                if made[1] == held[1] and made[0] < held[0] else "")
        raise ValueError(f"the network makes {made[0]}x{made[0]} images with {made[1]} channel(s), but "
                         f"{options.tfrecord_dir} is read at {held[0]}x{held[0]} with {held[1]}{hint}")
    if num_images > reals.num_images:
        print(f"Note: {num_images} real images requested but {options.tfrecord_dir} holds "
              f"{reals.num_images}; they repeat, so this differs from a true {num_images}-sample "
              "statistic.", file=sys.stderr, flush=True)


def iterate_reals(options, minibatch_size):
    """Real images as the original's metrics read them: full resolution, record order, repeating.

    Yields uint8 NHWC NumPy batches of `minibatch_size`; with `options.mirror_augment` each image
    is flipped left-right with probability 0.5.
    """
    reals = open_reals(options)
    data = reals.make_dataset(lod=0, batch_size=minibatch_size, shuffle=False, repeat=True,
                              mirror_augment=bool(options.mirror_augment), seed=options.seed)
    for images, _labels in data:
        yield images.numpy()
