"""Throughput of the metric networks: Inception-v3 FID features (images/s) and LPIPS-VGG16 (pairs/s).

Usage:
    python benchmarks/bench_metrics.py [--batch=16] [--seconds=20] [--xla]

Inception is timed on uint8 256x256 images (resized to 299 inside, as for a 256 generator);
LPIPS on 256x256 pairs (PPL on a 256 generator crops 128x128; on 1024, 512 box-downsampled to 256).
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from anywhere

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from stylegan_tf.metrics import feature_networks  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 16, "Images (pairs) per call.")
flags.DEFINE_float("seconds", 20.0, "Minimum timed seconds per measurement.")
flags.DEFINE_bool("xla", False, "Compile with XLA (jit_compile=True).")


def throughput(function, inputs, batch):
    function(*inputs).numpy()  # trace, compile and warm up
    calls, start = 0, time.perf_counter()
    while True:
        function(*inputs).numpy()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= FLAGS.seconds and calls >= 2:
            return calls * batch / elapsed


def main(_):
    tf.config.experimental.enable_tensor_float_32_execution(False)
    device = "GPU " + tf.config.list_physical_devices("GPU")[0].name if tf.config.list_physical_devices("GPU") \
        else f"CPU ({os.cpu_count()} cores visible)"
    print(f"TensorFlow {tf.__version__} on {device}; batch {FLAGS.batch}; XLA {FLAGS.xla}")
    rng = np.random.RandomState(0)

    inception = feature_networks.inception_v3(jit_compile=FLAGS.xla)
    for size in (256, 1024):
        images = tf.constant(rng.randint(0, 256, size=[FLAGS.batch, size, size, 3]).astype(np.uint8))
        rate = throughput(inception, [images], FLAGS.batch)
        print(f"{f'Inception-v3 features, uint8 {size}x{size} input:':<48}{rate:8.1f} images/s")

    lpips = feature_networks.lpips_vgg16(jit_compile=FLAGS.xla)
    for size in (128, 256):
        first = tf.constant(rng.uniform(-1, 1, size=[FLAGS.batch, size, size, 3]).astype(np.float32))
        second = first + tf.constant(rng.normal(0, 1e-4, size=first.shape).astype(np.float32))
        rate = throughput(lpips, [first, second], FLAGS.batch)
        print(f"{f'LPIPS-VGG16, {size}x{size} pairs:':<48}{rate:8.1f} pairs/s")


if __name__ == "__main__":
    app.run(main)
