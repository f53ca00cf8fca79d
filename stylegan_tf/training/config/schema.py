"""The training configuration's schema: the dataclasses, their pure `validate()` (it raises on the
first inconsistent value and changes nothing) and the choices they take (from `stylegan_tf.names`).
No TensorFlow here: planning a run (`train.py --dry_run`) needs none."""


import dataclasses
import re
from typing import Any, Dict, List, Optional, Union

from stylegan_tf import names, network_limits
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
class AugmentConfig:
    """StyleGAN2-ADA's discriminator augmentation (`stylegan_tf.augment`, `training.adaptive`).

    Attributes:
        mode: 'noaug' (none), 'ada' (p tuned towards `target` by the r_t heuristic) or 'fixed' (p).
        pipe: the pipeline preset (`names.AUGMENT_PIPES`, the release's 'bgc' by default).
        p: initial (ada) or constant (fixed) augmentation probability.
        target: ada's target for r_t = E[sign(D(aug(real)))].
        ada_kimg: ada's speed: p can move by 1 in this many thousand images (500; 100 when resuming).
    """
    mode: str = "noaug"
    pipe: str = "bgc"
    p: float = 0.0
    target: float = 0.6
    ada_kimg: float = 500.0


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
            (`stylegan_tf.networks.runtime`; the snapshots stay float32 pickles).
        resume: snapshot .pkl, run directory or original .pkl to start from (None = scratch).
        resume_kimg: progress to assume when resuming (None = from the snapshot's state file,
            or from its file name, else 0).
        resume_time: seconds added to the reported time when resuming (None = from the state).
        resume_state: also restore the optimizers, progress and ADA's p from the snapshot's state file.
        resume_trusted_sources: SHA-256s of PyTorch pickles' module sources to accept besides the
            releases' (`legacy.load_networks`' trusted_sources; train.py's --trusted_source).
        augment: StyleGAN2-ADA's augmentation of D's inputs (AugmentConfig).
        D_freeze_layers: StyleGAN2-ADA's Freeze-D (`--freezed`): D's first N layers from the input
            side are not trained (D_stylegan2 or D_main; D_main records N as its `freeze_layers`).
        G_smoothing_rampup: StyleGAN2-ADA's ramp of the Gs half-life: min(G_smoothing_kimg,
            rampup * kimg so far) (None: no ramp).
        G_func, D_func: the networks' build functions (`G_style`, `G_main`, `G_main_ada`: StyleGAN2-ADA's
            G_main; `D_basic`, `D_stylegan2`, `D_stylegan`, `D_main`: StyleGAN2-ADA's).
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
    G_smoothing_rampup: Optional[float] = None
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
    num_fp16_res: int = names.DEFAULT_NUM_FP16_RES
    conv_clamp: Optional[float] = names.DEFAULT_CONV_CLAMP
    resume: Optional[str] = None
    resume_kimg: Optional[float] = None
    resume_time: Optional[float] = None
    resume_state: bool = True
    resume_trusted_sources: List[str] = dataclasses.field(default_factory=list)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    D_freeze_layers: int = 0

    def validate(self):
        """Raises ValueError naming the first inconsistent value."""
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, "
                             f"got {self.strategy!r}.")
        try:
            names.normalize_xla(self.xla)
        except ValueError:
            raise ValueError(f"xla must be auto, on or off (or true/false), got {self.xla!r}.") from None
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}.")
        if self.num_fp16_res < 0:
            raise ValueError(f"num_fp16_res must be >= 0, got {self.num_fp16_res}.")
        sources = self.resume_trusted_sources
        if not isinstance(sources, list) or not all(
                isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) for value in sources):
            raise ValueError(f"resume_trusted_sources must be a list of SHA-256s (64 lowercase hexadecimal digits), "
                             f"got {sources!r}.")
        if self.conv_clamp is not None and not self.conv_clamp > 0:
            raise ValueError(f"conv_clamp must be positive or None, got {self.conv_clamp}.")
        if self.loop not in LOOPS:
            raise ValueError(f"loop must be one of {', '.join(LOOPS)}, got {self.loop!r}.")
        for which, table in (("G_func", G_FUNCS), ("D_func", D_FUNCS)):
            if getattr(self, which) not in table:
                raise ValueError(f"{which} must be one of {', '.join(table)}, "
                                 f"got {getattr(self, which)!r}.")
        if (self.G_func == "G_main_ada") != (self.D_func == "D_main") or (self.D_func == "D_main" and
                                                                       self.loop != "stylegan2"):
            raise ValueError("StyleGAN2-ADA's networks (G_func G_main_ada, D_func D_main) train together, "
                             "with loop 'stylegan2'.")
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
        if self.G_smoothing_rampup is not None and not self.G_smoothing_rampup > 0:
            raise ValueError(f"G_smoothing_rampup must be positive or None, got {self.G_smoothing_rampup}.")
        self._validate_augment()
        if self.D_freeze_layers < 0:
            raise ValueError(f"D_freeze_layers (--freezed) must be >= 0, got {self.D_freeze_layers}.")
        if self.D_freeze_layers and self.D_func not in ("D_stylegan2", "D_main"):
            raise ValueError(f"D_freeze_layers (--freezed) needs D_stylegan2 or D_main, not {self.D_func}.")
        if "freeze_layers" in self.D_args:
            raise ValueError("D_args: set Freeze-D with D_freeze_layers (--freezed), not freeze_layers.")
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


    def _validate_augment(self):
        augment = self.augment
        names.check_choice(augment.mode, names.AUGMENT_MODES, "augment.mode (--aug)")
        names.check_choice(augment.pipe, tuple(names.AUGMENT_PIPES), "augment.pipe (--augpipe)")
        if not 0 <= augment.p <= 1:
            raise ValueError(f"augment.p (--p) must be between 0 and 1, got {augment.p}.")
        if not 0 <= augment.target <= 1:
            raise ValueError(f"augment.target (--target) must be between 0 and 1, got {augment.target}.")
        if not augment.ada_kimg > 0:
            raise ValueError(f"augment.ada_kimg must be positive, got {augment.ada_kimg}.")


# The choices, from the TensorFlow-free `names` (planning a run needs no TensorFlow).
STRATEGIES, LOOPS, G_FUNCS, D_FUNCS = names.STRATEGIES, names.LOOPS, names.G_FUNCS, names.D_FUNCS
G_LOSS_NAMES, D_LOSS_NAMES = names.G_LOSS_NAMES, names.D_LOSS_NAMES
PRECISIONS = tuple(names.PRECISIONS)
AUGMENT_MODES, AUGMENT_PIPES = names.AUGMENT_MODES, tuple(names.AUGMENT_PIPES)


def canonical_xla(value):
    """An `xla` value as config.json stores it: 'auto', True (on) or False (off)."""
    return {"auto": "auto", "on": True, "off": False}[names.normalize_xla(value)]


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


