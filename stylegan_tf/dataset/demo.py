"""The demo's embedded training set: scikit-learn's handwritten digits as an original-format
TFRecord dataset, written on first use (no network access needed).

scikit-learn ships 1,797 8x8 grayscale digits (values 0..16). They are scaled to 0..255, resized to
32x32 with bicubic interpolation and stored like the original `dataset_tool.py create_mnist` does:
one `<name>-rNN.tfrecords` per resolution (32x32 down to 4x4), records `shape` = [C, H, W] and
`data` = uint8 CHW bytes, mips as cumulative float 2x2 averages rounded on write, shuffled with
`RandomState(123)`, and the one-hot labels in `<name>-rxx.labels`.
"""

import os

import numpy as np
import PIL.Image

from stylegan_tf import names
from stylegan_tf.dataset import tfrecord_format, writer


def digits_images(resolution=32):
    """scikit-learn's digits as uint8 [1797, 1, R, R] (bicubic upscaling) and one-hot labels."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download
    digits = load_digits()
    images = []
    for image in digits.images:  # [8, 8] float, 0..16
        pixels = PIL.Image.fromarray(np.rint(image * (255.0 / 16.0)).astype(np.uint8), "L")
        pixels = pixels.resize((resolution, resolution), PIL.Image.BICUBIC)
        images.append(np.asarray(pixels, dtype=np.uint8)[np.newaxis])
    return np.stack(images), tfrecord_format.one_hot(digits.target, 10)


def ensure_digits_dataset(tfrecord_dir, resolution=32, log=print):
    """Creates the digits dataset in `tfrecord_dir` unless it is already there; returns the path."""
    if os.path.isdir(tfrecord_dir) and any(name.endswith(".tfrecords")
                                           for name in os.listdir(tfrecord_dir)):
        return tfrecord_dir
    log(f'Writing the demo dataset (scikit-learn digits at {resolution}x{resolution}) to '
        f'"{tfrecord_dir}"...')
    images, labels = digits_images(resolution)
    order = tfrecord_format.shuffled_order(len(images))
    with writer.TFRecordExporter(tfrecord_dir, len(images), progress=False) as exporter:
        for index in order:
            exporter.add_image(images[index])
        exporter.add_labels(labels[order])
    return tfrecord_dir


# The small-data demo: the 243 FFHQ-aligned faces of the shared folder beside the repository.
FACES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data",
                         "frl_faces_256")
FACES_DATASET_PREFIX = names.FACES_DATASET_PREFIX


def faces_resolution(tfrecord_dir):
    """The resolution of a faces demo dataset name (`frl-faces-<R>`), or None for another name."""
    name = os.path.basename(os.path.normpath(tfrecord_dir))
    suffix = name[len(FACES_DATASET_PREFIX):] if name.startswith(FACES_DATASET_PREFIX) else ""
    return int(suffix) if suffix.isdigit() else None


def ensure_faces_dataset(tfrecord_dir, resolution, image_dir=FACES_DIR, log=print):
    """Creates the faces dataset (Lanczos-resized to `resolution`) in `tfrecord_dir` unless it is
    already there; returns the path."""
    from stylegan_tf.dataset import image_folder
    if os.path.isdir(tfrecord_dir) and any(name.endswith(".tfrecords") for name in os.listdir(tfrecord_dir)):
        return tfrecord_dir
    if not os.path.isdir(image_dir):
        raise ValueError(f'The faces demo reads "{os.path.normpath(image_dir)}" (the shared data beside the '
                         "repository); it is not there. Make a dataset of your own images with dataset_tool.py.")
    log(f'Writing the faces demo dataset ({resolution}x{resolution}) to "{tfrecord_dir}"...')
    image_folder.create_from_images(tfrecord_dir, image_dir,
                                    image_options=image_folder.ImageOptions(resolution=resolution),
                                    options=writer.ExportOptions(progress=False))
    return tfrecord_dir
