"""What every metric shares: evaluation options, result records, the result files, real images.

A metric is an object with a `name` and `evaluate(Gs, options) -> [MetricResult]`. `run_metric`
loads a network pickle, evaluates its Gs, times it and appends the outcome to the run folder in
the original's text format (`metric-<name>.txt`) and as JSON lines (`metric-<name>.jsonl`).
"""
import dataclasses
import datetime
import hashlib
import json
import os
import pathlib

import numpy as np
import tensorflow as tf

from stylegan_tf import downloads, fileio


@dataclasses.dataclass(frozen=True)
class MetricResult:
    """One reported number.

    Args:
        metric: metric name, e.g. "ls".
        suffix: appended to the name in reports, e.g. "_z" (empty for single-valued metrics).
        value: the number.
        fmt: printf format of the value in the text line.
    """
    metric: str
    suffix: str
    value: float
    fmt: str = "%-10.4f"

    @property
    def name(self):
        return self.metric + self.suffix


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
    progress: bool = True

    def metrics_cache_dir(self):
        return pathlib.Path(self.cache_dir) if self.cache_dir else downloads.cache_dir() / "metrics"


def convert_images_to_uint8(images):
    """float images in [-1, 1] -> uint8 as the original: `x * 127.5 + 128`, clipped, then floored."""
    images = tf.convert_to_tensor(images, tf.float32) * 127.5 + 128.0
    return tf.cast(tf.clip_by_value(images, 0.0, 255.0), tf.uint8)


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


def format_time(seconds):
    """'12s', '3m 05s', '2h 01m 09s', '1d 04h 10m', the original's style."""
    seconds = int(np.rint(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {(seconds // 60) % 60:02d}m {seconds % 60:02d}s"
    return f"{seconds // 86400}d {(seconds // 3600) % 24:02d}h {(seconds // 60) % 60:02d}m"


def result_line(network_pkl, eval_time, results):
    """The original's one-line report: network name (30 wide), time, then `name value` pairs."""
    network_name = os.path.splitext(os.path.basename(str(network_pkl)))[0]
    if len(network_name) > 29:
        network_name = "..." + network_name[-26:]
    line = "%-30s" % network_name + " time %-12s" % format_time(eval_time)
    for result in results:
        line += " " + result.name + " " + result.fmt % result.value
    return line


def _append_line(path, line):
    # One write() of a whole line in append mode: concurrent appenders never interleave within it.
    with open(path, "a", encoding="utf-8") as file:
        file.write(line + "\n")


def append_results(output_dir, metric_name, network_pkl, eval_time, results, options=None, extra=None):
    """Appends a result to `<output_dir>/metric-<name>.txt` (original format) and `.jsonl`.

    Args:
        output_dir: run folder (created if needed).
        metric_name: the metric's name (file name part).
        network_pkl: evaluated pickle.
        eval_time: seconds.
        results: [MetricResult].
        options: EvaluationOptions, recorded in the JSON line.
        extra: dict of further JSON fields.

    Returns:
        The text line.
    """
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    line = result_line(network_pkl, eval_time, results)
    _append_line(output_dir / f"metric-{metric_name}.txt", line)
    record = {
        "metric": metric_name,
        "network": str(network_pkl),
        "results": {result.name: float(result.value) for result in results},
        "eval_time": float(eval_time),
        "eval_time_str": format_time(eval_time),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if options is not None:
        record["options"] = {key: value for key, value in dataclasses.asdict(options).items()
                             if key not in ("progress",)}
    record.update(extra or {})
    _append_line(output_dir / f"metric-{metric_name}.jsonl", json.dumps(record, sort_keys=True))
    return line


def real_statistics_cache_file(options, metric_name, **kwargs):
    """Cache path of real-image statistics, keyed like the original.

    The key is an MD5 over the sorted (metric name, mirror flag, dataset arguments, extra kwargs);
    the file is `<md5>-<metric>-<dataset folder name>.npz`. The dataset folder enters as an
    absolute path, so two datasets of the same name never share statistics.
    """
    tfrecord_dir = os.path.abspath(options.tfrecord_dir)
    all_args = dict(metric_name=metric_name, mirror_augment=bool(options.mirror_augment),
                    tfrecord_dir=tfrecord_dir, resolution=options.resolution, shuffle_mb=0)
    all_args.update(kwargs)
    digest = hashlib.md5(repr(sorted(all_args.items())).encode("utf-8")).hexdigest()
    dataset_name = os.path.basename(os.path.normpath(tfrecord_dir))
    return options.metrics_cache_dir() / f"{digest}-{metric_name}-{dataset_name}.npz"


def save_npz_atomic(path, **arrays):
    """np.savez to a temporary file beside `path`, then rename."""
    with fileio.atomic_write(path) as file:
        np.savez(file, **arrays)


def iterate_reals(options, minibatch_size):
    """Real images as the original's metrics read them: full resolution, record order, repeating.

    Yields uint8 NHWC NumPy batches of `minibatch_size`; with `options.mirror_augment` each image
    is flipped left-right with probability 0.5.
    """
    from stylegan_tf import dataset  # the dataset pipeline is only needed for real images

    if not options.tfrecord_dir:
        raise ValueError("this metric needs real images: give the TFRecord dataset folder (--data_dir)")
    if not os.path.isdir(options.tfrecord_dir):
        raise ValueError(f"dataset folder not found: {options.tfrecord_dir}")
    reals = dataset.TFRecordDataset(options.tfrecord_dir, resolution=options.resolution)
    data = reals.make_dataset(lod=0, batch_size=minibatch_size, shuffle=False, repeat=True,
                              mirror_augment=bool(options.mirror_augment), seed=options.seed)
    for images, _labels in data:
        yield images.numpy()
