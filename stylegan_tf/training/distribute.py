"""tf.distribute plumbing of the trainer: strategies by name, the chief worker, replica-local variables."""
import json
import os

import numpy as np
import tensorflow as tf

from stylegan_tf.training import config as config_lib


def make_strategy(name="auto"):
    """A tf.distribute strategy by name.

    Args:
        name: 'one_device' (first GPU, else CPU), 'mirrored' (all GPUs, else all logical CPU
            devices), 'multiworker' (MultiWorkerMirroredStrategy configured by TF_CONFIG) or
            'auto' (multiworker when TF_CONFIG lists several workers, mirrored with several GPUs,
            else one_device).

    Raises:
        ValueError: unknown name, or 'multiworker' without TF_CONFIG.
    """
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    num_workers = sum(len(tasks) for role, tasks in tf_config.get("cluster", {}).items()
                      if role in ("chief", "worker"))
    if name == "auto":
        if num_workers > 1:
            name = "multiworker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "multiworker":
        if not tf_config:
            raise ValueError("strategy 'multiworker' needs the TF_CONFIG environment variable "
                             "(cluster and task of this worker).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy((gpus or cpus)[0])
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(gpus or cpus)
    raise ValueError(f"strategy must be one of {', '.join(config_lib.STRATEGIES)}, got {name!r}.")


def describe_devices(strategy):
    """The devices the replicas run on, for the log: e.g. '/device:GPU:0, /device:GPU:1' or
    '/device:CPU:0 (no GPU visible)'."""
    devices = sorted({device[device.find("/device:"):] if "/device:" in device else device
                      for device in strategy.extended.worker_devices})
    note = "" if tf.config.list_physical_devices("GPU") else " (no GPU visible)"
    return ", ".join(devices) + note


def missing_gpu_warning(strategy_choice, num_gpus):
    """A warning when the run asks for GPUs (`--strategy=mirrored|multiworker`, or a preset written
    for several GPUs) but TensorFlow sees none, else None: a plain `pip install tensorflow` has no
    CUDA libraries and trains on the CPU without a word."""
    if tf.config.list_physical_devices("GPU"):
        return None
    asked = [f"--strategy={strategy_choice}"] if strategy_choice in ("mirrored", "multiworker") else []
    if num_gpus > 1:
        asked.append(f"a config written for {num_gpus} GPUs")
    if not asked:
        return None
    return (f"the run asks for GPUs ({' and '.join(asked)}) but TensorFlow sees none, so it trains on "
            "the CPU. For "
            "NVIDIA GPUs install TensorFlow with its CUDA libraries: pip install -r requirements-gpu.txt "
            "(README, Quick start).")


def strategy_name(strategy):
    """The public class name of a strategy (MultiWorkerMirroredStrategy's class has another)."""
    names = ((tf.distribute.MultiWorkerMirroredStrategy, "MultiWorkerMirroredStrategy"),
             (tf.distribute.MirroredStrategy, "MirroredStrategy"),
             (tf.distribute.OneDeviceStrategy, "OneDeviceStrategy"))
    for cls, name in names:
        if isinstance(strategy, cls):
            return name
    return type(strategy).__name__


def split_cpu(num_devices):
    """Splits the CPU into `num_devices` logical devices (to run several replicas on a CPU).
    Must run before TensorFlow initializes its devices."""
    if num_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])


def visible_gpus():
    return tf.config.list_physical_devices("GPU")


def replica_local_variable(next_creator, **kwargs):
    # Every variable is updated identically by each replica from all-reduced values (or, like
    # dlatent_avg and the original's per-GPU network copies, locally), so no write needs a
    # cross-replica merge_call -- which an XLA-compiled replica function could not make.
    kwargs["aggregation"] = tf.VariableAggregation.NONE
    return next_creator(**kwargs)


def is_chief(strategy):
    """True on the worker that writes the run directory (always, except non-chief workers)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    cluster = resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def replica_id():
    return tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int32)


def split_global_batch(strategy, images, labels):
    """A global NumPy minibatch as per-replica values (replica i gets rows [i*n, (i+1)*n)); for
    tests and benchmarks that bypass the dataset pipeline."""
    images = np.asarray(images)
    labels = np.asarray(labels, np.float32)
    batch = images.shape[0] // strategy.num_replicas_in_sync

    def value_fn(ctx):
        start = ctx.replica_id_in_sync_group * batch
        return tf.constant(images[start:start + batch]), tf.constant(labels[start:start + batch])
    return strategy.experimental_distribute_values_from_function(value_fn)
