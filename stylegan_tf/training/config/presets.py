"""The named presets: the StyleGAN release's `train.py` configurations, the StyleGAN2 release's
`run_training.py` configs, and the small `demo` / `demo-sg2` configurations (see the package
docstring for the naming)."""

import re

from stylegan_tf import names
from stylegan_tf.training.config.schema import (
    AugmentConfig,
    DatasetConfig,
    GridConfig,
    LossConfig,
    ScheduleConfig,
    TrainConfig,
)

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
                     "car": 512, "cat": 256, "church": 256, "horse": 256,
                     # the small-data demo's faces (written on first use)
                     names.FACES_DATASET_PREFIX + "32": 32, names.FACES_DATASET_PREFIX + "64": 64}


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


# ----------------------------------------------------------------------------------------------
# StyleGAN2-ADA presets (the TF release's train.py --cfg), on the StyleGAN2 networks.

# cfg -> reference GPUs, kimg, minibatch, mbstd group, fmap_base / 16384, learning rate, R1 gamma,
# Gs half-life (kimg), its ramp, mapping layers ('auto' is computed from the resolution and GPUs).
ADA_CFGS = {
    "stylegan2": dict(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=10, ema=10, ramp=None,
                      map=8),
    "paper256": dict(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=0.5, lrate=0.0025, gamma=1, ema=20, ramp=None,
                     map=8),
    "paper512": dict(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=1, lrate=0.0025, gamma=0.5, ema=20, ramp=None,
                     map=8),
    "paper1024": dict(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=2, ema=10, ramp=None,
                      map=8),
    "cifar": dict(ref_gpus=2, kimg=100000, mb=64, mbstd=32, fmaps=0.5, lrate=0.0025, gamma=0.01, ema=500, ramp=0.05,
                  map=2),
}
ADA_CFG_NAMES = ("auto",) + tuple(ADA_CFGS)
FACES_DATASET_PREFIX = names.FACES_DATASET_PREFIX


def ada_spec(cfg, resolution=None, gpus=1):
    """The release's numbers of a --cfg; 'auto' derives them from the resolution and GPU count."""
    if cfg not in ADA_CFG_NAMES:
        raise ValueError(f"--cfg must be one of {', '.join(ADA_CFG_NAMES)}, got {cfg!r}.")
    if cfg != "auto":
        return dict(ADA_CFGS[cfg])
    if resolution is None:
        raise ValueError("--cfg=auto needs the dataset's resolution (the dataset on disk, or --resolution).")
    mb = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    return dict(ref_gpus=gpus, kimg=25000, mb=mb, mbstd=min(mb // gpus, 4), fmaps=1 if resolution >= 512 else 0.5,
                lrate=0.002 if resolution >= 1024 else 0.0025, gamma=0.0002 * resolution ** 2 / mb, ema=mb * 10 / 32,
                ramp=0.05, map=2)


# What the release's train.py gives both networks (they clamp at 256 in float32 too); the precision
# itself is the run's --precision.
_ADA_MIXED_PRECISION = dict(num_fp16_res=4, conv_clamp=256)


def ada_config(cfg="auto", dataset="ffhq", resolution=None, gpus=1):
    """StyleGAN2-ADA's `train.py --cfg` on its networks (G_main_ada, D_main resnet, both with the
    release's num_fp16_res 4 and conv_clamp 256 in their kwargs) with adaptive augmentation ('bgc',
    target 0.6), lazy R1 and path-length regularization, the Gs half-life and its ramp."""
    spec = ada_spec(cfg, resolution, gpus)
    fmap_base = int(spec["fmaps"] * 16384)
    config = TrainConfig(
        desc=f"ada-{dataset}-{cfg}" + (str(gpus) if cfg == "auto" else ""),
        dataset=DatasetConfig(tfrecord_dir=dataset),
        G_func="G_main_ada", D_func="D_main", loop="stylegan2", lazy_regularization=True,
        G_args=dict(fmap_base=fmap_base, fmap_max=512, mapping_layers=spec["map"], **_ADA_MIXED_PRECISION),
        D_args=dict(fmap_base=fmap_base, fmap_max=512, mbstd_group_size=spec["mbstd"], **_ADA_MIXED_PRECISION),
        G_loss=LossConfig("G_logistic_ns_pathreg"), D_loss=LossConfig("D_logistic_r1", {"gamma": float(spec["gamma"])}),
        sched=ScheduleConfig(lod_initial_resolution=None, minibatch_base=spec["mb"],
                             minibatch_gpu_base=spec["mb"] // spec["ref_gpus"], G_lrate_base=spec["lrate"],
                             D_lrate_base=spec["lrate"], tick_kimg_base=4, tick_kimg_dict={}),
        grid=GridConfig(size="8k"), num_gpus=int(spec["ref_gpus"]), total_kimg=spec["kimg"],
        G_smoothing_kimg=float(spec["ema"]), G_smoothing_rampup=spec["ramp"],
        image_snapshot_ticks=50, network_snapshot_ticks=50, augment=AugmentConfig(mode="ada"))
    if cfg == "cifar":
        config.G_loss = LossConfig("G_logistic_ns")  # no path-length regularization
        config.G_args["style_mixing_prob"] = 0.0
        config.D_args["architecture"] = "orig"
    return config


def demo_ada_config(resolution=32):
    """The small-data demo: small StyleGAN2-ADA networks (the auto config's, 2-layer mapping) on the 243
    shared faces with adaptive augmentation, about 15 minutes on a 2-core CPU at 32x32. ADA's speed is 100 kimg (the
    release's resume speed) instead of 500 so that p can move within the demo's length."""
    config = ada_config("auto", f"{FACES_DATASET_PREFIX}{resolution}", resolution, 1)
    config.desc = "ada-demo"
    small = dict(fmap_base=1024, fmap_max=128)
    config.G_args = dict(small, latent_size=64, dlatent_size=64, mapping_layers=2, **_ADA_MIXED_PRECISION)
    config.D_args = dict(small, mbstd_group_size=4, **_ADA_MIXED_PRECISION)
    config.sched.minibatch_base = config.sched.minibatch_gpu_base = 32
    config.D_loss.kwargs["gamma"] = 0.0002 * resolution ** 2 / 32  # the release's heuristic
    config.augment.ada_kimg = 100.0
    config.total_kimg = 24
    config.G_smoothing_kimg = 2.0
    config.grid = GridConfig(size="10x6")
    config.image_snapshot_ticks = 5
    config.network_snapshot_ticks = 5
    config.snapshot_keep = 3
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
    names = ["demo", "demo-sg2", "demo-ada"]
    for dataset_key in DATASETS:
        names += [f"{dataset_key}-{gpus}gpu" for gpus in GPU_TABLES]
    names += list(SG2_CONFIGS) + [f"config-e-G{g}-D{d}" for g in SG2_ARCHITECTURES
                                  for d in SG2_ARCHITECTURES]
    names += [f"ada-{cfg}" for cfg in ADA_CFGS]
    return names, list(LOSS_VARIANTS) + list(G_VARIANTS)


def preset(name):
    """The TrainConfig of a preset name (see the module docstring)."""
    if name == "demo":
        return demo_config()
    if name == "demo-sg2":
        return demo_stylegan2_config()
    if name == "demo-ada":
        return demo_ada_config()
    if name.startswith("ada-") and name[4:] in ADA_CFGS:
        return ada_config(name[4:])
    if name == "ada-auto":
        raise ValueError("ada-auto depends on the dataset's resolution: use --cfg=auto with --dataset.")
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


