"""The small-data comparison's figure: rows of reals, then rows of each snapshot's Gs on the same seeds.

    python benchmarks/small_data_grid.py --dataset_dir=datasets/frl-faces-32 --out=grid.png noaug.pkl ada.pkl

Untruncated (psi 1, as FID sees them), constant noise, upscaled by --zoom (nearest) so that 32x32 faces are visible.
"""
import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from stylegan_tf import generation, images, legacy  # noqa: E402
from stylegan_tf.dataset.reader import TFRecordDataset  # noqa: E402

flags.DEFINE_string("dataset_dir", None, "The dataset the runs trained on.", required=True)
flags.DEFINE_string("out", None, "PNG to write.", required=True)
flags.DEFINE_integer("columns", 10, "Images per row.")
flags.DEFINE_integer("rows", 2, "Rows per block (reals, then each network).")
flags.DEFINE_integer("zoom", 2, "Nearest-neighbour upscaling.")
FLAGS = flags.FLAGS


def main(argv):
    count = FLAGS.columns * FLAGS.rows
    reals = next(iter(TFRecordDataset(FLAGS.dataset_dir).make_dataset(0, count, shuffle=False, repeat=False)))[0]
    blocks = [reals.numpy()]
    for path in argv[1:]:
        _, _, Gs = legacy.load_networks(path)
        gen = generation.ImageGenerator(Gs, batch_size=count, xla="off")
        blocks.append(generation.generate_images(gen, range(count), truncation_psi=1.0))
    grid = np.concatenate([images.image_grid(block, (FLAGS.columns, FLAGS.rows)) for block in blocks], axis=0)
    grid = grid.repeat(FLAGS.zoom, axis=0).repeat(FLAGS.zoom, axis=1)
    images.save_png(FLAGS.out, grid)
    print(f"Wrote {FLAGS.out} ({grid.shape[1]}x{grid.shape[0]}).")


if __name__ == "__main__":
    app.run(main)
