"""What every command-line entry script shares: user mistakes end in a message, not a traceback;
parsers of the values users type (seeds, style ranges, labels); the original's time format."""

import functools
import re
import signal
import sys

import numpy as np

from stylegan_tf import names
from stylegan_tf.dataset.tfrecord_format import one_hot


def printable(text):
    """`text` safe to print on a strict UTF-8 stream: bytes of file names that are not UTF-8 (which
    Python decodes to lone surrogates) as backslash escapes, e.g. 'caf\\xe9.png'."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so that `finally` blocks remove what a command
    had half-written (temporary video, export and dataset files) before it exits."""


def _raise_terminated(signum, frame):
    raise Terminated()


def user_errors_as_messages(body=None, *, takes_arguments=False, interrupted="Interrupted."):
    """Wraps the body of an absl `main(argv)`; usable as `@user_errors_as_messages` or with options.

    ValueError / OSError raised by the body (bad flags, missing or unreadable files) print
    `Error: <message>` on stderr and give exit status 1; so do TensorFlow's errors, reduced to
    their first line (a corrupt dataset record names its file and record there, the op context
    after it is noise). Ctrl-C prints `interrupted` and gives 130; SIGTERM unwinds the same way
    (so temporary files are removed) and gives 143.

    Args:
        body: returns the exit status (None means 0); takes no arguments, or the positional
            command-line arguments (argv[1:]) when `takes_arguments`.
        takes_arguments: pass positional arguments to the body instead of refusing them.
        interrupted: the message on Ctrl-C.
    """
    def wrap(body):
        @functools.wraps(body)
        def main(argv):
            if len(argv) > 1 and not takes_arguments:
                print(f"Error: unexpected arguments {' '.join(argv[1:])}", file=sys.stderr)
                return 1
            signal.signal(signal.SIGTERM, _raise_terminated)
            try:
                return (body(argv[1:]) if takes_arguments else body()) or 0
            except KeyboardInterrupt as error:
                print(interrupted, file=sys.stderr)
                return 143 if isinstance(error, Terminated) else 130
            except (ValueError, OSError) as error:
                print(printable(f"Error: {error}"), file=sys.stderr)
                return 1
            except Exception as error:  # pylint: disable=broad-except
                if not type(error).__module__.startswith("tensorflow"):
                    raise
                print(f"Error: {tensorflow_error_message(error)}", file=sys.stderr)
                return 1
        return main
    return wrap(body) if body is not None else wrap


def tensorflow_error_message(error):
    """The readable part of a TensorFlow error: the dataset reader's own message when there is one,
    else the first line of the op's message (without the graph context TensorFlow appends)."""
    from stylegan_tf.dataset import reader  # pylint: disable=import-outside-toplevel
    return reader.error_message(error).strip().split("\n", 1)[0]


def format_time(seconds):
    """The original's `dnnlib.util.format_time`."""
    s = int(round(seconds))  # half to even, as np.rint
    if s < 60:
        return f"{s}s"
    if s < 60 * 60:
        return f"{s // 60}m {s % 60:02}s"
    if s < 24 * 60 * 60:
        return f"{s // 3600}h {(s // 60) % 60:02}m {s % 60:02}s"
    return f"{s // 86400}d {(s // 3600) % 24:02}h {(s // 60) % 60:02}m"


# ----------------------------------------------------------------------------------------------
# Flags several scripts share, defined once so that each means the same everywhere.

XLA_CHOICES = names.XLA_CHOICES


def define_xla_flag(flags_module, compiles, default="auto"):
    """`--xla=auto|on|off` of a script; `compiles` says what (e.g. "the training steps")."""
    flags_module.DEFINE_enum(
        "xla", default, list(XLA_CHOICES),
        f"Compile {compiles} with XLA: auto = on GPUs, plain tf.function on CPUs (faster there, see "
        "benchmarks/README.md); on; off"
        + ("." if default is not None else "; default: the preset's (auto for the releases' presets)."))


def define_outdir_flag(flags_module, default, what="Output folder"):
    """`--outdir`: every script's output folder (`--result_dir`, the original's name in train.py and
    run_metrics.py, stays an alias there)."""
    flags_module.DEFINE_string("outdir", default, f"{what}.")


def define_network_flag(flags_module, default=None, extra=""):
    """`--network`: one resolver for every script (`pretrained.resolve_network`), and `--trusted_source`."""
    flags_module.DEFINE_string(
        "network", default, "Network: a registered name (e.g. ffhq-1024, stylegan2-ffhq-config-f), a pickle file, a "
        "training run directory or run id (its latest snapshot), or a URL." + extra)
    define_trusted_source_flag(flags_module)


def define_trusted_source_flag(flags_module):
    """`--trusted_source`: module sources of PyTorch pickles to accept besides the releases'."""
    flags_module.DEFINE_multi_string(
        "trusted_source", [], "stylegan2-ada-pytorch / StyleGAN3 pickles: also accept persistent classes whose "
        "module source has this SHA-256 (the refusal of a fork's file names it). The source is never run; the "
        "networks are rebuilt as the release's, so accept only a fork that computes what the release computes. "
        "Repeatable.")


def trusted_sources_from_flags(flag_values):
    """The `--trusted_source` values, checked (64 hexadecimal digits each)."""
    for value in flag_values.trusted_source:
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError(f"--trusted_source={value!r} is not a SHA-256 (64 lowercase hexadecimal digits).")
    return tuple(flag_values.trusted_source)


def define_generation_flags(flags_module, seeds="0-7", truncation_psi=None, truncation_cutoff=None):
    """`--seeds`, `--truncation_psi`, `--truncation_cutoff`, `--labels` of the scripts that draw images
    from seeds (None: the network's own truncation, StyleGAN 0.7 on 8 layers, StyleGAN2 0.5 on all)."""
    if seeds is not None:
        flags_module.DEFINE_string("seeds", seeds, "Seeds, e.g. '0-63' or '1,5,7-9'.")
    flags_module.DEFINE_float("truncation_psi", truncation_psi, "Truncation strength (1 = none). Default: "
                              + ("the network's own (StyleGAN 0.7, StyleGAN2 0.5)." if truncation_psi is None
                                 else f"{truncation_psi}."))
    flags_module.DEFINE_integer("truncation_cutoff", truncation_cutoff, "Truncate the first this many layers. "
                                "Default: " + ("the network's own (StyleGAN 8 = coarse and middle styles, "
                                               "StyleGAN2 every layer)." if truncation_cutoff is None
                                               else f"{truncation_cutoff}."))
    flags_module.DEFINE_string("labels", None, "Conditional networks: class index or comma-separated label "
                               "values, used for every image.")


def define_runtime_flags(flags_module, precision=True):
    """`--impl` (and `--precision`, `--num_fp16_res`) of a script that generates images; read them
    with `runtime_from_flags`. Needs `define_xla_flag` too."""
    flags_module.DEFINE_enum(
        "impl", "auto", ["auto", *names.IMPLS],
        "Op forms of the network: ref = the original's formulation; fast = faster forms of the same "
        "functions for uncompiled graphs; xla = forms for XLA-compiled ones; auto = xla with --xla "
        "compiling, else fast. Images agree to float rounding.")
    if precision:
        flags_module.DEFINE_enum(
            "precision", "fp32", list(names.PRECISIONS),
            "fp32 (exact), or bf16 / fp16 on the top --num_fp16_res resolutions (faster on GPUs with "
            "bf16/fp16 units; images differ from fp32 by ~40 dB PSNR in bf16, ~55 dB in fp16).")
        flags_module.DEFINE_integer("num_fp16_res", names.DEFAULT_NUM_FP16_RES,
                                    "Mixed precision: resolutions in low precision.")


def runtime_from_flags(flag_values):
    """The `networks.runtime.Runtime` that `define_runtime_flags`' flags (and --xla) choose."""
    from stylegan_tf import xla
    from stylegan_tf.networks.runtime import Runtime
    impl = xla.inference_impl(flag_values.xla) if flag_values.impl == "auto" else flag_values.impl
    precision = dict(precision=flag_values.precision, num_fp16_res=flag_values.num_fp16_res) \
        if "precision" in flag_values else {}
    return Runtime(impl=impl, **precision)


# ----------------------------------------------------------------------------------------------
# Values users type.

_MAX_SEED = 2**32 - 1  # RandomState's limit
MAX_SEEDS = 1_000_000  # per command: the list alone would exhaust memory long before 0-999999999 ran


# The paper's style groups by resolution (Figure 3): coarse 4^2-8^2, middle 16^2-32^2, fine 64^2+.
STYLE_GROUPS = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}


def parse_seeds(text):
    """'0-3,10,12-13' -> [0, 1, 2, 3, 10, 12, 13] (ranges inclusive, order kept)."""
    seeds = []
    for part in str(text).replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(f"seeds must look like '0-63' or '1,5,7-9', got {text!r}.")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ValueError(f"seed range {part!r} runs backwards.")
        if last > _MAX_SEED:
            raise ValueError(f"seeds must be at most {_MAX_SEED}, got {last}.")
        if len(seeds) + last - first + 1 > MAX_SEEDS:
            raise ValueError(f"--seeds={text} names more than {MAX_SEEDS:,} seeds (cli.MAX_SEEDS); split the "
                             "work into several runs.")
        seeds.extend(range(first, last + 1))
    return seeds


def parse_layer_range(text, num_layers):
    """A style range: 'coarse' | 'middle' | 'fine' | '5' | '0-3' (inclusive) -> range of layers.

    Args:
        text: the range.
        num_layers: the network's number of style inputs (clips the named groups).
    """
    text = str(text).strip().lower()
    if text in STYLE_GROUPS:
        start, stop = STYLE_GROUPS[text]
        return range(min(start, num_layers), num_layers if stop is None else min(stop, num_layers))
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not match:
        raise ValueError(f"a style range is coarse, middle, fine, a layer 'i' or 'i-j'; got "
                         f"{text!r}.")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if not first <= last < num_layers:
        raise ValueError(f"style range {text!r} is outside layers 0-{num_layers - 1}.")
    return range(first, last + 1)


def make_labels(label_size, text, count):
    """Labels [count, label_size] for a conditional network from '--labels', or None.

    Args:
        label_size: the network's label size (0 = unconditional).
        text: a class index ('3' -> one-hot) or label_size comma-separated numbers; None/''.
        count: number of rows (every row gets the same label).
    """
    text = (text or "").strip()
    if label_size == 0:
        if text:
            raise ValueError("this network is unconditional (label_size 0); drop --labels.")
        return None
    if not text:
        raise ValueError(f"this network is conditional (label_size {label_size}); pass --labels "
                         f"as a class index 0-{label_size - 1} or {label_size} comma-separated "
                         "values.")
    values = text.split(",")
    try:
        numbers = [float(value) for value in values]
    except ValueError:
        raise ValueError(f"--labels must be numbers, got {text!r}.") from None
    if len(numbers) == 1 and label_size > 1:
        index = numbers[0]
        if index != int(index) or not 0 <= index < label_size:
            raise ValueError(f"class index must be an integer 0-{label_size - 1}, got {text!r}.")
        label = one_hot(np.array([int(index)]), label_size)[0]
    elif len(numbers) == label_size:
        label = np.asarray(numbers, np.float32)
    else:
        raise ValueError(f"--labels needs a class index or {label_size} values, got "
                         f"{len(numbers)}.")
    return np.tile(label[np.newaxis], [count, 1])
