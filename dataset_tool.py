"""Tool for creating multi-resolution TFRecord datasets for StyleGAN, in the original release's format.

Usage: python dataset_tool.py <command> <arguments> [--flags]
       python dataset_tool.py <command> --help

Datasets made by this tool and by the original `dataset_tool.py` are interchangeable: the same file names,
records, mip levels, record order (shuffled with seed 123 unless --shuffle 0) and labels file.
"""
import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Before TensorFlow is imported: keep its start-up log quiet.

from absl import (
    app,  # pylint: disable=wrong-import-position
    flags,  # pylint: disable=wrong-import-position
)

from stylegan_tf import cli  # pylint: disable=wrong-import-position
from stylegan_tf.dataset import image_folder, sources, writer  # pylint: disable=wrong-import-position

# The original's options (same names, same defaults) ...
flags.DEFINE_integer("shuffle", 1, "create_from_images, create_from_hdf5: randomize the image order (1) or keep "
                     "the sorted order (0).")
flags.DEFINE_integer("ignore_labels", 0, "compare: ignore labels (1).")
flags.DEFINE_integer("num_images", None, "create_mnistrgb: composite images to create (default 1000000); "
                     "display: images in the contact sheet (default 64).")
flags.DEFINE_integer("random_seed", 123, "create_mnistrgb: random seed.")
flags.DEFINE_integer("resolution", None, "create_lsun: output resolution (default 256); create_from_images: "
                     "resize every image to this resolution (default: keep the size, no resampling).")
flags.DEFINE_integer("max_images", None, "create_lsun, create_lsun_wide: maximum number of images (default: all).")
flags.DEFINE_integer("width", 512, "create_lsun_wide: output width (a power of two).")
flags.DEFINE_integer("height", 384, "create_lsun_wide: output height (<= width).")
flags.DEFINE_integer("cx", 89, "create_celeba: centre x of the 128x128 crop.")
flags.DEFINE_integer("cy", 121, "create_celeba: centre y of the 128x128 crop.")
# ... and ours.
flags.DEFINE_enum("convert", None, list(image_folder.CONVERT_CHOICES),
                  "create_from_images: convert every image to RGB or grayscale (alpha is composited onto black, "
                  "16-bit is scaled to 8-bit). Default: every image must already be RGB, or every image grayscale.")
flags.DEFINE_enum("transform", None, list(image_folder.TRANSFORM_CHOICES),
                  "create_from_images: make non-square images square by keeping the central square "
                  "(center-crop) or by padding with black (pad). Default: non-square images are an error.")
flags.DEFINE_boolean("overwrite", False, "create_*, extract: replace an existing, non-empty target directory.")
flags.DEFINE_integer("num_workers", 0, "create_*, extract: decoding threads (0: one per core).")
flags.DEFINE_string("output", None, "display: path of the contact sheet PNG (default: <dataset name>-grid.png).")
flags.DEFINE_boolean("show", False, "display: also open the contact sheet in the system's image viewer.")

FLAGS = flags.FLAGS

_CREATE_FLAGS = ("overwrite", "num_workers")


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: its positional arguments, the flags it uses, a description and an example."""
    arguments: tuple
    flags: tuple
    description: str
    example: str


COMMANDS = {
    "display": Command(("tfrecord_dir",), ("output", "num_images", "show"),
                       "Show the first images of a dataset: writes a contact sheet PNG (no OpenCV window).",
                       "display datasets/mnist"),
    "extract": Command(("tfrecord_dir", "output_dir"), ("overwrite", "num_workers"),
                       "Extract the images of a dataset to output_dir/img00000000.png, ...",
                       "extract datasets/mnist mnist-images"),
    "compare": Command(("tfrecord_dir_a", "tfrecord_dir_b"), ("ignore_labels",),
                       "Compare two datasets image by image.", "compare datasets/mydataset datasets/mnist"),
    "info": Command(("tfrecord_dir",), (), "Print the resolutions, files, counts, channels and labels of a dataset.",
                    "info datasets/mnist"),
    "create_mnist": Command(("tfrecord_dir", "mnist_dir"), _CREATE_FLAGS, "Create dataset for MNIST.",
                            "create_mnist datasets/mnist ~/downloads/mnist"),
    "create_mnistrgb": Command(("tfrecord_dir", "mnist_dir"), _CREATE_FLAGS + ("num_images", "random_seed"),
                               "Create dataset for MNIST-RGB.", "create_mnistrgb datasets/mnistrgb ~/downloads/mnist"),
    "create_cifar10": Command(("tfrecord_dir", "cifar10_dir"), _CREATE_FLAGS, "Create dataset for CIFAR-10.",
                              "create_cifar10 datasets/cifar10 ~/downloads/cifar10"),
    "create_cifar100": Command(("tfrecord_dir", "cifar100_dir"), _CREATE_FLAGS, "Create dataset for CIFAR-100.",
                               "create_cifar100 datasets/cifar100 ~/downloads/cifar100"),
    "create_svhn": Command(("tfrecord_dir", "svhn_dir"), _CREATE_FLAGS, "Create dataset for SVHN.",
                           "create_svhn datasets/svhn ~/downloads/svhn"),
    "create_lsun": Command(("tfrecord_dir", "lmdb_dir"), _CREATE_FLAGS + ("resolution", "max_images"),
                           "Create dataset for single LSUN category.",
                           "create_lsun datasets/lsun-car-100k ~/downloads/lsun/car_lmdb --resolution 256 "
                           "--max_images 100000"),
    "create_lsun_wide": Command(("tfrecord_dir", "lmdb_dir"), _CREATE_FLAGS + ("width", "height", "max_images"),
                                "Create LSUN dataset with non-square aspect ratio.",
                                "create_lsun_wide datasets/lsun-car-512x384 ~/downloads/lsun/car_lmdb --width 512 "
                                "--height 384"),
    "create_celeba": Command(("tfrecord_dir", "celeba_dir"), _CREATE_FLAGS + ("cx", "cy"),
                             "Create dataset for CelebA.", "create_celeba datasets/celeba ~/downloads/celeba"),
    "create_from_images": Command(("tfrecord_dir", "image_dir"),
                                  _CREATE_FLAGS + ("shuffle", "convert", "transform", "resolution"),
                                  "Create dataset from a directory full of images (PNG, JPEG, ...).",
                                  "create_from_images datasets/mydataset myimagedir"),
    "create_from_hdf5": Command(("tfrecord_dir", "hdf5_filename"), _CREATE_FLAGS + ("shuffle",),
                                "Create dataset from legacy HDF5 archive.",
                                "create_from_hdf5 datasets/celebahq ~/downloads/celeba-hq-1024x1024.h5"),
}


def _command_table():
    lines = ["", "Commands:"]
    for name, command in COMMANDS.items():
        arguments = " ".join(f"<{argument}>" for argument in command.arguments)
        lines.append(f"  {name} {arguments}")
        lines.append(f"      {command.description}")
        if command.flags:
            lines.append("      flags: " + " ".join(f"--{flag}" for flag in command.flags))
    lines += ["", "Examples:", "  python dataset_tool.py create_from_images datasets/faces ~/faces --shuffle 0",
              "  python dataset_tool.py info datasets/faces", ""]
    return "\n".join(lines)


__doc__ += _command_table()  # absl's --help prints the module docstring.


def _command_help(name):
    command = COMMANDS[name]
    lines = [f"Usage: python dataset_tool.py {name} " + " ".join(f"<{arg}>" for arg in command.arguments)
             + (" [--flags]" if command.flags else ""), "", command.description, ""]
    for flag in command.flags:
        lines.append(f"  --{flag}: {FLAGS[flag].help} (default: {FLAGS[flag].default_as_str or 'none'})")
    lines += ["", f"Example: python dataset_tool.py {command.example}"]
    return "\n".join(lines)


def parse_flags(argv):
    """absl flag parsing, plus the original's conveniences: no arguments or `-h` prints help."""
    if len(argv) == 1:
        print(__doc__)
        sys.exit(0)
    if "-h" in argv[1:] or "--help" in argv[1:]:
        command = next((arg for arg in argv[1:] if arg in COMMANDS), None)
        print(_command_help(command) if command else __doc__)
        sys.exit(0)
    try:
        return FLAGS(argv)
    except flags.Error as error:
        print(f"Error: {error} (python dataset_tool.py --help lists the flags)", file=sys.stderr)
        sys.exit(1)


def _export_options():
    return writer.ExportOptions(overwrite=FLAGS.overwrite, num_workers=FLAGS.num_workers or None)


def check_command(name, args):
    """Raises DatasetError unless `name` is a command taking `args` and the flags given are its own."""
    if name not in COMMANDS:
        raise writer.DatasetError(f"unknown command {name!r}; commands: {', '.join(COMMANDS)}")
    command = COMMANDS[name]
    if len(args) != len(command.arguments):
        expected = " ".join(f"<{argument}>" for argument in command.arguments)
        raise writer.DatasetError(f"{name} takes {len(command.arguments)} argument(s), {expected}; got "
                                           f"{len(args)}: {' '.join(args)}")
    unused = [flag for flag in _ALL_COMMAND_FLAGS if FLAGS[flag].present and flag not in command.flags]
    if unused:
        raise writer.DatasetError(f"{name} does not use " + ", ".join(f"--{flag}" for flag in unused))


def run_command(name, args):
    """Runs one subcommand with its positional args and the parsed flags."""
    check_command(name, args)
    if name in ("display", "extract", "compare", "info"):
        from stylegan_tf.dataset import inspect as dataset_inspect
        if name == "display":
            dataset_inspect.display(args[0], output=FLAGS.output, num_images=FLAGS.num_images or 64, show=FLAGS.show)
        elif name == "extract":
            dataset_inspect.extract(args[0], args[1], overwrite=FLAGS.overwrite, num_workers=FLAGS.num_workers or None)
        elif name == "compare":
            dataset_inspect.compare(args[0], args[1], ignore_labels=bool(FLAGS.ignore_labels))
        else:
            dataset_inspect.info(args[0])
    elif name == "create_from_images":
        image_options = image_folder.ImageOptions(convert=FLAGS.convert, transform=FLAGS.transform,
                                                  resolution=FLAGS.resolution)
        image_folder.create_from_images(args[0], args[1], shuffle=bool(FLAGS.shuffle), image_options=image_options,
                                        options=_export_options())
    elif name == "create_from_hdf5":
        sources.create_from_hdf5(args[0], args[1], shuffle=bool(FLAGS.shuffle), options=_export_options())
    elif name == "create_mnistrgb":
        sources.create_mnistrgb(args[0], args[1], num_images=FLAGS.num_images or 1000000, random_seed=FLAGS.random_seed,
                           options=_export_options())
    elif name == "create_lsun":
        sources.create_lsun(args[0], args[1], resolution=FLAGS.resolution or 256, max_images=FLAGS.max_images,
                       options=_export_options())
    elif name == "create_lsun_wide":
        sources.create_lsun_wide(args[0], args[1], width=FLAGS.width, height=FLAGS.height, max_images=FLAGS.max_images,
                            options=_export_options())
    elif name == "create_celeba":
        sources.create_celeba(args[0], args[1], cx=FLAGS.cx, cy=FLAGS.cy, options=_export_options())
    else:  # create_mnist, create_cifar10, create_cifar100, create_svhn: (tfrecord_dir, source_dir).
        getattr(sources, name)(args[0], args[1], options=_export_options())


_ALL_COMMAND_FLAGS = sorted({flag for command in COMMANDS.values() for flag in command.flags})


@cli.user_errors_as_messages(takes_arguments=True, interrupted="Interrupted; nothing was written.")
def main(argv):
    run_command(argv[0], argv[1:])


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
