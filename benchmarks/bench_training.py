"""Training speed: images/s of full training steps with the FFHQ architecture.

One step is what the original's PERF figure times: a D step (non-saturating logistic loss, R1
gamma 10, style mixing 0.9, random noise) with the Gs update, then a G step, at lod 0 on random
reals. Runs eager, tf.function and XLA steps on one replica, then the same global minibatch on two
mirrored replicas (two logical devices; on a CPU they share its cores, so the ratio shows the
overhead of replication, not extra compute).

Usage:
    python benchmarks/bench_training.py                      # 64x64, all modes, 2 replicas
    python benchmarks/bench_training.py --resolutions=64,256 --steps=3 --modes=function,xla

Compare with ../shared/PERF.md: the original release trains at 64x64, batch 8, at 24-33 s/step
on the 2-core CI machine.

StyleGAN2 (`--family=stylegan2 --configs=e,f`): the networks and losses of config E / F, timing a
regular minibatch (G step, then D step with the Gs update) and the two lazy regularization steps
(path length; R1) on their own, and the s/kimg of the release's schedule (R1 every 16, path
length every 4 minibatches):

    python benchmarks/bench_training.py --family=stylegan2 --configs=e,f --modes=function --replica_modes=

`--precisions=fp32,bf16` times each precision (`stylegan_tf/precision.py`); `--profile` prints the
float32 StyleGAN step by phase, each phase its own tf.function on the same networks and inputs
(G forward, D on reals and fakes, the D loss's backward without and with the R1 double backward,
the G loss's forward and backward, the two Adam updates, the Gs moving average):

    python benchmarks/bench_training.py --modes=function --replica_modes= --profile
"""
import dataclasses
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from absl import (
    app,  # pylint: disable=wrong-import-position
    flags,  # pylint: disable=wrong-import-position
    logging,  # pylint: disable=wrong-import-position
)

FLAGS = flags.FLAGS
flags.DEFINE_list("precisions", ["fp32"], "Precisions to time (fp32, bf16, fp16).")
flags.DEFINE_bool("profile", False, "StyleGAN: also time the float32 step's phases on their own.")
flags.DEFINE_list("resolutions", ["64"], "Network resolutions (FFHQ widths: fmap_base 8192, "
                  "fmap_max 512, latent 512, 8 mapping layers).")
flags.DEFINE_list("modes", ["eager", "function", "xla"], "Step compilation modes on 1 replica.")
flags.DEFINE_list("replica_modes", ["function"], "Modes to time on 2 mirrored replicas "
                  "(empty: skip).")
flags.DEFINE_integer("batch", 8, "Global minibatch.")
flags.DEFINE_integer("steps", 2, "Timed steps per configuration (after one warm-up step).")
flags.DEFINE_enum("family", "stylegan", ["stylegan", "stylegan2"], "StyleGAN's FFHQ networks or "
                  "StyleGAN2's config networks.")
flags.DEFINE_list("configs", ["e", "f"], "StyleGAN2 configs to time (--family=stylegan2).")
flags.DEFINE_integer("rounds", 1, "StyleGAN2: passes per minibatch (the release's 4 per GPU at "
                     "batch 8 would be 2).")


def build(strategy, resolution, mode, precision="fp32"):
    import numpy as np

    from stylegan_tf.training import config as config_lib
    from stylegan_tf.training import trainer
    config = config_lib.TrainConfig(G_loss=config_lib.LossConfig("G_logistic_nonsaturating"),
                                    D_loss=config_lib.LossConfig("D_logistic_simplegp", {"r1_gamma": 10.0}),
                                    G_smoothing_kimg=10.0, precision=precision)
    return trainer.Trainer(strategy, config, trainer.DatasetInfo(resolution, 3, 0, np.zeros([16, 0], np.float32)),
                           compile_mode=mode)


def profile_phases(trainer, resolution, batch, steps):
    """{phase: seconds} of the StyleGAN step's parts, each traced once, then timed `steps` times."""
    import numpy as np
    import tensorflow as tf

    from stylegan_tf.training import losses
    from stylegan_tf.training.schedule import lod_range_of
    from stylegan_tf.training.trainer import _AtLodRange
    # The networks at lod 0 as the trainer calls them (a fixed lod range: no lod conditionals).
    G, D = _AtLodRange(trainer.G, lod_range_of(0.0)), _AtLodRange(trainer.D, lod_range_of(0.0))
    latents = tf.constant(np.random.RandomState(1).randn(batch, trainer.G.latent_size).astype(np.float32))
    reals = tf.constant(np.random.RandomState(0).uniform(-1, 1, [batch, resolution, resolution, 3]).astype(np.float32))
    labels = tf.zeros([batch, 0])
    d_vars, g_vars = trainer.D.trainable_variables, trainer.G.trainable_variables

    def gradients(loss_fn, variables):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(loss_fn()[0])
        return tape.gradient(loss, variables)

    phases = {
        "G forward (fakes)": lambda: G(latents, None, is_training=True),  # with style mixing, as the loss
        "D forward, reals + fakes": lambda: D(tf.concat([reals, G(latents, None, is_training=True)], 0), None),
        "D loss backward, no R1": lambda: gradients(lambda: losses.D_logistic(G, D, latents, reals, labels), d_vars),
        "D loss backward with R1": lambda: gradients(
            lambda: losses.D_logistic_simplegp(G, D, latents, reals, labels, r1_gamma=10.0), d_vars),
        "G loss backward": lambda: gradients(lambda: losses.G_logistic_nonsaturating(G, D, latents, labels), g_vars),
        "Adam, G and D": lambda: (trainer.G_opt.apply([tf.zeros_like(v) for v in trainer.G_opt.variables], 0.0),
                                  trainer.D_opt.apply([tf.zeros_like(v) for v in trainer.D_opt.variables], 0.0)),
        "Gs moving average": lambda: trainer._update_gs(0.999),  # noqa: SLF001
    }
    seconds = {}
    for name, run in phases.items():
        function = tf.function(run, autograph=False)
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, function())
        seconds[f"{name} (trace + first call)"] = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, function())
        seconds[name] = (time.perf_counter() - start) / steps
    return seconds


def time_steps(trainer, resolution, batch, steps):
    """(first step seconds incl. tracing/compilation, mean seconds of the next `steps`)."""
    import numpy as np
    images = np.random.RandomState(0).randint(0, 256, [batch, resolution, resolution, 3])
    images = images.astype(np.uint8)
    labels = np.zeros([batch, 0], np.float32)
    if trainer.num_replicas > 1:
        reals, labels = trainer.distribute_batch(images, labels)
    else:
        reals = images

    def step():
        trainer.d_step(reals, labels, 0.0, 0.001, batch)
        out = trainer.g_step(0.0, 0.001, batch)
        for value in trainer.strategy.experimental_local_results(out["Loss/G_loss"]):
            value.numpy()  # wait for the step

    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return first, (time.perf_counter() - start) / steps


def build_stylegan2(strategy, resolution, mode, letter, precision="fp32"):
    import numpy as np

    from stylegan_tf.training import config as config_lib
    from stylegan_tf.training import trainer
    config = dataclasses.replace(config_lib.stylegan2_config(letter), mirror_augment=False, G_smoothing_kimg=10.0,
                                 precision=precision)
    return trainer.Trainer(strategy, config, trainer.DatasetInfo(resolution, 3, 0, np.zeros([16, 0], np.float32)),
                           compile_mode=mode)


def time_stylegan2_steps(trainer, resolution, batch, steps, rounds):
    """Seconds of (regular minibatch, path-length step, R1 step), each after a warm-up call."""
    import numpy as np
    images = np.random.RandomState(0).randint(0, 256, [batch, resolution, resolution, 3])
    images, labels = images.astype(np.uint8), np.zeros([batch, 0], np.float32)

    def wait(out):
        for value in out.values():
            for local in trainer.strategy.experimental_local_results(value):
                local.numpy()

    def regular():
        trainer.g_step(0.0, 0.002, batch, rounds)
        wait(trainer.d_step(images, labels, 0.0, 0.002, batch, rounds))

    phases = {"regular": regular,
              "G_reg": lambda: wait(trainer.g_reg_step(0.0, 0.002, batch, rounds)),
              "D_reg": lambda: wait(trainer.d_reg_step(images, labels, 0.0, 0.002, rounds))}
    seconds = {}
    for name, run in phases.items():
        run()  # traces
        start = time.perf_counter()
        for _ in range(steps):
            run()
        seconds[name] = (time.perf_counter() - start) / steps
    return seconds


def main_stylegan2():
    import tensorflow as tf
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    print(f"{'config':>6} {'res':>4} {'mode':>9} {'precision':>9} {'regular s':>10} {'G_reg s':>8} {'D_reg s':>8} "
          f"{'s/minibatch':>12} {'s/kimg':>8}")
    for letter in FLAGS.configs:
        for resolution in map(int, FLAGS.resolutions):
            for mode in FLAGS.modes:
                for precision in FLAGS.precisions:
                    seconds = time_stylegan2_steps(build_stylegan2(one, resolution, mode, letter, precision),
                                                   resolution, FLAGS.batch, FLAGS.steps, FLAGS.rounds)
                    average = seconds["regular"] + seconds["G_reg"] / 4 + seconds["D_reg"] / 16
                    print(f"{letter:>6} {resolution:>4} {mode:>9} {precision:>9} {seconds['regular']:>10.2f} "
                          f"{seconds['G_reg']:>8.2f} {seconds['D_reg']:>8.2f} {average:>12.2f} "
                          f"{average * 1000 / FLAGS.batch:>8.0f}", flush=True)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.family == "stylegan2":
        return main_stylegan2()
    from stylegan_tf.training import distribute
    if FLAGS.replica_modes:
        distribute.split_cpu(2)
    import tensorflow as tf
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    print(f"{'res':>4} {'replicas':>8} {'mode':>9} {'precision':>9} {'first step s':>13} {'s/step':>8} "
          f"{'img/s':>7}")
    for resolution in map(int, FLAGS.resolutions):
        single = {}
        for mode in FLAGS.modes:
            for precision in FLAGS.precisions:
                first, per_step = time_steps(build(one, resolution, mode, precision), resolution, FLAGS.batch,
                                             FLAGS.steps)
                single.setdefault(mode, per_step)
                print(f"{resolution:>4} {1:>8} {mode:>9} {precision:>9} {first:>13.1f} {per_step:>8.2f} "
                      f"{FLAGS.batch / per_step:>7.2f}", flush=True)
        if FLAGS.profile:
            for phase, value in profile_phases(build(one, resolution, "function"), resolution, FLAGS.batch,
                                               FLAGS.steps).items():
                print(f"{resolution:>4} profile: {phase:<45} {value:>8.2f} s", flush=True)
        for mode in FLAGS.replica_modes:
            two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
            first, per_step = time_steps(build(two, resolution, mode), resolution, FLAGS.batch,
                                         FLAGS.steps)
            speedup = f" ({single[mode] / per_step:.2f}x 1 replica)" if mode in single else ""
            print(f"{resolution:>4} {2:>8} {mode:>9} {'fp32':>9} {first:>13.1f} {per_step:>8.2f} "
                  f"{FLAGS.batch / per_step:>7.2f}{speedup}", flush=True)


if __name__ == "__main__":
    app.run(main)
