"""Looking into TFRecord datasets: info, display (a contact sheet), extract (PNG files) and compare.

Library code behind the read-only `dataset_tool.py` commands; every function takes plain arguments and
prints what the original tool printed.
"""
import os
import shutil

import numpy as np
import tqdm

from stylegan_tf import dataset as dataset_lib
from stylegan_tf import fileio
from stylegan_tf import images as image_utils
from stylegan_tf.dataset import writer

pass

_READ_BATCH = 64
_DISPLAY_MAX_RESOLUTION = 256  # Thumbnails in the contact sheet; larger datasets use their stored mip levels.


def _open(tfrecord_dir, max_label_size):
    print(f'Loading dataset "{tfrecord_dir}"')
    return dataset_lib.TFRecordDataset(tfrecord_dir, max_label_size=max_label_size)


def _iterate(dset, lod=0):
    """Yields (image HWC uint8, label) of every record in order, as NumPy."""
    for images, labels in dset.make_dataset(lod, _READ_BATCH, shuffle=False, repeat=False).as_numpy_iterator():
        yield from zip(images, labels)



def _describe_labels(labels):
    """One line about a float32 [N, label_size] label array."""
    if labels.shape[1] == 0:
        return "none"
    text = f"{labels.shape[0]} x {labels.shape[1]} float32"
    if np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=1) == 1):
        counts = np.bincount(labels.argmax(axis=1), minlength=labels.shape[1])
        shown = ", ".join(str(count) for count in counts[:20]) + (", ..." if counts.size > 20 else "")
        text += f", one-hot: {labels.shape[1]} classes with {shown} images"
    return text


def info(tfrecord_dir):
    """Prints the resolutions, files, record counts, channels and labels of a dataset."""
    dset = dataset_lib.TFRecordDataset(tfrecord_dir, max_label_size="full")
    kind = {1: "grayscale", 3: "RGB"}.get(dset.num_channels, "?")
    print(f'Dataset "{tfrecord_dir}"')
    print(f"  resolution  {dset.resolution}x{dset.resolution}, {dset.num_channels} channel(s) ({kind}), "
          f"lod 0..{dset.resolution_log2 - 2}")
    print(f"  images      {dset.num_images}" + (f" (of {dset.num_records} records: the original reads at most "
                                                 f"{dset.num_images})" if dset.num_images < dset.num_records else ""))
    print("  files")
    for lod, path in sorted(dset.tfrecord_files.items()):
        side = dset.resolution >> lod
        print(f"    {os.path.basename(path):32s} {side:5d}x{side:<5d} lod {lod}  {dset.num_records} records  "
              f"{os.path.getsize(path) / 2**20:10.1f} MiB")
    if dset.label_file is None:
        print("  labels      none")
    else:
        print(f"  labels      {os.path.basename(dset.label_file)}: {_describe_labels(dset.labels)}")
    return dset


def display(tfrecord_dir, output=None, num_images=64, show=False):
    """Writes a contact sheet PNG of the first images (no OpenCV window: works without a screen).

    Args:
        tfrecord_dir: dataset directory.
        output: PNG path (None: `<dataset name>-grid.png` in the current directory); replaced if present.
        num_images: images in the sheet, in record order.
        show: also open the sheet in the system's image viewer (PIL.Image.show).

    Returns:
        the output path.
    """
    if num_images < 1:
        raise writer.DatasetError(f"num_images must be >= 1, got {num_images}")
    dset = _open(tfrecord_dir, "full")
    lod = max(0, dset.resolution_log2 - int(np.log2(_DISPLAY_MAX_RESOLUTION)))
    images, labels = [], []
    for image, label in _iterate(dset, lod):
        images.append(image)
        labels.append(label)
        if len(images) == num_images:
            break
    for index, label in enumerate(labels):
        if label.size:
            print(f"idx = {index:<8d} label = {label.tolist()}")
    sheet = image_utils.image_grid(np.stack(images))  # the original's near-square layout
    side = images[0].shape[0]
    rows, columns = sheet.shape[0] // side, sheet.shape[1] // side
    name = os.path.basename(os.path.abspath(tfrecord_dir))
    output = output or f"{name}-grid.png"
    image_utils.save_png(output, sheet)
    print(f"Wrote {len(images)} images ({rows}x{columns} grid of {side}x{side}) to \"{output}\"")
    if show:
        image_utils.to_pil(sheet).show()
    print(f"Displayed {len(images)} images.")
    return output


def extract(tfrecord_dir, output_dir, overwrite=False, num_workers=None, progress=True):
    """Writes every full-resolution image as `output_dir/img%08d.png`, in record order.

    The folder appears complete or not at all (written beside it, then renamed).

    Returns:
        the number of images written.
    """
    dset = _open(tfrecord_dir, 0)
    writer.check_target(output_dir, overwrite)
    print(f'Extracting images to "{output_dir}"')
    fileio.remove_stale_temp_dirs(output_dir)
    temp_dir = fileio.make_temp_dir_beside(output_dir)
    count = 0
    try:
        def save(indexed):
            index, image = indexed
            image_utils.to_pil(image).save(os.path.join(temp_dir, f"img{index:08d}.png"))
        items = ((index, image) for index, (image, _) in enumerate(_iterate(dset)))
        results = writer.ordered_parallel_map(save, items, num_workers)
        try:
            for _ in tqdm.tqdm(results, total=dset.num_images, unit="img", desc="Extracting", disable=not progress):
                count += 1
        finally:
            results.close()
        writer.check_target(output_dir, overwrite)
        fileio.atomic_replace_dir(temp_dir, output_dir)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    print(f"Extracted {count} images.")
    return count


def compare(tfrecord_dir_a, tfrecord_dir_b, ignore_labels=False, progress=True):
    """Compares two datasets image by image (and label by label), printing the original's report.

    Returns:
        (identical_images, identical_labels, images compared)
    """
    max_label_size = 0 if ignore_labels else "full"
    dset_a = _open(tfrecord_dir_a, max_label_size)
    dset_b = _open(tfrecord_dir_b, max_label_size)
    print("Comparing datasets")
    identical_images = identical_labels = count = 0
    iter_a, iter_b = _iterate(dset_a), _iterate(dset_b)
    bar = tqdm.tqdm(total=max(dset_a.num_images, dset_b.num_images), unit="img", disable=not progress)
    while True:
        item_a, item_b = next(iter_a, None), next(iter_b, None)
        if item_a is None or item_b is None:
            if item_a is not None or item_b is not None:
                tqdm.tqdm.write("Datasets contain different number of images")
            break
        (image_a, label_a), (image_b, label_b) = item_a, item_b
        if image_a.shape == image_b.shape and np.array_equal(image_a, image_b):
            identical_images += 1
        else:
            tqdm.tqdm.write(f"Image {count} is different")
        if label_a.shape == label_b.shape and np.array_equal(label_a, label_b):
            identical_labels += 1
        else:
            tqdm.tqdm.write(f"Label {count} is different")
        count += 1
        bar.update(1)
    bar.close()
    print(f"Identical images: {identical_images} / {count}")
    if not ignore_labels:
        print(f"Identical labels: {identical_labels} / {count}")
    return identical_images, identical_labels, count
