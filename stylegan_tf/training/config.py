"""Training configuration: dataclasses and the named presets of the original `train.py`.

A preset name is `<dataset>[-<N>gpu][-<variant>...]`, e.g. `ffhq-8gpu`, `celebahq-4gpu-wgangp`,
`ffhq-1gpu-mix50` or `bedroom-2gpu-tuned-baseline`, which reproduces the original `train.py` with
the matching lines enabled (the original `train.py`); `<N>gpu` defaults to 8 as in the original. `demo` is a
small configuration that trains on an embedded dataset in minutes on a CPU.

Resolve once with `resolve_config(name, overrides)`, log it and save it with `save_config_json`.
"""

import ast
import copy
import dataclasses
import json
import pprint
import re
from typing import Any, Dict, List, Optional, Union

from stylegan_tf.training import schedule

# ----------------------------------------------------------------------------------------------
# Dataclasses.


@dataclasses.dataclass
class DatasetConfig:
    """Where the training set is and how to read it (the original `load_dataset()` options).

    Attributes:
        tfrecord_dir: dataset directory, relative to the data dir (or absolute).
        resolution: read only up to this resolution (None = the largest in the directory).
        label_file: labels file (None = the first `*.labels` in the directory).
        max_label_size: 0 = unconditional, 'full' = all label columns, N = the first N.
    """
    tfrecord_dir: str = "ffhq"
    resolution: Optional[int] = None
    label_file: Optional[str] = None
    max_label_size: Union[int, str] = 0


@dataclasses.dataclass
class ScheduleConfig:
    """Arguments of `schedule.training_schedule` (the original's defaults)."""
    lod_initial_resolution: int = 4
    lod_training_kimg: float = 600
    lod_transition_kimg: float = 600
    minibatch_base: int = 16
    minibatch_dict: Dict[int, int] = dataclasses.field(default_factory=dict)
    max_minibatch_per_gpu: Dict[int, int] = dataclasses.field(default_factory=dict)
    G_lrate_base: float = 0.001
    G_lrate_dict: Dict[int, float] = dataclasses.field(default_factory=dict)
    D_lrate_base: float = 0.001
    D_lrate_dict: Dict[int, float] = dataclasses.field(default_factory=dict)
    lrate_rampup_kimg: float = 0
    tick_kimg_base: float = 160
    tick_kimg_dict: Dict[int, float] = dataclasses.field(
        default_factory=lambda: dict(schedule.DEFAULT_TICK_KIMG_DICT))


@dataclasses.dataclass
class OptimizerConfig:
    """Adam hyper-parameters (TF1 form; the original's `G_opt` / `D_opt`)."""
    beta1: float = 0.0
    beta2: float = 0.99
    epsilon: float = 1e-8


@dataclasses.dataclass
class LossConfig:
    """A loss function of `stylegan_tf.training.losses` by name, with its keyword arguments."""
    func_name: str = "G_logistic_nonsaturating"
    kwargs: Dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class GridConfig:
    """Snapshot image grid: size '1080p', '4k' (the original's) or 'WxH'. Images are placed as the
    original's 'random' layout (its only one for unconditional data)."""
    size: str = "4k"


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs (the original train.py dicts plus the runtime options).

    Attributes (beyond the nested configs, which keep the original's names):
        desc: run description used in the run directory name.
        num_gpus: replicas the preset's minibatch tables are written for; the schedule uses the
            number of replicas actually running.
        total_kimg .. network_snapshot_ticks: the original `training_loop()` arguments.
        snapshot_keep: keep only the newest K network snapshots (0 = keep all, as the original).
        random_seed: NumPy seed (the original's `np_random_seed`); TF seeds are drawn from it.
        data_dir, result_dir: roots for datasets and run directories.
        strategy: 'auto', 'one_device', 'mirrored' or 'multiworker'.
        xla: compile the training steps with XLA (`jit_compile=True`).
        resume: snapshot .pkl, run directory or original .pkl to start from (None = scratch).
        resume_kimg: progress to assume when resuming (None = from the snapshot's state file,
            or from its file name, else 0).
        resume_time: seconds added to the reported time when resuming (None = from the state).
        resume_state: also restore the optimizers and progress from the snapshot's state file.
    """
    desc: str = "sgan"
    dataset: DatasetConfig = dataclasses.field(default_factory=DatasetConfig)
    G_args: Dict[str, Any] = dataclasses.field(default_factory=dict)
    D_args: Dict[str, Any] = dataclasses.field(default_factory=dict)
    G_opt: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    D_opt: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    G_loss: LossConfig = dataclasses.field(
        default_factory=lambda: LossConfig("G_logistic_nonsaturating"))
    D_loss: LossConfig = dataclasses.field(
        default_factory=lambda: LossConfig("D_logistic_simplegp", {"r1_gamma": 10.0}))
    sched: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    grid: GridConfig = dataclasses.field(default_factory=GridConfig)
    num_gpus: int = 1
    total_kimg: float = 25000
    G_smoothing_kimg: float = 10.0
    D_repeats: int = 1
    minibatch_repeats: int = 4
    reset_opt_for_new_lod: bool = True
    mirror_augment: bool = False
    drange_net: List[float] = dataclasses.field(default_factory=lambda: [-1, 1])
    image_snapshot_ticks: int = 1
    network_snapshot_ticks: int = 10
    snapshot_keep: int = 0
    random_seed: int = 1000
    data_dir: str = "datasets"
    result_dir: str = "results"
    strategy: str = "auto"
    xla: bool = True
    resume: Optional[str] = None
    resume_kimg: Optional[float] = None
    resume_time: Optional[float] = None
    resume_state: bool = True

    def validate(self):
        """Raises ValueError naming the first inconsistent value."""
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, "
                             f"got {self.strategy!r}.")
        for name in ("D_repeats", "minibatch_repeats", "image_snapshot_ticks",
                     "network_snapshot_ticks", "num_gpus"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.snapshot_keep < 0:
            raise ValueError(f"snapshot_keep must be >= 0, got {self.snapshot_keep}.")
        if self.total_kimg < 0:
            raise ValueError(f"total_kimg must be >= 0, got {self.total_kimg}.")
        if self.G_smoothing_kimg < 0:
            raise ValueError(f"G_smoothing_kimg must be >= 0, got {self.G_smoothing_kimg}.")
        if len(self.drange_net) != 2 or self.drange_net[0] >= self.drange_net[1]:
            raise ValueError(f"drange_net must be [low, high], got {self.drange_net}.")
        grid_size(self.grid.size, 32)  # validates the format
        initial = self.sched.lod_initial_resolution
        if initial < 4 or initial & (initial - 1):
            raise ValueError("sched.lod_initial_resolution must be a power of two >= 4, "
                             f"got {initial}.")
        for which in ("G_loss", "D_loss"):
            name = getattr(self, which).func_name
            table = G_LOSS_NAMES if which == "G_loss" else D_LOSS_NAMES
            if name not in table:
                raise ValueError(f"{which}.func_name must be one of {', '.join(table)}, "
                                 f"got {name!r}.")


STRATEGIES = ("auto", "one_device", "mirrored", "multiworker")
# The loss functions of stylegan_tf.training.losses (named here so that planning a run needs no TensorFlow).
G_LOSS_NAMES = ("G_wgan", "G_logistic_saturating", "G_logistic_nonsaturating")
D_LOSS_NAMES = ("D_wgan", "D_wgan_gp", "D_hinge", "D_hinge_gp", "D_logistic", "D_logistic_simplegp")


def grid_size(size, resolution):
    """(grid width, grid height) in images for a GridConfig.size at a resolution."""
    if size == "1080p":
        return int(min(max(1920 // resolution, 3), 32)), int(min(max(1080 // resolution, 2), 32))
    if size == "4k":
        return int(min(max(3840 // resolution, 7), 32)), int(min(max(2160 // resolution, 4), 32))
    match = re.fullmatch(r"(\d+)x(\d+)", str(size))
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ValueError(f"grid size must be '1080p', '4k' or 'WxH' (e.g. '8x4'), got {size!r}.")
    return int(match.group(1)), int(match.group(2))


# ----------------------------------------------------------------------------------------------
# Presets (the original train.py's StyleGAN block).

# desc suffix -> (tfrecord_dir, resolution, mirror_augment)
DATASETS = {
    "ffhq": ("ffhq", None, True),
    "ffhq512": ("ffhq", 512, True),
    "ffhq256": ("ffhq", 256, True),
    "celebahq": ("celebahq", None, True),
    "bedroom": ("lsun-bedroom-full", None, False),
    "car": ("lsun-car-512x384", None, False),
    "cat": ("lsun-cat-full", None, False),
}

# num_gpus -> (minibatch_base, minibatch_dict)
GPU_TABLES = {
    1: (4, {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}),
    2: (8, {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}),
    4: (16, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16}),
    8: (32, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}),
}
DEFAULT_NUM_GPUS = 8
STYLEGAN_LRATE_DICT = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}

_TRADITIONAL = dict(use_styles=False, use_pixel_norm=True, use_instance_norm=False,
                    truncation_psi=None, const_input_layer=False, style_mixing_prob=0.0,
                    use_noise=False)
# variant desc -> G_args overrides (Tables 1, 2 and 4 of the paper, as in the original train.py).
G_VARIANTS = {
    "tuned-baseline": dict(_TRADITIONAL, mapping_layers=0),
    "add-mapping-and-styles": dict(const_input_layer=False, style_mixing_prob=0.0, use_noise=False),
    "remove-traditional-input": dict(style_mixing_prob=0.0, use_noise=False),
    "add-noise-inputs": dict(style_mixing_prob=0.0),
    "mixing-regularization": {},
    "mix0": dict(style_mixing_prob=0.0),
    "mix50": dict(style_mixing_prob=0.5),
    "mix90": dict(style_mixing_prob=0.9),
    "mix100": dict(style_mixing_prob=1.0),
    "traditional-0": dict(_TRADITIONAL, mapping_layers=0),
    "traditional-8": dict(_TRADITIONAL, mapping_layers=8),
    "stylebased-0": dict(mapping_layers=0),
    "stylebased-1": dict(mapping_layers=1),
    "stylebased-2": dict(mapping_layers=2),
    "stylebased-8": dict(mapping_layers=8),
}
LOSS_VARIANTS = ("wgangp",)

DEMO_DATASET = "sklearn-digits-32"
# Resolutions of the datasets above (for planning a schedule before the data is on disk).
KNOWN_RESOLUTIONS = {"ffhq": 1024, "celebahq": 1024, "lsun-bedroom-full": 256,
                     "lsun-car-512x384": 512, "lsun-cat-full": 256, DEMO_DATASET: 32}


def _stylegan_base(dataset_key, num_gpus):
    tfrecord_dir, resolution, mirror = DATASETS[dataset_key]
    minibatch_base, minibatch_dict = GPU_TABLES[num_gpus]
    return TrainConfig(
        desc=f"sgan-{dataset_key}-{num_gpus}gpu",
        dataset=DatasetConfig(tfrecord_dir=tfrecord_dir, resolution=resolution),
        mirror_augment=mirror,
        num_gpus=num_gpus,
        total_kimg=25000,
        sched=ScheduleConfig(lod_initial_resolution=8, minibatch_base=minibatch_base,
                             minibatch_dict=dict(minibatch_dict),
                             G_lrate_dict=dict(STYLEGAN_LRATE_DICT),
                             D_lrate_dict=dict(STYLEGAN_LRATE_DICT)),
        grid=GridConfig(size="4k"),
    )


def _apply_variant(config, variant):
    config.desc += f"-{variant}"
    if variant == "wgangp":
        config.G_loss = LossConfig("G_wgan")
        config.D_loss = LossConfig("D_wgan_gp")
        capped = {res: min(lrate, 0.002) for res, lrate in config.sched.G_lrate_dict.items()}
        config.sched.G_lrate_dict = dict(capped)
        config.sched.D_lrate_dict = dict(capped)
    else:
        config.G_args.update(G_VARIANTS[variant])


def demo_config():
    """Small networks on scikit-learn's handwritten digits at 32x32: progressive growing from 4x4
    to 32x32 in a few minutes on a laptop CPU. The dataset is written on first use."""
    small = dict(fmap_base=128, fmap_max=64)
    return TrainConfig(
        desc="sgan-demo",
        dataset=DatasetConfig(tfrecord_dir=DEMO_DATASET),
        G_args=dict(small, latent_size=32, dlatent_size=32, mapping_layers=4, mapping_fmaps=32),
        D_args=dict(small),
        mirror_augment=False,
        num_gpus=1,
        total_kimg=64,
        sched=ScheduleConfig(lod_initial_resolution=4, lod_training_kimg=6,
                             lod_transition_kimg=6, minibatch_base=32, tick_kimg_base=4,
                             tick_kimg_dict={}, G_lrate_base=0.002, D_lrate_base=0.002),
        grid=GridConfig(size="10x6"),
        G_smoothing_kimg=1.0,
        network_snapshot_ticks=4,
        snapshot_keep=3,
        # XLA compiles each of the demo's seven lod phases for ~20 s on a CPU, longer than the
        # phases train; the full-size presets keep it on.
        xla=False,
    )


def preset_names():
    """Every preset name without variants, plus the variant suffixes that can be appended."""
    names = ["demo"]
    for dataset_key in DATASETS:
        names += [f"{dataset_key}-{gpus}gpu" for gpus in GPU_TABLES]
    return names, list(LOSS_VARIANTS) + list(G_VARIANTS)


def preset(name):
    """The TrainConfig of a preset name (see the module docstring)."""
    if name == "demo":
        return demo_config()
    names, variants = preset_names()
    rest = name
    dataset_key = next((key for key in sorted(DATASETS, key=len, reverse=True)
                        if rest == key or rest.startswith(key + "-")), None)
    if dataset_key is None:
        raise ValueError(f"Unknown config {name!r}. Presets: {', '.join(names)}; append variants "
                         f"with '-': {', '.join(variants)}.")
    rest = rest[len(dataset_key):]
    num_gpus = DEFAULT_NUM_GPUS
    match = re.match(r"-(\d+)gpus?(?=-|$)", rest)
    if match:
        num_gpus = int(match.group(1))
        if num_gpus not in GPU_TABLES:
            raise ValueError(f"Config {name!r}: the original has tables for "
                             f"{', '.join(map(str, GPU_TABLES))} GPUs, not {num_gpus}.")
        rest = rest[match.end():]
    config = _stylegan_base(dataset_key, num_gpus)
    known = sorted(variants, key=len, reverse=True)
    while rest:
        variant = next((v for v in known if rest == "-" + v or rest.startswith(f"-{v}-")), None)
        if variant is None:
            raise ValueError(f"Config {name!r}: unknown variant {rest[1:]!r}. "
                             f"Variants: {', '.join(variants)}.")
        _apply_variant(config, variant)
        rest = rest[len(variant) + 1:]
    return config


# ----------------------------------------------------------------------------------------------
# Overrides, serialization.


def parse_value(text):
    """A Python literal (number, bool, None, list, dict, quoted string) or else the plain text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_override(config, assignment):
    """Applies one `path=value` override in place, e.g. `sched.lod_training_kimg=10`,
    `G_args.fmap_base=128`, `D_loss.kwargs.r1_gamma=5` or `total_kimg=100`.

    Raises:
        ValueError: malformed assignment or unknown field.
    """
    if "=" not in assignment:
        raise ValueError(f"Override {assignment!r} must look like path=value.")
    path, text = assignment.split("=", 1)
    keys = path.strip().split(".")
    value = parse_value(text.strip())
    target = config
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(target, dict):
            if last:
                target[key] = value
            else:
                target = target.setdefault(key, {})
        elif dataclasses.is_dataclass(target):
            field_names = {field.name for field in dataclasses.fields(target)}
            if key not in field_names:
                raise ValueError(f"Override {assignment!r}: {'.'.join(keys[:depth + 1])!r} is "
                                 f"not a config field (fields: {', '.join(sorted(field_names))}).")
            if last:
                current = getattr(target, key)
                if dataclasses.is_dataclass(current):
                    raise ValueError(f"Override {assignment!r}: {path!r} is a group; set one of "
                                     "its fields.")
                setattr(target, key, _coerce(value, current, assignment))
            else:
                target = getattr(target, key)
        else:
            raise ValueError(f"Override {assignment!r}: {'.'.join(keys[:depth])!r} has no fields.")
    return config


def _coerce(value, current, assignment):
    if isinstance(current, bool):
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ValueError(f"Override {assignment!r}: expected true/false.")
        return value
    if isinstance(current, (int, float)) and not isinstance(value, (int, float)) \
            and value is not None:
        raise ValueError(f"Override {assignment!r}: expected a number, got {value!r}.")
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def resolve_config(name, overrides=()):
    """A preset with `path=value` overrides applied and validated."""
    config = preset(name)
    for assignment in overrides:
        apply_override(config, assignment)
    config.validate()
    return config


def to_dict(config):
    """Plain nested dict of a TrainConfig (deep copy)."""
    return copy.deepcopy(dataclasses.asdict(config))


def to_json(config):
    return json.dumps(to_dict(config), indent=2, sort_keys=False)


def _int_keys(mapping):
    return {int(key) if isinstance(key, str) and key.lstrip("-").isdigit() else key: value
            for key, value in mapping.items()}


def from_dict(data):
    """Inverse of `to_dict` (accepts JSON-decoded dicts, whose int keys became strings)."""
    data = copy.deepcopy(data)
    nested = dict(dataset=DatasetConfig, G_opt=OptimizerConfig, D_opt=OptimizerConfig,
                  G_loss=LossConfig, D_loss=LossConfig, sched=ScheduleConfig, grid=GridConfig)
    known = {field.name for field in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"Unknown config fields: {', '.join(unknown)}.")
    for key, cls in nested.items():
        if key in data:
            values = data[key]
            if cls is GridConfig and values.get("layout") == "random":
                values = {k: v for k, v in values.items() if k != "layout"}  # older config.json
            if cls is ScheduleConfig:
                values = {k: _int_keys(v) if isinstance(v, dict) else v for k, v in values.items()}
            data[key] = cls(**values)
    return TrainConfig(**data)


def load_config_json(path):
    with open(path, "rt", encoding="utf-8") as file:
        return from_dict(json.load(file))


def original_config_text(config):
    """The run directory's `config.txt` in the original's format (a pprint of the train.py
    globals), so tools that parse the original's `dataset` and `train` lines read our runs too."""
    # The original's keys only: its parser reads each entry from one line (pprint width 200).
    train = dict(run_func_name="training.training_loop.training_loop",
                 mirror_augment=config.mirror_augment, total_kimg=config.total_kimg)
    dataset = {key: value for key, value in dataclasses.asdict(config.dataset).items()
               if value not in (None, 0) or key == "tfrecord_dir"}
    values = {
        "D": dict(func_name="training.networks_stylegan.D_basic", **config.D_args),
        "D_loss": dict(func_name=f"training.loss.{config.D_loss.func_name}",
                       **config.D_loss.kwargs),
        "D_opt": dataclasses.asdict(config.D_opt),
        "G": dict(func_name="training.networks_stylegan.G_style", **config.G_args),
        "G_loss": dict(func_name=f"training.loss.{config.G_loss.func_name}",
                       **config.G_loss.kwargs),
        "G_opt": dataclasses.asdict(config.G_opt),
        "dataset": dataset,
        "desc": config.desc,
        "grid": dict(dataclasses.asdict(config.grid), layout="random"),
        "sched": dataclasses.asdict(config.sched),
        "tf_config": {"rnd.np_random_seed": config.random_seed},
        "train": train,
    }
    return pprint.pformat(values, indent=4, width=200, compact=False) + "\n"
