"""When to compile with XLA (`jit_compile=True`): the `--xla` choice of training, metrics and generation,
and the op forms (`impl`, `ops.fast`) that go with it.

`auto` (the default) compiles whole step functions on GPUs and not on CPUs. On this project's CPU
benchmarks XLA runs StyleGAN's Gs at 0.9-1.2x plain `tf.function` (benchmarks/README.md) and the
training step slower, and it compiles for seconds to minutes per training phase; on GPUs XLA fuses
the many small element-wise ops of these networks, which is where it pays.
"""

import tensorflow as tf

from stylegan_tf import names

CHOICES = names.XLA_CHOICES
normalize = names.normalize_xla


def use_xla(choice="auto"):
    """True where `choice` compiles with XLA: 'on', or 'auto' with a GPU visible."""
    choice = normalize(choice)
    if choice == "auto":
        return bool(tf.config.list_logical_devices("GPU"))
    return choice == "on"


def inference_impl(choice="auto"):
    """The op forms of a network that only generates (no gradient) under an `--xla` choice: 'xla'
    where the functions are compiled whole, else 'fast'."""
    return "xla" if use_xla(choice) else "fast"


def describe(choice):
    """For the log: e.g. 'tf.function (xla=auto: no GPU)'."""
    compiled = "XLA" if use_xla(choice) else "tf.function"
    if normalize(choice) != "auto":
        return compiled
    return f"{compiled} (xla=auto: {'GPU' if compiled == 'XLA' else 'no GPU'})"
