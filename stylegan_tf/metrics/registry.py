"""The named metrics of the original release and how to run one on a network pickle.

| name | what | samples | per-GPU batch |
|---|---|---|---|
| `fid50k` (any `fidNk`, or `fidN`) | FID against the dataset | 50,000 | 8 |
| `ppl_zfull`, `ppl_wfull`, `ppl_zend`, `ppl_wend` | perceptual path length, epsilon 1e-4 | 100,000 | 16 |
| `ls` | linear separability, 40 attributes | 200,000 (keep 100,000) | 4 |
| `dummy` | reports 0, for checking the plumbing | - | - |

`get_metric(name, num_images=N)` makes a smaller variant of any of them; its name records the
count (`fid1k`, `ppl_wend-n1000`, `ls-n2000`) so that its results never mix with full runs.
"""
import re
import time

from stylegan_tf.metrics import metric_base
from stylegan_tf.metrics.frechet_inception_distance import FID
from stylegan_tf.metrics.linear_separability import LS
from stylegan_tf.metrics.perceptual_path_length import PPL

PPL_VARIANTS = {f"ppl_{space}{sampling}": (space, sampling) for space in "zw" for sampling in ("full", "end")}
STANDARD_METRICS = ("fid50k", *PPL_VARIANTS, "ls", "dummy")


class DummyMetric:
    """Reports 0.0; for testing the plumbing."""

    def __init__(self, name="dummy"):
        self.name = name

    def evaluate(self, Gs, options):
        del Gs, options
        return [metric_base.MetricResult(self.name, "", 0.0)]


def _fid_name(num_images):
    return f"fid{num_images // 1000}k" if num_images % 1000 == 0 else f"fid{num_images}"


def get_metric(name, num_images=None, **kwargs):
    """A metric object by name.

    Args:
        name: one of STANDARD_METRICS, or `fid<N>k` / `fid<N>` for FID with N thousand / N images.
        num_images: override the number of samples (FID images, PPL pairs, LS samples; LS keeps half).
        **kwargs: passed to the metric's constructor (e.g. minibatch_per_gpu, classifiers).

    Raises:
        ValueError: unknown name or bad count.
    """
    if num_images is not None and num_images < 2:
        raise ValueError(f"num_images must be at least 2, got {num_images}")
    fid_match = re.fullmatch(r"fid(\d+)(k?)", name)
    if fid_match:
        count = int(fid_match.group(1)) * (1000 if fid_match.group(2) else 1)
        count = num_images or count
        return FID(_fid_name(count), count, **kwargs)
    suffix = f"-n{num_images}" if num_images else ""
    if name in PPL_VARIANTS:
        space, sampling = PPL_VARIANTS[name]
        return PPL(name + suffix, num_images or 100_000, 1e-4, space, sampling, **kwargs)
    if name == "ls":
        samples = num_images or 200_000
        return LS(name + suffix, samples, samples // 2 if num_images else 100_000, **kwargs)
    if name == "dummy":
        return DummyMetric(name + suffix)
    raise ValueError(f"unknown metric {name!r}; known: {', '.join(STANDARD_METRICS)} and fid<N>k")


def evaluate(metric, network_pkl, options, output_dir=None, Gs=None):
    """Evaluates one metric on a network pickle and records the result.

    Args:
        metric: from get_metric.
        network_pkl: path of an original StyleGAN pickle or one of our snapshots.
        options: metric_base.EvaluationOptions.
        output_dir: run folder for `metric-<name>.txt/.jsonl`; None: no files.
        Gs: an already loaded Gs to use instead of loading `network_pkl` (its name is still used).

    Returns:
        (results [MetricResult], seconds, the text line).
    """
    start = time.time()
    if Gs is None:
        from stylegan_tf import legacy
        _G, _D, Gs = legacy.load_networks(network_pkl)
    results = metric.evaluate(Gs, options)
    seconds = time.time() - start
    if output_dir is not None:
        line = metric_base.append_results(output_dir, metric.name, network_pkl, seconds, results, options)
    else:
        line = metric_base.result_line(network_pkl, seconds, results)
    return results, seconds, line
