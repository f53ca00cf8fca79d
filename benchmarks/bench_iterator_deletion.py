"""How long deleting a training pipeline's iterator takes after a busy consumer: the project's
pipeline (fixed parallelism, tf.data autotuning off) beside the same pipeline with autotuning on, as
it was. Deleting happens at every lod change and after abort.txt; run it on one core to see the
autotuner's wait at its worst.

    taskset -c 0 python benchmarks/bench_iterator_deletion.py [--busy_seconds=15]
"""
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_float("busy_seconds", 15.0, "Time the consumer spends between batches, in total.")
flags.DEFINE_integer("batches", 150, "Batches consumed before the iterator is deleted.")


def main(argv):
    del argv
    import numpy as np
    import tensorflow as tf

    from stylegan_tf import dataset
    from stylegan_tf.dataset import writer
    with tempfile.TemporaryDirectory() as work_dir:
        path = os.path.join(work_dir, "random")
        rng = np.random.RandomState(0)
        with writer.TFRecordExporter(path, progress=False) as exporter:
            for _ in range(512):
                exporter.add_image(rng.randint(0, 256, [3, 32, 32]).astype(np.uint8))
        ds = dataset.TFRecordDataset(path)
        autotuned = tf.data.Options()
        autotuned.autotune.enabled = True
        for label, pipeline in (("fixed (the project's)", ds.make_dataset(0, 32, seed=1)),
                                ("autotuned (as before)", ds.make_dataset(0, 32, seed=2).with_options(autotuned))):
            iterator = iter(pipeline)
            pause = FLAGS.busy_seconds / FLAGS.batches
            for _ in range(FLAGS.batches):
                next(iterator)
                start = time.perf_counter()
                work = np.random.rand(200, 200)
                while time.perf_counter() - start < pause:  # a busy consumer, as a training step
                    work = work @ work / 200.0
            start = time.perf_counter()
            del iterator
            print(f"{label:24s} deleting the iterator took {time.perf_counter() - start:6.2f} s", flush=True)


if __name__ == "__main__":
    app.run(main)
