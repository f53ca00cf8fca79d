"""The named metrics of the original release and how to run one on a network pickle.

| name | what | samples | per-GPU batch |
|---|---|---|---|
| `fid50k` (any `fidNk`, or `fidN`) | FID against the dataset | 50,000 | 8 |
| `ppl_zfull`, `ppl_wfull`, `ppl_zend`, `ppl_wend` | perceptual path length, epsilon 1e-4 | 100,000 | 16 |
| `ppl2_wend` | StyleGAN2's path length in W at the endpoints, whole image (no face crop) | 50,000 | 4 |
| `ls` | linear separability, 40 attributes | 200,000 (keep 100,000) | 4 |
| `pr50k3` | StyleGAN2's precision and recall, k = 3, VGG16 fc2 (needs NVIDIA's vgg16.pkl) | 50,000 | 8 |
| `dummy` | reports 0, for checking the plumbing | - | - |

`get_metric(name, num_images=N)` makes a smaller variant of any of them; its name records the
count (`fid1k`, `ppl_wend-n1000`, `ls-n2000`) so that its results never mix with full runs.
"""
import re
import time

from stylegan_tf import xla
from stylegan_tf.metrics import reporting
from stylegan_tf.metrics.frechet_inception_distance import FID
from stylegan_tf.metrics.linear_separability import LS
from stylegan_tf.metrics.perceptual_path_length import PPL
from stylegan_tf.metrics.precision_recall import PR

PPL_VARIANTS = {f"ppl_{space}{sampling}": (space, sampling) for space in "zw" for sampling in ("full", "end")}
STANDARD_METRICS = ("fid50k", *PPL_VARIANTS, "ppl2_wend", "ls", "pr50k3", "dummy")


class DummyMetric:
    """Reports 0.0; for testing the plumbing."""

    def __init__(self, name="dummy"):
        self.name = name

    def evaluate(self, Gs, options):
        del Gs, options
        return [reporting.MetricResult(self.name, "", 0.0)]


_FACTORIES = []  # (compiled name pattern, factory(match, num_images, **kwargs) -> metric)


def register(pattern):
    """Registers a metric factory for the names that fully match the regular expression `pattern`.
    The factory gets the match, the `num_images` override (None: the metric's own count) and the
    constructor kwargs."""
    def decorator(factory):
        _FACTORIES.append((re.compile(pattern), factory))
        return factory
    return decorator


def _fid_name(num_images):
    return f"fid{num_images // 1000}k" if num_images % 1000 == 0 else f"fid{num_images}"


def _count_suffix(num_images):
    return f"-n{num_images}" if num_images else ""


@register(r"fid(\d+)(k?)")
def _fid(match, num_images, **kwargs):
    count = num_images or int(match.group(1)) * (1000 if match.group(2) else 1)
    return FID(_fid_name(count), count, **kwargs)


@register("|".join(PPL_VARIANTS))
def _ppl(match, num_images, **kwargs):
    space, sampling = PPL_VARIANTS[match.group(0)]
    return PPL(match.group(0) + _count_suffix(num_images), num_images or 100_000, 1e-4, space,
               sampling, **kwargs)


@register("ppl2_wend")
def _ppl2_wend(match, num_images, **kwargs):
    kwargs.setdefault("minibatch_per_gpu", 4)
    return PPL(match.group(0) + _count_suffix(num_images), num_images or 50_000, 1e-4, "w", "end",
               crop=False, **kwargs)


@register("ls")
def _ls(match, num_images, **kwargs):
    samples = num_images or 200_000
    return LS(match.group(0) + _count_suffix(num_images), samples,
              samples // 2 if num_images else 100_000, **kwargs)


@register(r"pr(\d+)k(\d+)")
def _pr(match, num_images, **kwargs):
    count = num_images or int(match.group(1)) * 1000
    name = match.group(0) if not num_images else f"pr{count}-k{match.group(2)}"
    return PR(name, count, int(match.group(2)), **kwargs)


@register("dummy")
def _dummy(match, num_images, **kwargs):
    del kwargs
    return DummyMetric(match.group(0) + _count_suffix(num_images))


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
    for pattern, factory in _FACTORIES:
        match = pattern.fullmatch(name)
        if match:
            return factory(match, num_images, **kwargs)
    raise ValueError(f"unknown metric {name!r}; known: {', '.join(STANDARD_METRICS)} and fid<N>k")


def evaluate(metric, network_pkl, options, output_dir=None, Gs=None):
    """Evaluates one metric on a network pickle and records the result.

    Args:
        metric: from get_metric.
        network_pkl: path of an original StyleGAN pickle or one of our snapshots.
        options: evaluation.EvaluationOptions.
        output_dir: run folder for `metric-<name>.txt/.jsonl`; None: no files.
        Gs: an already loaded Gs to use instead of loading `network_pkl` (its name is still used).

    Returns:
        (results [MetricResult], seconds, the text line).
    """
    start = time.time()
    if Gs is None:
        from stylegan_tf import legacy
        from stylegan_tf.networks.runtime import Runtime
        _G, _D, Gs = legacy.load_networks(network_pkl, Runtime(impl=xla.inference_impl(options.xla)))
    results = metric.evaluate(Gs, options)
    seconds = time.time() - start
    if output_dir is not None:
        line = reporting.append_results(output_dir, metric.name, network_pkl, seconds, results, options)
    else:
        line = reporting.result_line(network_pkl, seconds, results)
    return results, seconds, line
