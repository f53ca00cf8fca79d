"""How well the projector recovers known latents: targets that a StyleGAN network (random weights,
the official architecture at smaller widths) generated from a seed at psi 0.7, projected with the
release's algorithm; prints, per resolution, target and step count, the distance of the projected
dlatents to the true ones and the pixel MSE, each relative to the W average's (1 = no better than
the average image; lower is better).

Targets:
  cutoff8  G_style's default truncation (truncation_cutoff=8: layers 0-7 truncated, 8+ not). Above
           32x32 (8 layers) its dlatents are two different vectors, so no single W reproduces it.
  all      every layer truncated: the target is one W vector broadcast to all layers.

Usage:
    python benchmarks/bench_projection_recovery.py                       # 64, 256, 1024; 100, 200, 500 steps
    python benchmarks/bench_projection_recovery.py --resolutions=256 --steps=200 --spaces=w,w+
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("resolutions", ["64", "256", "1024"], "Network resolutions.")
flags.DEFINE_list("steps", ["100", "200", "500"], "Projection step counts (one run each).")
flags.DEFINE_list("targets", ["cutoff8", "all"], "Target truncations (see the module docstring).")
flags.DEFINE_list("spaces", ["w"], "Projection spaces: w, w+.")
flags.DEFINE_integer("seed", 7, "Seed of the target's latent.")
flags.DEFINE_integer("fmap_base", 1024, "Network width (the official 8192 is slower, not different in kind).")


def relative_errors(Gs, result, true_dlatents, target, average):
    """(dlatent distance, pixel MSE) of a projection, each relative to the W average's."""
    import numpy as np

    from stylegan_tf import projection
    average_dlatents = np.tile(average, [1, Gs.num_layers, 1])
    average_image = projection.render(Gs, average_dlatents, result.noise)
    w_error = np.linalg.norm(result.dlatents - true_dlatents) / np.linalg.norm(average_dlatents - true_dlatents)
    mse = np.mean(np.square(result.image[0] - target)) / np.mean(np.square(average_image[0] - target))
    return float(w_error), float(mse)


def main(argv):
    del argv
    import keras
    import numpy as np

    from stylegan_tf import networks, projection
    from stylegan_tf.metrics import feature_networks
    lpips = feature_networks.lpips_vgg16()
    print(f"{'res':>5} {'target':>8} {'space':>5} {'steps':>6} {'w dist':>8} {'pixel MSE':>10} {'LPIPS':>15} {'s':>6}")
    for resolution in map(int, FLAGS.resolutions):
        keras.utils.set_random_seed(4)
        Gs = networks.Generator(resolution=resolution, fmap_base=FLAGS.fmap_base, fmap_max=min(512, FLAGS.fmap_base),
                                name="Gs")
        average, _ = projection.w_statistics(Gs)
        Gs.dlatent_avg.assign(average[0, 0])  # as training leaves it: truncation towards the W average
        latents = np.random.RandomState(FLAGS.seed).randn(1, Gs.latent_size).astype(np.float32)
        for target_kind in FLAGS.targets:
            cutoff = 8 if target_kind == "cutoff8" else Gs.num_layers
            true_dlatents = Gs.compute_dlatents(latents, None, truncation_psi=0.7, truncation_cutoff=cutoff).numpy()
            target = Gs.synthesis(true_dlatents, randomize_noise=False).numpy()[0]
            for space in FLAGS.spaces:
                for steps in map(int, FLAGS.steps):
                    start = time.perf_counter()
                    result = projection.project(Gs, target, num_steps=steps, space=space, seed=1, lpips=lpips)
                    w_error, mse = relative_errors(Gs, result, true_dlatents, target, average)
                    print(f"{resolution:>5} {target_kind:>8} {space:>5} {steps:>6} {w_error:>8.3f} {mse:>10.4f} "
                          f"{result.distances[0]:>6.3f}->{result.final_distance:.3f} "
                          f"{time.perf_counter() - start:>6.0f}", flush=True)


if __name__ == "__main__":
    app.run(main)
