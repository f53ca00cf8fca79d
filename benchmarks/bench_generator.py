"""Gs inference speed: images/s of the default-width generator, eager vs tf.function vs XLA.

Builds the full-size architecture with random weights and calls it as users do, random noise:
StyleGAN (`--family=stylegan`, G_style, fmap_base 8192, psi 0.7, cutoff 8) or StyleGAN2 config F
(`--family=stylegan2`, G_main + skip synthesis, fmap_base 16384, psi 0.5 on every layer;
`--fused_modconv=true,false` times both forms of the modulated convolution), or StyleGAN3
(`--family=stylegan3-t` / `stylegan3-r`: the release's T and R configs at its defaults, channel_base
32768 / channel_max 512, doubled with 1x1 convolutions and radial filters for R; psi 0.7 on every
layer). Compare with the original release's figures in ../shared/PERF.md (same machine kind).

    python benchmarks/bench_generator.py --resolutions=256,1024 --batch_sizes=1,8
    python benchmarks/bench_generator.py --family=stylegan2 --batch_sizes=1,4 --modes=function
    python benchmarks/bench_generator.py --precisions=fp32,bf16 --modes=function   # + max |diff| to fp32
    python benchmarks/bench_generator.py --family=stylegan3-t --resolutions=256 --batch_sizes=1,8 --modes=function
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from stylegan_tf import names, networks  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("resolutions", ["256", "1024"], "Output resolutions to benchmark.")
flags.DEFINE_list("batch_sizes", ["1", "8"], "Batch sizes to benchmark.")
flags.DEFINE_list("modes", ["eager", "function", "xla"], "Execution modes to benchmark.")
flags.DEFINE_float("min_seconds", 10.0, "Measure each case for at least this long.")
flags.DEFINE_integer("min_runs", 3, "...and at least this many calls.")
flags.DEFINE_enum("family", "stylegan", ["stylegan", "stylegan2", "stylegan3-t", "stylegan3-r"], "Network family.")
flags.DEFINE_list("fused_modconv", ["true"], "StyleGAN2: fused_modconv values to time.")
flags.DEFINE_list("precisions", ["fp32"], "Precisions to time (fp32, bf16, fp16; stylegan_tf/networks/runtime.py).")
flags.DEFINE_integer("num_fp16_res", names.DEFAULT_NUM_FP16_RES, "Resolutions computed in low precision.")
flags.DEFINE_enum("impl", "auto", ["auto", *names.IMPLS], "Op forms (stylegan_tf/ops/fast.py); auto: xla for the "
                  "xla mode, fast for the others.")


def measure(call, batch_size, min_seconds, min_runs):
    """Images/s of `call` after one warm-up call (which includes tracing/compilation)."""
    latents = np.random.RandomState(0).randn(batch_size, 512).astype(np.float32)
    start = time.perf_counter()
    call(latents).numpy()
    warmup = time.perf_counter() - start
    runs, start = 0, time.perf_counter()
    while runs < min_runs or time.perf_counter() - start < min_seconds:
        call(latents).numpy()
        runs += 1
    return runs * batch_size / (time.perf_counter() - start), warmup


def main(_):
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, devices: "
          f"{[d.device_type for d in tf.config.list_physical_devices()]}")
    print(f"{'family':>9} {'fused':>5} {'resolution':>10} {'batch':>5} {'precision':>9} {'mode':>8} {'img/s':>8} "
          f"{'warm-up s':>10} {'max|d| fp32':>11}")
    variants = [None] if FLAGS.family != "stylegan2" else [value.lower() == "true" for value in FLAGS.fused_modconv]
    for resolution in map(int, FLAGS.resolutions):
        for fused in variants:
            if FLAGS.family == "stylegan":
                Gs = networks.Generator(resolution=resolution, num_channels=3, name="Gs")
                kwargs = dict(truncation_psi=0.7, truncation_cutoff=8)
            elif FLAGS.family.startswith("stylegan3"):
                r_config = dict(conv_kernel=1, channel_base=65536, channel_max=1024, use_radial_filters=True)
                Gs = networks.GeneratorSG3(resolution=resolution, num_channels=3, name="Gs",
                                           **(r_config if FLAGS.family == "stylegan3-r" else {}))
                kwargs = dict(truncation_psi=0.7)
            else:
                Gs = networks.GeneratorMain(resolution=resolution, num_channels=3, fused_modconv=fused, name="Gs")
                kwargs = dict(truncation_psi=0.5)

            probe = np.random.RandomState(1).randn(1, Gs.latent_size).astype(np.float32)
            reference = Gs(probe, None, randomize_noise=False, **kwargs).numpy()
            for name in FLAGS.precisions:
                for mode in FLAGS.modes:  # one network per precision and mode, timed at every batch size
                    impl = FLAGS.impl if FLAGS.impl != "auto" else "xla" if mode == "xla" else "fast"
                    net = Gs.clone(impl=impl, precision=name, num_fp16_res=FLAGS.num_fp16_res)

                    def generate(latents, net=net, kwargs=kwargs):
                        return net(latents, None, randomize_noise=True, **kwargs)

                    def stored_noise(latents, net=net, kwargs=kwargs):  # for the comparison with fp32
                        return net(latents, None, randomize_noise=False, **kwargs)

                    difference = float(np.max(np.abs(tf.function(stored_noise)(probe).numpy() - reference)))
                    call = {"eager": generate, "function": tf.function(generate),
                            "xla": tf.function(generate, jit_compile=True)}[mode]
                    for batch_size in map(int, FLAGS.batch_sizes):
                        rate, warmup = measure(call, batch_size, FLAGS.min_seconds, FLAGS.min_runs)
                        print(f"{FLAGS.family:>9} {str(fused):>5} {resolution:>10} {batch_size:>5} {name:>9} "
                              f"{mode:>8} {rate:>8.2f} {warmup:>10.1f} {difference:>11.3g}", flush=True)


if __name__ == "__main__":
    app.run(main)
