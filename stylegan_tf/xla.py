"""When to compile with XLA (`jit_compile=True`): the `--xla` choice of training, metrics and generation.

`auto` (the default) compiles whole step functions on GPUs and not on CPUs. On this project's CPU
benchmarks XLA runs StyleGAN's Gs at 0.9-1.2x plain `tf.function` (faster only at batch 1, 256²;
benchmarks/README.md; it was 0.34-0.58x until the fused upsampling conv got a per-phase form for
XLA, `ops.upscale2d_conv2d`) and the training step slower, and it compiles for seconds to minutes
per training phase; on GPUs XLA fuses the many small element-wise ops of these networks, which is
where it pays. The same fusion pays on CPUs in one place: the memory-bound epilogues of the
largest feature maps, which `elementwise` compiles as small clusters inside uncompiled graphs
(StyleGAN's Gs at 1024²: 1.2x, at batch 1 and at batch 4); `off` turns those off too.
"""
import contextlib
import contextvars
import functools

import keras
import tensorflow as tf

from stylegan_tf import cli, tracing

CHOICES = cli.XLA_CHOICES
_ALIASES = {True: "on", False: "off", "true": "on", "false": "off", "on": "on", "off": "off",
            "auto": "auto"}


def normalize(choice):
    """'auto', 'on' or 'off' from a choice or a bool; ValueError for anything else."""
    key = choice.lower() if isinstance(choice, str) else choice
    if isinstance(key, (bool, str)) and key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"xla must be one of {', '.join(CHOICES)} (or true/false), got {choice!r}.")


def use_xla(choice="auto"):
    """True where `choice` compiles with XLA: 'on', or 'auto' with a GPU visible."""
    choice = normalize(choice)
    if choice == "auto":
        return bool(tf.config.list_logical_devices("GPU"))
    return choice == "on"


def describe(choice):
    """For the log: e.g. 'tf.function (xla=auto: no GPU)'."""
    compiled = "XLA" if use_xla(choice) else "tf.function"
    if normalize(choice) != "auto":
        return compiled
    return f"{compiled} (xla=auto: {'GPU' if compiled == 'XLA' else 'no GPU'})"


_CLUSTERS = contextvars.ContextVar("stylegan_tf_xla_clusters", default=True)


@contextlib.contextmanager
def elementwise_clusters(choice):
    """Within this context (while tracing), `elementwise` functions compile with XLA under an `--xla`
    choice ('auto', 'on' or a bool): all but 'off' / False."""
    token = _CLUSTERS.set(normalize(choice) != "off")
    try:
        yield
    finally:
        _CLUSTERS.reset(token)


def elementwise_clusters_apply():
    """Whether `elementwise` functions traced here compile as clusters (see there)."""
    return _CLUSTERS.get() and not tracing.in_xla_context() and not tracing.gradient_could_be_recorded()


def elementwise(function):
    """`function` (a chain of element-wise ops and reductions over one large tensor) compiled by
    XLA as one fused cluster inside an otherwise uncompiled graph, where that pays: not under a
    gradient tape (XLA's fused backward ran 1.5x slower than TensorFlow's kernels on CPUs), not
    inside a function XLA compiles whole (it fuses there anyway), and not within
    `elementwise_clusters(False)` (exports, `--xla=off`). Otherwise `function` as it is.
    Non-tensor arguments are static (one compiled cluster per value and input shape)."""
    compiled = tf.function(function, jit_compile=True, autograph=False)

    @functools.wraps(function)
    def call(*args, **kwargs):
        if elementwise_clusters_apply():
            # Variables are read here: a tf.function argument must be a tensor or a Python value.
            return compiled(*(tf.convert_to_tensor(a) if isinstance(a, keras.Variable) else a for a in args),
                            **kwargs)
        return function(*args, **kwargs)

    return call
