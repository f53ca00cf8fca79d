"""The cost of StyleGAN2-ADA's augmentation: ms per minibatch of the pipeline alone (forward, and
forward + the gradient w.r.t. the images that G's loss and R1 take), per resolution, preset, padding
mode and compiler, beside a StyleGAN2 training step of the same minibatch for its share.

    python benchmarks/bench_augment.py --resolutions=64,256 --batch_size=32
    python benchmarks/bench_augment.py --pipes=bgc,bgcfnc --modes=function,xla --step=false
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from stylegan_tf import augment  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("resolutions", ["64", "256"], "Image resolutions.")
flags.DEFINE_integer("batch_size", 32, "Images per minibatch.")
flags.DEFINE_list("pipes", ["bgc"], "Augmentation presets to time.")
flags.DEFINE_list("modes", ["function", "xla"], "function: tf.function with the release's data-dependent padding; "
                  "xla: XLA-compiled with static padding.")
flags.DEFINE_bool("step", True, "Also time a StyleGAN2-ADA training step (config paper256 widths, G + D + "
                  "the augmentation of every image D sees) on the same minibatch, for the augmentation's share.")
flags.DEFINE_float("min_seconds", 5.0, "Measure each case for at least this long.")


def timed(fn, *args):
    fn(*args)  # trace / compile
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < FLAGS.min_seconds or runs < 3:
        result = fn(*args)
        tf.nest.map_structure(lambda t: t.numpy(), result)
        runs += 1
    return (time.perf_counter() - start) / runs * 1000.0


def pipeline_fns(pipe, static):
    pipeline = augment.AugmentPipeline(pipe)
    seed = tf.constant([1, 2], tf.int64)

    def forward(images):
        return pipeline(images, 0.6, augment.StatelessDraws(seed, images.shape[0]), static_padding=static)

    def backward(images, weights):
        with tf.GradientTape() as tape:
            tape.watch(images)
            total = tf.reduce_sum(forward(images) * weights)
        return tape.gradient(total, images)
    return forward, backward


def training_step_ms(resolution, batch):
    """One StyleGAN2 G step + D step (each D input augmented with 'bgc'), paper256 widths."""
    from stylegan_tf.training import config as config_lib
    from stylegan_tf.training import trainer
    config = config_lib.ada_config("paper256", "bench", resolution, 1)
    config.sched.minibatch_base = config.sched.minibatch_gpu_base = batch
    info = trainer.DatasetInfo(resolution, 3, 0, np.zeros([1, 0], np.float32))
    t = trainer.Trainer(tf.distribute.get_strategy(), config, info, compile_mode="function")
    reals = np.random.RandomState(0).randint(0, 256, [batch, resolution, resolution, 3]).astype(np.uint8)
    labels = np.zeros([batch, 0], np.float32)

    def step():
        return t.g_step(0.0, 0.002, batch), t.d_step(reals, labels, 0.0, 0.002, batch)
    return timed(step)


def main(_):
    batch = FLAGS.batch_size
    print(f"batch {batch}; ms per minibatch (forward = one augmentation of the batch; +grad = forward and "
          "the gradient w.r.t. the images)")
    for resolution in map(int, FLAGS.resolutions):
        images = tf.constant(np.random.RandomState(0).uniform(-1, 1, [batch, resolution, resolution, 3]), tf.float32)
        weights = tf.ones_like(images)
        rows = []
        for pipe in FLAGS.pipes:
            for mode in FLAGS.modes:
                forward, backward = pipeline_fns(pipe, static=mode == "xla")
                forward_ms = timed(tf.function(forward, jit_compile=mode == "xla"), images)
                backward_ms = timed(tf.function(backward, jit_compile=mode == "xla"), images, weights)
                rows.append((pipe, mode, forward_ms, backward_ms))
                print(f"{resolution:>5}^2  {pipe:<7} {mode:<9} forward {forward_ms:9.1f} ms   "
                      f"+grad {backward_ms:9.1f} ms", flush=True)
        if FLAGS.step:
            step = training_step_ms(resolution, batch)
            # A G step and a D step augment 3 batches (G's fakes; D's fakes and reals), all differentiated.
            share = 3 * rows[0][3] / step
            print(f"{resolution:>5}^2  training step (G + D, paper256 widths, {FLAGS.modes[0]}) {step:9.1f} ms; "
                  f"3 augmented batches with gradients ({rows[0][0]}, {rows[0][1]}) ~ {share:.0%} of it", flush=True)


if __name__ == "__main__":
    app.run(main)
