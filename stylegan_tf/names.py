"""The choices that the scripts, the training config and the TensorFlow modules all name, in one
module without TensorFlow: planning a run (`train.py --dry_run`, `--help`) validates against these
tables without importing TensorFlow, and the modules that implement them import them from here,
so no table is copied by hand.
"""

# How ops are formulated (`stylegan_tf.ops`): 'ref' = the original's formulation of every op (what
# parity, training gradients and any user's GradientTape get); 'fast' = faster forms of the same
# functions for graphs run by TensorFlow's kernels (inference: strided resampling, fused epilogue
# clusters); 'xla' = forms for functions XLA compiles whole (shifted blur, per-phase upsampling).
IMPLS = ("ref", "fast", "xla")

# Compute precision of the top resolutions (StyleGAN2-ADA's scheme) -> Keras dtype policy.
PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
DEFAULT_NUM_FP16_RES = 4    # StyleGAN2-ADA's default
DEFAULT_CONV_CLAMP = 256.0  # StyleGAN2-ADA's default with mixed precision

XLA_CHOICES = ("auto", "on", "off")
_XLA_ALIASES = {True: "on", False: "off", "true": "on", "false": "off", "on": "on", "off": "off", "auto": "auto"}


def normalize_xla(choice):
    """'auto', 'on' or 'off' from an `--xla` choice, a config's true/false or a bool; else ValueError."""
    key = choice.lower() if isinstance(choice, str) else choice
    if isinstance(key, (bool, str)) and key in _XLA_ALIASES:
        return _XLA_ALIASES[key]
    raise ValueError(f"xla must be one of {', '.join(XLA_CHOICES)} (or true/false), got {choice!r}.")

# Noise of the synthesis layers (stylegan2-ada's `noise_mode`): the stored buffers, fresh noise,
# or none; `generation` adds 'random', per-image noise drawn from the image's seed.
NOISE_MODES = ("const", "random", "none")

STRATEGIES = ("auto", "one_device", "mirrored", "multiworker")
LOOPS = ("stylegan", "stylegan2")
G_FUNCS = ("G_style", "G_main", "G_main_ada")  # networks.GENERATORS: "G_main_ada" is StyleGAN2-ADA's G_main
D_FUNCS = ("D_basic", "D_stylegan2", "D_stylegan", "D_main")
G_LOSS_NAMES = ("G_wgan", "G_logistic_saturating", "G_logistic_nonsaturating", "G_logistic_ns",
                "G_logistic_ns_pathreg")
D_LOSS_NAMES = ("D_wgan", "D_wgan_gp", "D_hinge", "D_hinge_gp", "D_logistic", "D_logistic_simplegp",
                "D_logistic_r1")
# StyleGAN2's losses with a regularizer that may run lazily (a phase of its own, `training.phases`).
PATH_LENGTH_LOSSES = frozenset({"G_logistic_ns_pathreg"})  # path_length_regularizer, pl_minibatch_shrink
R1_LOSSES = frozenset({"D_logistic_r1"})  # r1_regularizer


def check_choice(value, choices, what):
    """`value` if it is one of `choices`, else a ValueError naming them."""
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, got {value!r}.")
    return value

# StyleGAN2-ADA's discriminator augmentation (`stylegan_tf.augment`, `training.adaptive`).
AUGMENT_MODES = ("noaug", "ada", "fixed")  # --aug: none, p tuned by the r_t heuristic, a fixed p
_BLIT = ("xflip", "rotate90", "xint")
_GEOM = ("scale", "rotate", "aniso", "xfrac")
_COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
# --augpipe: preset name -> the ops it enables (probability multiplier 1 each), the release's presets.
AUGMENT_PIPES = {
    "blit": _BLIT, "geom": _GEOM, "color": _COLOR, "filter": ("imgfilter",), "noise": ("noise",),
    "cutout": ("cutout",), "bg": _BLIT + _GEOM, "bgc": _BLIT + _GEOM + _COLOR,
    "bgcf": _BLIT + _GEOM + _COLOR + ("imgfilter",), "bgcfn": _BLIT + _GEOM + _COLOR + ("imgfilter", "noise"),
    "bgcfnc": _BLIT + _GEOM + _COLOR + ("imgfilter", "noise", "cutout"),
}
AUGMENT_OPS = _BLIT + _GEOM + _COLOR + ("imgfilter", "noise", "cutout")
FACES_DATASET_PREFIX = "frl-faces-"  # the small-data demo's datasets, frl-faces-<resolution> (`dataset.demo`)
