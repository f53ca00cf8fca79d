"""Train a StyleGAN as the original release does (progressive growing, same schedule and losses).

Examples:
    # the demo: small networks on scikit-learn's digits, 4x4 -> 32x32 in minutes on a CPU
    python train.py --config=demo
    # FFHQ 1024x1024 with the original's 8-GPU settings, on every visible GPU
    python train.py --config=ffhq-8gpu --data_dir=datasets
    # plan a run: the schedule every 100 kimg
    python train.py --config=ffhq-1gpu --print_schedule
    # continue the latest snapshot of run 3 (or give a run directory or a .pkl)
    python train.py --config=ffhq-8gpu --resume=3
    # override anything: --set=<field>=<value>
    python train.py --config=demo --set=sched.lod_training_kimg=10 --set=G_args.fmap_base=256

    # StyleGAN2: the release's configs A-F (and Table 2's config-e-G<arch>-D<arch>)
    python train.py --config=demo-sg2
    python train.py --config=config-f --dataset=ffhq --mirror_augment

    # StyleGAN2-ADA: a few hundred images with adaptive augmentation (the release's --cfg, --aug, ...)
    python train.py --config=demo-ada
    python train.py --cfg=auto --dataset=my-images --mirror --aug=ada --augpipe=bgc
    python train.py --cfg=paper256 --dataset=my-images --resume=results/00003-ada-my-images-paper256 --freezed=10

StyleGAN presets are `<dataset>[-<N>gpu][-<variant>...]`, StyleGAN2 presets
`[<dataset>-]config-<a..f>`, StyleGAN2-ADA's `ada-<cfg>` or `--cfg=<cfg>` (see --list_configs);
flags override them.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Before TensorFlow is imported.

from absl import (
    app,  # pylint: disable=wrong-import-position
    flags,  # pylint: disable=wrong-import-position
    logging,  # pylint: disable=wrong-import-position
)

from stylegan_tf import cli  # pylint: disable=wrong-import-position
from stylegan_tf.training import config as config_lib  # pylint: disable=wrong-import-position
from stylegan_tf.training import distribute, loop, schedule, snapshots  # pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "Preset name, e.g. demo, demo-sg2, ffhq-8gpu, config-f, celebahq-1gpu-wgangp "
                    "(--list_configs lists them). With --resume=<run dir> it defaults to that "
                    "run's config.json.")
flags.DEFINE_bool("list_configs", False, "List the preset names and variants, then exit.")
flags.DEFINE_string("data_dir", None, "Root directory of the datasets (default: datasets).")
flags.DEFINE_string("dataset", None, "Dataset directory under --data_dir (or absolute); "
                    "overrides the preset's.")
cli.define_outdir_flag(flags, None, "Root directory of the runs (default: results)")
flags.DEFINE_alias("result_dir", "outdir")
flags.DEFINE_float("total_kimg", None, "Length of the training in thousands of real images.")
flags.DEFINE_enum("strategy", None, list(config_lib.STRATEGIES),
                  "tf.distribute strategy (default: auto = multiworker with TF_CONFIG, mirrored "
                  "with several GPUs, else one device).")
flags.DEFINE_integer("cpu_replicas", 0, "Split the CPU into this many logical devices (to run "
                     "mirrored replicas on a CPU, e.g. for testing); 0 = no split.")
cli.define_xla_flag(flags, "the training steps", default=None)
flags.DEFINE_enum("precision", None, list(config_lib.PRECISIONS),
                  "fp32 (exact; the default), or bf16 / fp16 mixed precision on the top --num_fp16_res "
                  "resolutions of G and D, as StyleGAN2-ADA (pays on GPUs with bf16/fp16 units; on CPUs "
                  "without AMX it is slower, see benchmarks/README.md).")
flags.DEFINE_integer("num_fp16_res", None, "Mixed precision: resolutions computed in low precision (default 4).")
flags.DEFINE_bool("mirror_augment", None, "Random horizontal flips of the reals.")
flags.DEFINE_alias("mirror", "mirror_augment")
flags.DEFINE_enum("cfg", None, list(config_lib.ADA_CFG_NAMES), "StyleGAN2-ADA's base config (instead of "
                  "--config): auto (from the resolution and --num_gpus), stylegan2, paper256, paper512, "
                  "paper1024 or cifar.")
flags.DEFINE_enum("aug", None, list(config_lib.AUGMENT_MODES), "Discriminator augmentation: ada (p tuned "
                  "towards --target), noaug, or fixed (needs --p). Default: the config's (ada with --cfg).")
flags.DEFINE_float("p", None, "Augmentation probability for --aug=fixed.")
flags.DEFINE_float("target", None, "ADA's target for r_t = E[sign(D(aug(real)))] (default 0.6).")
flags.DEFINE_enum("augpipe", None, list(config_lib.AUGMENT_PIPES), "Augmentation pipeline (default bgc).")
flags.DEFINE_integer("freezed", None, "Freeze-D: do not train D's first N layers (transfer learning).")
flags.DEFINE_float("gamma", None, "R1 regularization weight (D_logistic_r1's gamma, "
                   "D_logistic_simplegp's r1_gamma).")
flags.DEFINE_string("resume", None, "Snapshot .pkl, run directory or run id (under --outdir) to "
                    "continue from, or an original .pkl, registered name (e.g. ffhq-1024) or URL to start "
                    "from (transfer learning).")
cli.define_trusted_source_flag(flags)
flags.DEFINE_bool("resume_without_state", False, "Resume the networks of a snapshot but not its "
                  "-state.npz (fresh optimizers; progress from the file name or --resume_kimg).")
flags.DEFINE_float("resume_kimg", None, "Progress to assume when resuming (default: from the "
                   "snapshot's state file or name).")
flags.DEFINE_integer("snapshot_keep", None, "Keep only the newest K network snapshots (0 = all).")
flags.DEFINE_integer("seed", None, "Random seed (default 1000, as the original).")
flags.DEFINE_multi_string("set", [], "Override a config field: path=value, e.g. "
                          "sched.lod_training_kimg=10, G_args.fmap_base=256, "
                          "D_loss.kwargs.r1_gamma=5, network_snapshot_ticks=1.")
flags.DEFINE_bool("print_schedule", False, "Print the training schedule and exit.")
flags.DEFINE_float("schedule_step_kimg", 100, "Row spacing of --print_schedule.")
flags.DEFINE_integer("num_gpus", None, "Replicas assumed by --print_schedule (default: the "
                     "preset's).")
flags.DEFINE_integer("resolution", None, "Dataset resolution assumed by --print_schedule when "
                     "the dataset is not on disk (default: the preset's dataset).")
flags.DEFINE_bool("dry_run", False, "Print the resolved config as JSON and exit.")
flags.adopt_module_key_flags(cli)  # the shared flags it defines show in --help too


def resolve_from_flags():
    """The TrainConfig that the flags describe."""
    overrides = list(FLAGS.set)
    if FLAGS.cfg is not None:
        if FLAGS.config is not None:
            raise ValueError("give --config or --cfg, not both.")
        config = ada_config_from_flags()
        for assignment in overrides:
            config_lib.apply_override(config, assignment)
    elif FLAGS.config is None:
        run_dir = resumed_run_dir()
        if run_dir and os.path.isfile(os.path.join(run_dir, "config.json")):
            config = config_lib.load_config_json(os.path.join(run_dir, "config.json"))
            config.resume = None
            for assignment in overrides:
                config_lib.apply_override(config, assignment)
        else:
            raise ValueError("--config is required, e.g. --config=demo (--list_configs lists "
                             "the presets).")
    else:
        config = config_lib.preset(FLAGS.config)
        for assignment in overrides:
            config_lib.apply_override(config, assignment)
    direct = dict(data_dir=FLAGS.data_dir, result_dir=FLAGS.outdir,
                  total_kimg=FLAGS.total_kimg, strategy=FLAGS.strategy, xla=FLAGS.xla,
                  mirror_augment=FLAGS.mirror_augment, resume=FLAGS.resume,
                  resume_kimg=FLAGS.resume_kimg, snapshot_keep=FLAGS.snapshot_keep,
                  random_seed=FLAGS.seed, precision=FLAGS.precision, num_fp16_res=FLAGS.num_fp16_res)
    for name, value in direct.items():
        if value is not None:
            setattr(config, name, value)
    if FLAGS.dataset is not None:
        config.dataset.tfrecord_dir = FLAGS.dataset
    if FLAGS.gamma is not None:
        key = {"D_logistic_r1": "gamma", "D_logistic_simplegp": "r1_gamma"}.get(config.D_loss.func_name)
        if key is None:
            raise ValueError(f"--gamma sets the R1 weight; the D loss {config.D_loss.func_name} has none.")
        config.D_loss.kwargs[key] = FLAGS.gamma
    if FLAGS.resume_without_state:
        config.resume_state = False
    if FLAGS.trusted_source:
        config.resume_trusted_sources = list(cli.trusted_sources_from_flags(FLAGS))
    apply_augment_flags(config)
    if FLAGS.freezed is not None:
        config.D_freeze_layers = FLAGS.freezed
    config.validate()
    return config


def ada_config_from_flags():
    """The --cfg config for the dataset (its resolution from disk for 'auto') and --num_gpus; with
    --resume, the release's resume settings (ADA speed 100 kimg, no Gs ramp)."""
    dataset = FLAGS.dataset or "ffhq"
    resolution = None
    if FLAGS.cfg == "auto":
        probe = config_lib.ada_config("stylegan2", dataset)
        probe.data_dir = FLAGS.data_dir or probe.data_dir
        resolution = FLAGS.resolution or schedule_resolution(probe)
    gpus = FLAGS.num_gpus or max(len(distribute.visible_gpus()), 1)
    config = config_lib.ada_config(FLAGS.cfg, dataset, resolution, gpus)
    if FLAGS.resume:
        config.augment.ada_kimg = 100.0
        config.G_smoothing_rampup = None
    return config


def apply_augment_flags(config):
    """--aug, --p, --target, --augpipe, checked as the release does."""
    augment = config.augment
    if FLAGS.aug is not None:
        augment.mode = FLAGS.aug
    if FLAGS.p is not None:
        if augment.mode != "fixed":
            raise ValueError("--p can only be given with --aug=fixed.")
        augment.p = FLAGS.p
    elif FLAGS.aug == "fixed":
        raise ValueError("--aug=fixed needs --p.")
    if FLAGS.target is not None:
        if augment.mode != "ada":
            raise ValueError("--target can only be given with --aug=ada.")
        augment.target = FLAGS.target
    if FLAGS.augpipe is not None:
        if augment.mode == "noaug":
            raise ValueError("--augpipe cannot be given with --aug=noaug.")
        augment.pipe = FLAGS.augpipe


def dry_run_view(config):
    """The resolved config, plus under "effective" what will run where the config leaves defaults:
    every loss and regularization argument, and how often each regularizer runs."""
    from stylegan_tf.training import losses  # pylint: disable=import-outside-toplevel
    view = config_lib.to_dict(config)
    effective = {}
    for which in ("G_loss", "D_loss"):
        loss = getattr(config, which)
        effective[which] = {"func_name": loss.func_name,
                            "kwargs": losses.effective_loss_kwargs(loss.func_name, loss.kwargs)}
    regularized = {"G": config.G_loss.func_name in losses.PATH_LENGTH_LOSSES,
                   "D": config.D_loss.func_name in losses.R1_LOSSES}
    for net, interval in (("G", config.G_reg_interval), ("D", config.D_reg_interval)):
        effective[f"{net}_regularization"] = (
            None if not regularized[net] else
            f"lazy: every {interval} minibatches, scaled by {interval}" if config.lazy_regularization
            else "every minibatch, in the main step")
    view[config_lib.EFFECTIVE_KEY] = effective
    return view


def resumed_run_dir():
    """The run directory --resume names (a folder, or a run id under --outdir), else None."""
    if not FLAGS.resume:
        return None
    if os.path.isdir(FLAGS.resume):
        return FLAGS.resume
    if FLAGS.resume.strip().isdigit():
        return snapshots.locate_run_dir(FLAGS.resume.strip(), FLAGS.outdir or "results")
    return None


def schedule_resolution(config):
    """The dataset resolution for --print_schedule: flag, config, dataset on disk, or preset."""
    if FLAGS.resolution:
        return FLAGS.resolution
    if config.dataset.resolution:
        return config.dataset.resolution
    path = config.dataset.tfrecord_dir
    path = path if os.path.isabs(path) else os.path.join(config.data_dir, path)
    if os.path.isdir(path):
        from stylegan_tf import dataset  # pylint: disable=import-outside-toplevel
        return dataset.TFRecordDataset(path).resolution
    known = config_lib.KNOWN_RESOLUTIONS.get(config.dataset.tfrecord_dir)
    if known is None:
        raise ValueError(f'dataset "{path}" not found; give its resolution with --resolution.')
    return known


@cli.user_errors_as_messages
def main():
    logging.set_verbosity(logging.WARNING)  # tf.distribute logs every all-reduce at INFO
    if FLAGS.list_configs:
        names, variants = config_lib.preset_names()
        print("Presets:  " + " ".join(names))
        print("Variants: " + " ".join(variants) + "  (append to a StyleGAN preset with '-', e.g. "
              "ffhq-1gpu-mix50)")
        print("StyleGAN2 presets take a dataset prefix: " + ", ".join(
            f"{name}-config-f" for name in config_lib.SG2_DATASETS))
        return 0
    config = resolve_from_flags()
    if FLAGS.dry_run:
        print(json.dumps(dry_run_view(config), indent=2))
        return 0
    if FLAGS.print_schedule:
        resolution = int(schedule_resolution(config))
        if resolution < 4 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {resolution}.")
        rows = schedule.schedule_rows(
            config_lib.to_dict(config)["sched"], int(resolution).bit_length() - 1,
            FLAGS.num_gpus or config.num_gpus, config.total_kimg, FLAGS.schedule_step_kimg)
        print(schedule.format_schedule_table(rows))
        return 0
    distribute.split_cpu(FLAGS.cpu_replicas)
    loop.training_loop(config)
    return 0


if __name__ == "__main__":
    app.run(main)
