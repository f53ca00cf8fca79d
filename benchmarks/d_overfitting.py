"""D's view of the training set per snapshot: the overfitting statistics of the ADA paper, offline.

For each snapshot pickle: D on the reals of the dataset (un-augmented, unmirrored), D on as many images of the
snapshot's G (not Gs: G is what D was trained against), and

    sign_real = mean sign(D(reals))   (ADA's r_t, here for runs with and without augmentation alike)
    real, fake = mean D(reals), mean D(G(z))

A D that memorises its reals drives sign_real towards 1 and the real/fake margin up. Prints one row per snapshot.

    python benchmarks/d_overfitting.py --dataset_dir=datasets/frl-faces-32 run/network-snapshot-*.pkl
"""
import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from stylegan_tf import legacy  # noqa: E402
from stylegan_tf.dataset.reader import TFRecordDataset  # noqa: E402

flags.DEFINE_string("dataset_dir", None, "The dataset directory the runs trained on.", required=True)
flags.DEFINE_integer("batch", 48, "Images per D call, a multiple of D's minibatch-stddev group; the reals that do "
                     "not fill a last batch are left out (240 of 243 faces at 48).")
flags.DEFINE_integer("seed", 0, "Seed of G's latents (the same for every snapshot).")
FLAGS = flags.FLAGS


def _reals(dataset_dir):
    dataset = TFRecordDataset(dataset_dir)
    batches = dataset.make_dataset(0, FLAGS.batch, shuffle=False, repeat=False, drange=(-1.0, 1.0),
                                   drop_remainder=True)
    return [(images, labels) for images, labels in batches]


def _scores(D, batches):
    return np.concatenate([D(images, labels).numpy().reshape(-1) for images, labels in batches])


def main(argv):
    reals = _reals(FLAGS.dataset_dir)
    print(f"{'snapshot':<32} {'sign_real':>9} {'real':>8} {'fake':>8} {'margin':>8}")
    for path in argv[1:]:
        G, D, _ = legacy.load_networks(path)
        rng = np.random.RandomState(FLAGS.seed)
        fakes = []
        for images, labels in reals:  # G's images in the reals' batch sizes, with the reals' labels
            latents = rng.standard_normal([int(images.shape[0]), G.latent_size]).astype(np.float32)
            fakes.append((G(latents, labels, is_training=False), labels))
        real, fake = _scores(D, reals), _scores(D, fakes)
        print(f"{os.path.basename(path):<32} {np.mean(np.sign(real)):9.3f} {real.mean():8.3f} {fake.mean():8.3f} "
              f"{real.mean() - fake.mean():8.3f}", flush=True)


if __name__ == "__main__":
    app.run(main)
