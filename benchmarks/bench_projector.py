"""Projector speed: optimisation steps per second (synthesis forward and backward, LPIPS at 256x256,
Adam, noise renormalisation) with the official architectures at random weights.

Usage:
    python benchmarks/bench_projector.py                          # StyleGAN2 config F at 256 and 1024
    python benchmarks/bench_projector.py --family=stylegan --resolutions=1024 --steps=5
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("resolutions", ["256", "1024"], "Network resolutions.")
flags.DEFINE_enum("family", "stylegan2", ["stylegan", "stylegan2"], "G_style (FFHQ widths) or "
                  "G_main config F.")
flags.DEFINE_integer("steps", 4, "Timed steps (after a warm-up run that traces).")


def main(argv):
    del argv
    import numpy as np
    import tensorflow as tf

    from stylegan_tf import networks, projection
    from stylegan_tf.metrics import feature_networks
    lpips = feature_networks.lpips_vgg16()
    print(f"{'family':>9} {'res':>5} {'s/step':>8} {'steps/s':>8}")
    for resolution in map(int, FLAGS.resolutions):
        tf.random.set_seed(0)
        cls = networks.GeneratorMain if FLAGS.family == "stylegan2" else networks.Generator
        Gs = cls(resolution=resolution, name="Gs")
        target = np.random.RandomState(0).uniform(-1, 1, [resolution, resolution, 3]).astype(np.float32)
        options = projection.ProjectionOptions(dlatent_avg_samples=1000)
        projection.project(Gs, target, num_steps=1, options=options, lpips=lpips)  # traces
        start = time.perf_counter()
        projection.project(Gs, target, num_steps=1, options=options, lpips=lpips)
        overhead = time.perf_counter() - start  # W statistics, setup, final render
        start = time.perf_counter()
        projection.project(Gs, target, num_steps=1 + FLAGS.steps, options=options, lpips=lpips)
        per_step = (time.perf_counter() - start - overhead) / FLAGS.steps
        print(f"{FLAGS.family:>9} {resolution:>5} {per_step:>8.2f} {1 / per_step:>8.2f}", flush=True)


if __name__ == "__main__":
    app.run(main)
