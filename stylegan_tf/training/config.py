"""Training configuration: dataclasses and the named presets of the original `train.py`.

StyleGAN presets are `<dataset>[-<N>gpu][-<variant>...]`, e.g. `ffhq-8gpu`, `celebahq-4gpu-wgangp`,
`ffhq-1gpu-mix50` or `bedroom-2gpu-tuned-baseline`, which reproduce the StyleGAN release's `train.py`
with the matching lines enabled; `<N>gpu` defaults to 8 as in the original.

StyleGAN2 presets are the StyleGAN2 release's `run_training.py` configs, `[<dataset>-]config-<a..f>`
and `[<dataset>-]config-e-G<arch>-D<arch>` (Table 2; arch orig, skip or resnet), e.g. `config-f` or
`car-config-e-Gorig-Dresnet`. The dataset prefix (default ffhq) names the dataset directory and
brings its README command's settings (total kimg, gamma, mirroring); its minibatch tables do not
depend on the number of GPUs (a replica processes 4 samples per pass and accumulates the rest).

`demo` and `demo-sg2` are small StyleGAN / StyleGAN2 (config E) configurations that train on an
embedded dataset in minutes on a CPU.

Resolve once with `resolve_config(name, overrides)`, log it and save it with `save_config_json`.
"""

import ast
import copy
import dataclasses
import json
import pprint
import re
from typing import Any, Dict, List, Optional, Union

from stylegan_tf import network_limits
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
    """Arguments of `schedule.training_schedule` (the StyleGAN release's defaults).

    `lod_initial_resolution=None` trains at full resolution from the start (StyleGAN2 configs E, F).
    `minibatch_gpu_base`/`minibatch_gpu_dict` are StyleGAN2's samples per replica and pass: a larger
    minibatch accumulates the gradients of several passes; 0 = the whole share in one pass.
    """
    lod_initial_resolution: Optional[int] = 4
    lod_training_kimg: float = 600
    lod_transition_kimg: float = 600
    minibatch_base: int = 16
    minibatch_dict: Dict[int, int] = dataclasses.field(default_factory=dict)
    max_minibatch_per_gpu: Dict[int, int] = dataclasses.field(default_factory=dict)
    minibatch_gpu_base: int = 0
    minibatch_gpu_dict: Dict[int, int] = dataclasses.field(default_factory=dict)
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
    """Snapshot image grid: size '1080p', '4k', '8k' (the releases') or 'WxH'. Images are placed as the
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
        xla: compile the training steps with XLA: 'auto' (on GPUs, not on CPUs, see
            `stylegan_tf.xla`), True / 'on' or False / 'off'.
        precision: 'fp32' (exact, the default), 'bf16' or 'fp16': mixed precision on the top
            `num_fp16_res` resolutions of G and D, their outputs clamped to +-`conv_clamp` there
            (`stylegan_tf.precision`; the snapshots stay float32 pickles).
        resume: snapshot .pkl, run directory or original .pkl to start from (None = scratch).
        resume_kimg: progress to assume when resuming (None = from the snapshot's state file,
            or from its file name, else 0).
        resume_time: seconds added to the reported time when resuming (None = from the state).
        resume_state: also restore the optimizers and progress from the snapshot's state file.
        G_func, D_func: the networks' build functions (`G_style`, `G_main`; `D_basic`,
            `D_stylegan2`, `D_stylegan`).
        loop: 'stylegan' (D and the Gs update, then G, with `D_repeats`) or 'stylegan2' (G, G
            regularization, D and the Gs update, D regularization; D trains at G's learning rate,
            the only one the StyleGAN2 release feeds; ticks start with tick 0 after the first
            minibatch, which also snapshots).
        lazy_regularization: run the losses' regularization terms as separate steps every
            `G_reg_interval` / `D_reg_interval` minibatches, scaled by the interval, with the Adam
            learning rates and betas adjusted by interval / (interval + 1); otherwise they are
            added to the loss at every step.
    """
    desc: str = "sgan"
    G_func: str = "G_style"
    D_func: str = "D_basic"
    loop: str = "stylegan"
    lazy_regularization: bool = False
    G_reg_interval: int = 4
    D_reg_interval: int = 16
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
    xla: Union[bool, str] = "auto"
    precision: str = "fp32"
    num_fp16_res: int = 4          # stylegan_tf.precision.DEFAULT_NUM_FP16_RES (named here without Keras)
    conv_clamp: Optional[float] = 256.0  # stylegan_tf.precision.DEFAULT_CONV_CLAMP
    resume: Optional[str] = None
    resume_kimg: Optional[float] = None
    resume_time: Optional[float] = None
    resume_state: bool = True

    def validate(self):
        """Raises ValueError naming the first inconsistent value."""
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, "
                             f"got {self.strategy!r}.")
        if self.xla not in (True, False) and str(self.xla).lower() not in XLA_CHOICES:
            raise ValueError(f"xla must be auto, on or off (or true/false), got {self.xla!r}.")
        if isinstance(self.xla, str) and self.xla.lower() != "auto":
            self.xla = self.xla.lower() in ("on", "true")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}.")
        if self.num_fp16_res < 0:
            raise ValueError(f"num_fp16_res must be >= 0, got {self.num_fp16_res}.")
        if self.conv_clamp is not None and not self.conv_clamp > 0:
            raise ValueError(f"conv_clamp must be positive or None, got {self.conv_clamp}.")
        if self.loop not in LOOPS:
            raise ValueError(f"loop must be one of {', '.join(LOOPS)}, got {self.loop!r}.")
        for which, table in (("G_func", G_FUNCS), ("D_func", D_FUNCS)):
            if getattr(self, which) not in table:
                raise ValueError(f"{which} must be one of {', '.join(table)}, "
                                 f"got {getattr(self, which)!r}.")
        for name in ("D_repeats", "minibatch_repeats", "image_snapshot_ticks",
                     "network_snapshot_ticks", "num_gpus", "G_reg_interval", "D_reg_interval"):
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
        for which in ("G_args", "D_args"):  # the loader's limits: every snapshot must load again
            network_limits.check_network_kwargs(getattr(self, which), which)
        grid_size(self.grid.size, 32)  # validates the format
        initial = self.sched.lod_initial_resolution
        if initial is not None and (initial < 4 or initial & (initial - 1)):
            raise ValueError("sched.lod_initial_resolution must be a power of two >= 4, "
                             f"got {initial}.")
        for which in ("G_loss", "D_loss"):
            name = getattr(self, which).func_name
            table = G_LOSS_NAMES if which == "G_loss" else D_LOSS_NAMES
            if name not in table:
                raise ValueError(f"{which}.func_name must be one of {', '.join(table)}, "
                                 f"got {name!r}.")


STRATEGIES = ("auto", "one_device", "mirrored", "multiworker")
LOOPS = ("stylegan", "stylegan2")
XLA_CHOICES = ("auto", "on", "off", "true", "false")  # stylegan_tf.xla, named without TensorFlow
PRECISIONS = ("fp32", "bf16", "fp16")  # stylegan_tf.precision.PRECISIONS
# Named here so that planning a run needs no TensorFlow (stylegan_tf.networks / .training.losses).
G_FUNCS = ("G_style", "G_main")
D_FUNCS = ("D_basic", "D_stylegan2", "D_stylegan")
G_LOSS_NAMES = ("G_wgan", "G_logistic_saturating", "G_logistic_nonsaturating", "G_logistic_ns",
                "G_logistic_ns_pathreg")
D_LOSS_NAMES = ("D_wgan", "D_wgan_gp", "D_hinge", "D_hinge_gp", "D_logistic", "D_logistic_simplegp",
                "D_logistic_r1")


def grid_size(size, resolution):
    """(grid width, grid height) in images for a GridConfig.size at a resolution."""
    if size == "1080p":
        return int(min(max(1920 // resolution, 3), 32)), int(min(max(1080 // resolution, 2), 32))
    if size == "4k":
        return int(min(max(3840 // resolution, 7), 32)), int(min(max(2160 // resolution, 4), 32))
    if size == "8k":
        return int(min(max(7680 // resolution, 7), 32)), int(min(max(4320 // resolution, 4), 32))
    match = re.fullmatch(r"(\d+)x(\d+)", str(size))
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ValueError(f"grid size must be '1080p', '4k', '8k' or 'WxH' (e.g. '8x4'), got {size!r}.")
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
                     "lsun-car-512x384": 512, "lsun-cat-full": 256, DEMO_DATASET: 32,
                     # the StyleGAN2 README's dataset directories
                     "car": 512, "cat": 256, "church": 256, "horse": 256}


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


# ----------------------------------------------------------------------------------------------
# StyleGAN2 presets (the StyleGAN2 release's run_training.py; Table 1 and Table 2 of its paper).

SG2_CONFIGS = ("config-a", "config-b", "config-c", "config-d", "config-e", "config-f")
SG2_ARCHITECTURES = ("orig", "skip", "resnet")
# dataset name -> (total_kimg, gamma override, mirror_augment) of the StyleGAN2 README's commands.
SG2_DATASETS = {"ffhq": (25000, None, True), "car": (57000, None, False),
                "cat": (88000, None, False), "church": (88000, 100.0, False),
                "horse": (100000, 100.0, False)}
SG2_TICK_KIMG_DICT = {8: 28, 16: 24, 32: 20, 64: 16, 128: 12, 256: 8, 512: 6, 1024: 4}
_SG2_NAME = re.compile(r"(?:(?P<dataset>[a-z0-9]+)-)?config-(?P<config>[a-f])"
                       r"(?:-G(?P<G>[a-z]+)-D(?P<D>[a-z]+))?")


def stylegan2_config(config_letter, dataset="ffhq", G_architecture=None, D_architecture=None):
    """The StyleGAN2 release's `run_training.py` settings of `config-<letter>` (a-f) on a dataset
    directory, with Table 2's architectures for config E."""
    total_kimg, gamma, mirror = SG2_DATASETS.get(dataset, (25000, None, False))
    name = f"config-{config_letter}"
    config = TrainConfig(
        desc=f"stylegan2-{dataset}-{name}", dataset=DatasetConfig(tfrecord_dir=dataset),
        G_func="G_main", D_func="D_stylegan2", loop="stylegan2", lazy_regularization=True,
        G_loss=LossConfig("G_logistic_ns_pathreg"), D_loss=LossConfig("D_logistic_r1", {"gamma": 10.0}),
        sched=ScheduleConfig(lod_initial_resolution=None, minibatch_base=32, minibatch_gpu_base=4,
                             G_lrate_base=0.002, D_lrate_base=0.002, tick_kimg_base=4,
                             tick_kimg_dict=dict(SG2_TICK_KIMG_DICT)),
        grid=GridConfig(size="8k"), total_kimg=total_kimg, mirror_augment=mirror,
        image_snapshot_ticks=10, network_snapshot_ticks=10)
    if config_letter != "f":
        config.G_args["fmap_base"] = config.D_args["fmap_base"] = 8 << 10
    if config_letter == "e":
        config.D_loss.kwargs["gamma"] = 100.0
        if G_architecture:
            config.G_args["architecture"] = G_architecture
            config.D_args["architecture"] = D_architecture
            config.desc += f"-G{G_architecture}-D{D_architecture}"
    if config_letter in "abcd":
        sched = config.sched
        sched.lod_initial_resolution = 8
        sched.G_lrate_base = sched.D_lrate_base = 0.001
        sched.G_lrate_dict = dict(STYLEGAN_LRATE_DICT)
        sched.D_lrate_dict = dict(STYLEGAN_LRATE_DICT)
        sched.minibatch_dict = {8: 256, 16: 128, 32: 64, 64: 32}
        sched.minibatch_gpu_dict = {8: 32, 16: 16, 32: 8, 64: 4}
        config.G_args["synthesis_func"] = "G_synthesis_stylegan_revised"
        config.D_func = "D_stylegan"
    if config_letter in "abc":
        config.G_loss = LossConfig("G_logistic_ns")
    if config_letter in "ab":
        config.lazy_regularization = False
    if config_letter == "a":
        config.G_func, config.D_func = "G_style", "D_basic"
        config.G_args, config.D_args = {}, {}
    if gamma is not None:
        config.D_loss.kwargs["gamma"] = gamma
    return config


def demo_stylegan2_config():
    """A small config-E network (skip G, resnet D, no growing, lazy R1 and path-length
    regularization) on the demo's handwritten digits at 32x32, in minutes on a CPU."""
    config = stylegan2_config("e", DEMO_DATASET)
    config.desc = "stylegan2-demo"
    small = dict(fmap_base=256, fmap_max=64)
    config.G_args = dict(small, latent_size=32, dlatent_size=32, mapping_layers=4)
    config.D_args = dict(small)
    config.D_loss.kwargs["gamma"] = 0.1  # R1 weight for 32x32 at minibatch 32 (the ADA heuristic)
    config.sched.minibatch_gpu_base = 32  # one pass per minibatch: a CPU gains nothing from 4
    config.sched.tick_kimg_dict = {}
    config.total_kimg = 40
    config.G_smoothing_kimg = 1.0
    config.grid = GridConfig(size="10x6")
    config.image_snapshot_ticks = 1
    config.network_snapshot_ticks = 4
    config.snapshot_keep = 3
    config.mirror_augment = False
    config.xla = False  # see demo_config
    return config


def _stylegan2_preset(name):
    match = _SG2_NAME.fullmatch(name)
    if not match:
        return None
    if (match.group("G") is not None) and (match.group("config") != "e" or match.group("G") not in
                                           SG2_ARCHITECTURES or match.group("D") not in SG2_ARCHITECTURES):
        raise ValueError(f"Config {name!r}: Table 2's architectures are config-e-G<arch>-D<arch> "
                         f"with <arch> one of {', '.join(SG2_ARCHITECTURES)}.")
    return stylegan2_config(match.group("config"), match.group("dataset") or "ffhq",
                            match.group("G"), match.group("D"))


def preset_names():
    """Every preset name without variants, plus the variant suffixes that can be appended."""
    names = ["demo", "demo-sg2"]
    for dataset_key in DATASETS:
        names += [f"{dataset_key}-{gpus}gpu" for gpus in GPU_TABLES]
    names += list(SG2_CONFIGS) + [f"config-e-G{g}-D{d}" for g in SG2_ARCHITECTURES
                                  for d in SG2_ARCHITECTURES]
    return names, list(LOSS_VARIANTS) + list(G_VARIANTS)


def preset(name):
    """The TrainConfig of a preset name (see the module docstring)."""
    if name == "demo":
        return demo_config()
    if name == "demo-sg2":
        return demo_stylegan2_config()
    sg2 = _stylegan2_preset(name)
    if sg2 is not None:
        return sg2
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


EFFECTIVE_KEY = "effective"  # train.py --dry_run's view of the defaults that will run (not a field)


def from_dict(data):
    """Inverse of `to_dict` (accepts JSON-decoded dicts, whose int keys became strings, and the
    output of `train.py --dry_run`)."""
    data = copy.deepcopy(data)
    data.pop(EFFECTIVE_KEY, None)
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
    """The TrainConfig of a run directory's config.json; ValueError naming the file for one from
    another tool or release (unknown fields, wrong types, not JSON)."""
    try:
        with open(path, "rt", encoding="utf-8") as file:
            config = from_dict(json.load(file))
        config.validate()
        return config
    except (ValueError, TypeError, AttributeError, KeyError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a config.json of stylegan-tf ({error}); give the preset with --config "
                         "and the pickle with --resume") from None


def original_config_text(config):
    """The run directory's `config.txt` in the original's format (a pprint of the train.py
    globals), so tools that parse the original's `dataset` and `train` lines read our runs too."""
    # The original's keys only: its parser reads each entry from one line (pprint width 200).
    train = dict(run_func_name="training.training_loop.training_loop",
                 mirror_augment=config.mirror_augment, total_kimg=config.total_kimg)
    dataset = {key: value for key, value in dataclasses.asdict(config.dataset).items()
               if value not in (None, 0) or key == "tfrecord_dir"}
    def module(func):
        return "networks_stylegan" if func in ("G_style", "D_basic") else "networks_stylegan2"
    values = {
        "D": dict(func_name=f"training.{module(config.D_func)}.{config.D_func}", **config.D_args),
        "D_loss": dict(func_name=f"training.loss.{config.D_loss.func_name}",
                       **config.D_loss.kwargs),
        "D_opt": dataclasses.asdict(config.D_opt),
        "G": dict(func_name=f"training.{module(config.G_func)}.{config.G_func}", **config.G_args),
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
