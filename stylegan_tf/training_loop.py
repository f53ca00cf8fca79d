"""The original StyleGAN training loop (`training/training_loop.py`, SPEC §6) on tf.distribute.

One `Trainer` holds G, D, Gs and both optimizers, built under a tf.distribute strategy, and runs the
original's two training steps:

* D step: D loss on a real minibatch (processed as the original: drange, mirror, lod fade, upscale)
  and fakes from G, Adam update of D, then the Gs moving average of G;
* G step: G loss on fresh latents and random labels, Adam update of G.

Each step is one `tf.function` around `strategy.run`; inside, each replica calls its own
XLA-compiled (`jit_compile=True`) function. The networks get the `lod_range` of the current lod
phase, so each compiled step holds only the levels that phase blends, without conditionals: a
step is traced once per phase (the stable and the fading half of each resolution), not per step.
With several replicas the gradients are summed across replicas between the compiled gradient and
update functions and scaled by 1/replicas, as the original sums its per-GPU gradients. The random
inputs (latents, mirror flips, G's labels, penalty mixing factors) are drawn for the global
minibatch from a per-step stateless seed and each replica takes its slice, so a run on N replicas
sees the same numbers as on one.

`training_loop(config)` is the outer loop: schedule, optimizer resets at lod-phase changes,
`minibatch_repeats` and `D_repeats`, ticks with the original's log line, TensorBoard scalars and
image grids, network snapshots (original pickle format + a training-state file), resume.
"""

import dataclasses
import json
import math
import os
import time
import zlib

import numpy as np
import tensorflow as tf

from stylegan_tf import config as config_lib
from stylegan_tf import (fileio, image_grid, legacy, losses, networks, ops, schedule, snapshots,
                         summaries)

STATE_VERSION = 1

# ----------------------------------------------------------------------------------------------
# Strategy.


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


def _mean_loss_gradients(variables, loss_name, loss_fn):
    """Gradients of the batch-mean loss w.r.t. `variables` (zeros where disconnected) and the
    loss function's series with the mean loss under `loss_name`."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch([var.value for var in variables])
        loss, series = loss_fn()
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, [var.value for var in variables])
    grads = [tf.zeros_like(var) if grad is None else grad for grad, var in zip(grads, variables)]
    stats = _series_stats(series)
    stats[loss_name] = loss
    return grads, stats


def _replica_local_variable(next_creator, **kwargs):
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


# ----------------------------------------------------------------------------------------------
# Reals.


def process_reals(images, lod, mirror_augment, drange_data, drange_net, resolution,
                  mirror_random=None):
    """The original's just-in-time processing of a real minibatch (SPEC §6.4), NHWC.

    Args:
        images: [N, h, w, C] as read at resolution h = 2**(log2(R) - floor(lod)) (uint8 or float).
        lod: scalar float tensor.
        mirror_augment: flip each image horizontally with probability 0.5.
        drange_data, drange_net: value ranges of the data and of the networks.
        resolution: network resolution R; images are upscaled (nearest) to R x R.
        mirror_random: U[0, 1) values [N] deciding the flips (< 0.5 keeps the image); None draws.

    Returns:
        float32 [N, R, R, C].
    """
    x = tf.cast(images, tf.float32)
    x = image_grid.adjust_dynamic_range(x, drange_data, drange_net)
    if mirror_augment:
        if mirror_random is None:
            mirror_random = tf.random.uniform([tf.shape(x)[0]], 0.0, 1.0)
        keep = mirror_random[:, tf.newaxis, tf.newaxis, tf.newaxis] < 0.5
        x = tf.where(keep, x, tf.reverse(x, axis=[2]))
    # Smooth crossfade towards the coarser level while the new one fades in.
    lod = tf.cast(lod, tf.float32)
    coarse = ops.upscale2d(ops.downscale2d(x))
    x = ops.lerp(x, coarse, lod - tf.floor(lod))
    height = images.shape[1]
    if resolution % height:
        raise ValueError(f"reals of size {height} do not divide the resolution {resolution}.")
    return ops.upscale2d(x, resolution // height)


# ----------------------------------------------------------------------------------------------
# Optimizer.


class Adam:
    """Adam with the arithmetic of TF1's `tf.train.AdamOptimizer` (the original's optimizer):
    `lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`, `m += (g - m)(1 - beta1)`,
    `v += (g^2 - v)(1 - beta2)`, `var -= lr_t * m / (sqrt(v) + epsilon)`, with the powers kept
    as variables. `reset()` restores the initial state (moments, powers, step count), as the
    original's `reset_optimizer_state`. An update with any non-finite gradient is skipped
    entirely (the step count does not advance), as the original's `Optimizer` wrapper does.

    Args:
        variables: the Keras variables to train.
        names: their original names (for the state file).
        beta1, beta2, epsilon: hyper-parameters (the original uses 0, 0.99, 1e-8).
        name: 'TrainG' or 'TrainD', as the original's summaries.
    """

    def __init__(self, variables, names, beta1=0.0, beta2=0.99, epsilon=1e-8, name="Train"):
        self.variables = list(variables)
        self.names = list(names)
        self.name = name
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.m = [tf.Variable(tf.zeros(var.shape), trainable=False) for var in variables]
        self.v = [tf.Variable(tf.zeros(var.shape), trainable=False) for var in variables]
        self.beta1_power = tf.Variable(self.beta1, dtype=tf.float32, trainable=False)
        self.beta2_power = tf.Variable(self.beta2, dtype=tf.float32, trainable=False)
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False)

    def reset(self):
        """Back to the initial state (called outside the replica context)."""
        for slot in self.m + self.v:
            slot.assign(tf.zeros(slot.shape, tf.float32))
        self.beta1_power.assign(self.beta1)
        self.beta2_power.assign(self.beta2)
        self.steps.assign(0)

    def apply(self, grads, learning_rate):
        """One update from `grads` (inside a replica); returns 1.0 if skipped, else 0.0."""
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(grad)) for grad in grads])
        learning_rate = tf.cast(learning_rate, tf.float32)
        lr_t = learning_rate * tf.sqrt(1.0 - self.beta2_power) / (1.0 - self.beta1_power)
        for var, grad, m, v in zip(self.variables, grads, self.m, self.v):
            new_m = m + (grad - m) * (1.0 - self.beta1)
            new_v = v + (tf.square(grad) - v) * (1.0 - self.beta2)
            value = tf.convert_to_tensor(var)
            new_value = value - lr_t * new_m / (tf.sqrt(new_v) + self.epsilon)
            m.assign(tf.where(finite, new_m, m))
            v.assign(tf.where(finite, new_v, v))
            var.assign(tf.where(finite, new_value, value))
        self.beta1_power.assign(tf.where(finite, self.beta1_power * self.beta1, self.beta1_power))
        self.beta2_power.assign(tf.where(finite, self.beta2_power * self.beta2, self.beta2_power))
        self.steps.assign_add(tf.cast(finite, tf.int64))
        return 1.0 - tf.cast(finite, tf.float32)

    def state_arrays(self):
        """{key: array} of the whole state, keyed by the variables' original names."""
        arrays = {f"{self.name}/beta1_power": self.beta1_power.numpy(),
                  f"{self.name}/beta2_power": self.beta2_power.numpy(),
                  f"{self.name}/steps": self.steps.numpy()}
        for name, m, v in zip(self.names, self.m, self.v):
            arrays[f"{self.name}/m/{name}"] = m.numpy()
            arrays[f"{self.name}/v/{name}"] = v.numpy()
        return arrays

    def load_state_arrays(self, arrays):
        """Restores `state_arrays()`; raises ValueError if a variable is missing or misshapen."""
        for name, m, v in zip(self.names, self.m, self.v):
            for slot, key in ((m, f"{self.name}/m/{name}"), (v, f"{self.name}/v/{name}")):
                if key not in arrays:
                    raise ValueError(f"training state lacks {key}.")
                if tuple(arrays[key].shape) != tuple(slot.shape):
                    raise ValueError(f"training state {key} has shape {arrays[key].shape}, "
                                     f"expected {tuple(slot.shape)}.")
                slot.assign(arrays[key])
        self.beta1_power.assign(arrays[f"{self.name}/beta1_power"])
        self.beta2_power.assign(arrays[f"{self.name}/beta2_power"])
        self.steps.assign(arrays[f"{self.name}/steps"])


# ----------------------------------------------------------------------------------------------
# Training steps.


def _series_stats(series):
    """{name: tensor} -> {name/sum, name/count} float32 scalars (the tick mean's parts)."""
    stats = {}
    for name, value in series.items():
        value = tf.cast(value, tf.float32)
        stats[f"{name}/sum"] = tf.reduce_sum(value)
        stats[f"{name}/count"] = tf.cast(tf.size(value), tf.float32)
    return stats


def lod_range_of(lod):
    """The `lod_range` promise for the networks while the schedule is at `lod`: the exact value
    during a stable phase, the open interval (k, k + 1) during a fade into level k. Either way the
    networks build only the levels that lod blends, without conditionals, so each phase of each
    resolution compiles to its own small step."""
    lod = float(lod)
    level = math.floor(lod)
    if lod == level:
        return (lod, lod)
    return (float(np.nextafter(level, level + 1)), float(np.nextafter(level + 1, level)))


class _AtLodRange:
    """A network called with a fixed `lod_range` (what the loss functions see as G or D)."""

    def __init__(self, net, lod_range):
        self.net = net
        self.lod_range = lod_range

    def __call__(self, *args, **kwargs):
        return self.net(*args, lod_range=self.lod_range, **kwargs)


def _replica_id():
    return tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int32)


def copy_network_variables(source, target, what="network"):
    """Assigns every variable of `source` to the same-named variable of `target`.

    Raises:
        ValueError: the networks' variables differ in names or shapes.
    """
    src = source.original_variables()
    dst = target.original_variables()
    if list(src) != list(dst):
        missing = [name for name in dst if name not in src]
        extra = [name for name in src if name not in dst]
        raise ValueError(f"{what}: the architectures differ (missing {missing[:5]}, "
                         f"unexpected {extra[:5]}).")
    for name, variable in dst.items():
        value = np.asarray(src[name])
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{what}: {name} has shape {value.shape}, the configured network "
                             f"expects {tuple(variable.shape)}.")
        variable.assign(value)


class Trainer:
    """G, D, Gs, the optimizers and the compiled training steps on one strategy.

    Args:
        strategy: tf.distribute strategy.
        G_args, D_args: network keyword arguments (original names).
        resolution, num_channels, label_size: dataset properties.
        G_loss, D_loss: config.LossConfig.
        G_opt, D_opt: config.OptimizerConfig.
        mirror_augment: flip reals horizontally at random.
        drange_net: network value range.
        G_smoothing_kimg: Gs half-life in kimg (0 = Gs copies G).
        labels: the dataset's label array [rows, label_size] (random rows go to the G step).
        compile_mode: 'xla' (default), 'function' (tf.function without XLA) or 'eager'.
        seed: base of the per-step random seeds.
    """

    def __init__(self, strategy, G_args, D_args, resolution, num_channels, label_size,
                 G_loss, D_loss, G_opt, D_opt, mirror_augment=False, drange_net=(-1, 1),
                 G_smoothing_kimg=10.0, labels=None, compile_mode="xla", seed=1000):
        if compile_mode not in ("xla", "function", "eager"):
            raise ValueError(f"compile_mode must be 'xla', 'function' or 'eager', got "
                             f"{compile_mode!r}.")
        self.strategy = strategy
        self.num_replicas = strategy.num_replicas_in_sync
        self.resolution = int(resolution)
        self.label_size = int(label_size)
        self.mirror_augment = bool(mirror_augment)
        self.drange_net = [float(value) for value in drange_net]
        self.G_smoothing_kimg = float(G_smoothing_kimg)
        self.compile_mode = compile_mode
        self.seed = int(seed)
        self.G_loss_fn = losses.G_LOSSES[G_loss.func_name]
        self.D_loss_fn = losses.D_LOSSES[D_loss.func_name]
        self.G_loss_kwargs = dict(G_loss.kwargs)
        self.D_loss_kwargs = dict(D_loss.kwargs)
        self.D_loss_seeded = D_loss.func_name in losses.SEEDED_LOSSES
        self.step_counter = 0
        self.trace_counts = {}
        self._replica_fns = {}
        self._outer_fns = {}

        with strategy.scope(), tf.variable_creator_scope(_replica_local_variable):
            common = dict(resolution=self.resolution, num_channels=int(num_channels),
                          label_size=self.label_size)
            self.G = networks.Generator(name="G", **common, **G_args)
            self.D = networks.Discriminator(name="D", **common, **D_args)
            self.Gs = self.G.clone("Gs")
            self.G_opt = self._make_optimizer(self.G, G_opt, "TrainG")
            self.D_opt = self._make_optimizer(self.D, D_opt, "TrainD")
            if self.label_size:
                self.label_table = tf.constant(np.asarray(labels, np.float32))

        # Gs <- G by original name: trainables move towards G, non-trainables are copied.
        G_vars, Gs_vars = legacy.original_variables(self.G), legacy.original_variables(self.Gs)
        self.Gs_pairs = [(Gs_vars[name], G_vars[name], bool(Gs_vars[name].trainable))
                         for name in Gs_vars if name in G_vars]

    def _make_optimizer(self, net, opt_config, name):
        trainable_ids = {id(var) for var in net.trainable_variables}
        named = [(name_, var) for name_, var in legacy.original_variables(net).items()
                 if id(var) in trainable_ids]
        seen, unique = set(), []
        for name_, var in named:  # G's lod appears under two names; trainables do not
            if id(var) not in seen:
                seen.add(id(var))
                unique.append((name_, var))
        if len(unique) != len(trainable_ids):
            raise RuntimeError(f"{name}: could not name every trainable variable.")
        return Adam([var for _, var in unique], [name_ for name_, _ in unique],
                    opt_config.beta1, opt_config.beta2, opt_config.epsilon, name)

    # ---- helpers used inside the replica functions ---------------------------------------------

    def gs_beta(self, minibatch):
        """The original's Gs decay: 0.5 ** (global minibatch / (1000 * G_smoothing_kimg))."""
        if self.G_smoothing_kimg <= 0.0:
            return 0.0
        return float(np.float32(0.5) ** (np.float32(minibatch)
                                         / np.float32(self.G_smoothing_kimg * 1000.0)))

    def _set_lod(self, lod):
        self.G.lod.assign(lod)  # also G_synthesis/lod: one variable
        self.D.lod.assign(lod)

    def _replica_slice(self, values, replica, batch):
        """This replica's rows of a tensor drawn for the global minibatch (a gather keeps the
        shape static, which XLA needs)."""
        grouped = tf.reshape(values, [self.num_replicas, batch] + values.shape.as_list()[1:])
        return tf.gather(grouped, replica)

    def _labels_or_none(self, labels):
        return labels if self.label_size else None

    def _update_gs(self, beta):
        beta = tf.cast(beta, tf.float32)
        for gs_var, g_var, trainable in self.Gs_pairs:
            g_value = tf.convert_to_tensor(g_var)
            if trainable:
                gs_var.assign(ops.lerp(g_value, tf.convert_to_tensor(gs_var), beta))
            else:
                gs_var.assign(g_value)

    def _d_grads(self, lod_range, reals, labels, lod, seed, replica):
        batch = reals.shape[0]
        global_batch = batch * self.num_replicas
        seeds = tf.random.experimental.stateless_split(seed, num=3, alg="philox")
        self._set_lod(lod)
        mirror_random = self._replica_slice(
            losses.stateless_uniform([global_batch], seeds[0]), replica, batch) \
            if self.mirror_augment else None
        reals = process_reals(reals, lod, self.mirror_augment, [0, 255], self.drange_net,
                              self.resolution, mirror_random)
        latents = self._replica_slice(
            losses.stateless_normal([global_batch, self.G.latent_size], seeds[1]), replica,
            batch)
        kwargs = dict(self.D_loss_kwargs)
        if self.D_loss_seeded:
            kwargs["seed"] = tf.random.experimental.stateless_fold_in(seeds[2], replica,
                                                                       alg="philox")
        return _mean_loss_gradients(
            self.D_opt.variables, "Loss/D_loss",
            lambda: self.D_loss_fn(_AtLodRange(self.G, lod_range), _AtLodRange(self.D, lod_range),
                                   latents, reals, self._labels_or_none(labels), **kwargs))

    def _g_grads(self, lod_range, batch, lod, seed, replica):
        global_batch = batch * self.num_replicas
        seeds = tf.random.experimental.stateless_split(seed, num=2, alg="philox")
        self._set_lod(lod)
        latents = self._replica_slice(
            losses.stateless_normal([global_batch, self.G.latent_size], seeds[0]), replica,
            batch)
        labels = None
        if self.label_size:
            rows = tf.random.stateless_uniform([global_batch], seeds[1], 0,
                                               self.label_table.shape[0], dtype=tf.int32,
                                               alg="philox")
            labels = tf.gather(self.label_table, self._replica_slice(rows, replica, batch))
        return _mean_loss_gradients(
            self.G_opt.variables, "Loss/G_loss",
            lambda: self.G_loss_fn(_AtLodRange(self.G, lod_range), _AtLodRange(self.D, lod_range),
                                   latents, labels, **self.G_loss_kwargs))

    def _d_apply(self, grads, lrate, gs_beta):
        overflow = self.D_opt.apply(grads, lrate)
        self._update_gs(gs_beta)
        return overflow

    def _g_apply(self, grads, lrate):
        return self.G_opt.apply(grads, lrate)

    # ---- compiled functions ----------------------------------------------------------------------

    def _replica_function(self, key, python_fn):
        """`python_fn` compiled for the current replica's device (created on first use).

        Each replica gets its own tf.function so that its trace captures its own copies of the
        variables, and a graph-level seed of its own, so that the networks' random ops (noise
        inputs, style mixing) draw different numbers on each replica.
        """
        if self.compile_mode == "eager":
            return python_fn
        # The device scope of this replica's trace (ReplicaContext.devices fails on workers > 0
        # of a MultiWorkerMirroredStrategy).
        device = tf.constant(0).device
        if (key, device) not in self._replica_fns:
            replica_seed = (self.seed * 7919 + zlib.crc32(device.encode())) % (2 ** 31 - 1)
            counts = self.trace_counts
            name = key[0]

            def traced(*args):
                counts[name] = counts.get(name, 0) + 1
                tf.random.set_seed(replica_seed)  # graph-level seed of this trace only
                return python_fn(*args)

            self._replica_fns[(key, device)] = tf.function(
                traced, jit_compile=self.compile_mode == "xla", autograph=False)
        return self._replica_fns[(key, device)]

    def _d_replica(self, lod_range, reals, labels, lod, lrate, gs_beta, seed):
        replica = _replica_id()
        if self.num_replicas == 1:
            def fused(reals, labels, lod, lrate, gs_beta, seed, replica):
                grads, stats = self._d_grads(lod_range, reals, labels, lod, seed, replica)
                stats["TrainD/overflow_frequency"] = self._d_apply(grads, lrate, gs_beta)
                return stats
            return self._replica_function(("D_step", lod_range), fused)(
                reals, labels, lod, lrate, gs_beta, seed, replica)
        grads, stats = self._replica_function(
            ("D_grads", lod_range), lambda *args: self._d_grads(lod_range, *args))(
                reals, labels, lod, seed, replica)
        grads = self._all_reduce_mean(grads)
        stats = dict(stats)
        stats["TrainD/overflow_frequency"] = self._replica_function(
            ("D_apply",), self._d_apply)(grads, lrate, gs_beta)
        return stats

    def _g_replica(self, lod_range, batch, lod, lrate, seed):
        replica = _replica_id()
        if self.num_replicas == 1:
            def fused(lod, lrate, seed, replica):
                grads, stats = self._g_grads(lod_range, batch, lod, seed, replica)
                stats["TrainG/overflow_frequency"] = self._g_apply(grads, lrate)
                return stats
            return self._replica_function(("G_step", lod_range, batch), fused)(
                lod, lrate, seed, replica)
        grads, stats = self._replica_function(
            ("G_grads", lod_range, batch), lambda *args: self._g_grads(lod_range, batch, *args))(
                lod, seed, replica)
        grads = self._all_reduce_mean(grads)
        stats = dict(stats)
        stats["TrainG/overflow_frequency"] = self._replica_function(
            ("G_apply",), self._g_apply)(grads, lrate)
        return stats

    def _all_reduce_mean(self, grads):
        # The original sums the per-GPU gradients and scales by 1 / num_gpus.
        ctx = tf.distribute.get_replica_context()
        summed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        return [grad * (1.0 / self.num_replicas) for grad in summed]

    def _outer(self, key, fn):
        """The tf.function around `strategy.run` for one static configuration `key`."""
        if self.compile_mode == "eager":
            return fn
        if key not in self._outer_fns:
            self._outer_fns[key] = tf.function(fn, autograph=False)
        return self._outer_fns[key]

    def _step_seed(self):
        seed = tf.constant([self.seed, self.step_counter], dtype=tf.int64)
        self.step_counter += 1
        return seed

    # ---- public steps ----------------------------------------------------------------------------

    def d_step(self, reals, labels, lod, lrate, minibatch):
        """One D step and Gs update on a (distributed) real minibatch.

        Args:
            reals: per-replica uint8 [n, h, w, C] (a distributed value, or a tensor on one replica).
            labels: per-replica float32 [n, label_size].
            lod: schedule lod; lrate: D learning rate; minibatch: global minibatch (for Gs beta).

        Returns:
            Per-replica dict of scalar statistics.
        """
        strategy = self.strategy
        lod_range = lod_range_of(lod)
        args = (reals, labels, tf.constant(lod, tf.float32), tf.constant(lrate, tf.float32),
                tf.constant(self.gs_beta(minibatch), tf.float32), self._step_seed())

        def run(*args):
            return strategy.run(lambda *a: self._d_replica(lod_range, *a), args=args)
        return self._outer(("D", lod_range), run)(*args)

    def g_step(self, lod, lrate, minibatch):
        """One G step with a global minibatch of `minibatch` latents."""
        if minibatch % self.num_replicas:
            raise ValueError(f"minibatch {minibatch} is not a multiple of the "
                             f"{self.num_replicas} replicas.")
        batch = minibatch // self.num_replicas
        strategy = self.strategy
        lod_range = lod_range_of(lod)
        args = (tf.constant(lod, tf.float32), tf.constant(lrate, tf.float32), self._step_seed())

        def run(*args):
            return strategy.run(lambda *a: self._g_replica(lod_range, batch, *a), args=args)
        return self._outer(("G", lod_range, batch), run)(*args)

    def reset_optimizers(self):
        self.G_opt.reset()
        self.D_opt.reset()

    def distribute_batch(self, images, labels):
        """Splits a global NumPy minibatch into per-replica values (replica i gets rows
        [i*n, (i+1)*n)); for tests and benchmarks that bypass the dataset pipeline."""
        images = np.asarray(images)
        labels = np.asarray(labels, np.float32)
        batch = images.shape[0] // self.num_replicas

        def value_fn(ctx):
            start = ctx.replica_id_in_sync_group * batch
            return (tf.constant(images[start:start + batch]),
                    tf.constant(labels[start:start + batch]))
        return self.strategy.experimental_distribute_values_from_function(value_fn)

    def agree(self, flag):
        """True if `flag` is true on any worker (a collective: call on every worker)."""
        if "agree" not in self._outer_fns:
            strategy = self.strategy

            def run(value):
                def fn():
                    local = tf.identity(value)  # placed on this replica's device
                    return tf.distribute.get_replica_context().all_reduce(
                        tf.distribute.ReduceOp.SUM, local)
                return strategy.run(fn)
            self._outer_fns["agree"] = tf.function(run, autograph=False)
        result = self._outer_fns["agree"](tf.constant(1.0 if flag else 0.0))
        return float(self.strategy.experimental_local_results(result)[0].numpy()) > 0.5

    def generate(self, latents, labels, batch_size):
        """Gs images (validation mode: no truncation, random noise) as float32 NumPy NHWC."""
        if "Gs" not in self._outer_fns:
            Gs = self.Gs

            def run(latents, labels):
                return Gs(latents, labels if self.label_size else None, is_validation=True,
                          randomize_noise=True)
            self._outer_fns["Gs"] = tf.function(run, autograph=False)
        outputs = []
        for start in range(0, len(latents), batch_size):
            outputs.append(self._outer_fns["Gs"](
                tf.constant(latents[start:start + batch_size], tf.float32),
                tf.constant(labels[start:start + batch_size], tf.float32)).numpy())
        return np.concatenate(outputs)


# ----------------------------------------------------------------------------------------------
# Statistics (the original's autosummary: mean of everything reported since the last tick).


class TickStats:
    """Accumulates step outputs (kept as tensors until the tick, so steps stay asynchronous)."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.pending = []
        self.scalars = {}

    def add_step(self, outputs):
        self.pending.append(outputs)

    def add_scalar(self, name, value):
        total, count = self.scalars.get(name, (0.0, 0))
        self.scalars[name] = (total + float(value), count + 1)

    def means(self):
        """{name: mean} over the tick; resets the accumulators."""
        sums = {}
        for outputs in self.pending:
            for key, value in outputs.items():
                for local in self.strategy.experimental_local_results(value):
                    sums[key] = sums.get(key, 0.0) + float(local.numpy())
        means = {name: total / count for name, (total, count) in self.scalars.items()}
        replicas = len(self.strategy.experimental_local_results(
            self.pending[0][next(iter(self.pending[0]))])) if self.pending else 1
        step_counts = {}
        for outputs in self.pending:
            for key in outputs:
                step_counts[key] = step_counts.get(key, 0) + replicas
        for key, total in sums.items():
            if key.endswith("/sum"):
                name = key[:-4]
                count = sums.get(name + "/count", 0.0)
                if count:
                    means[name] = total / count
            elif not key.endswith("/count"):
                means[key] = total / step_counts[key]
        self.pending = []
        self.scalars = {}
        return means


# ----------------------------------------------------------------------------------------------
# Logging.


def format_time(seconds):
    """The original's `dnnlib.util.format_time`."""
    s = int(np.rint(seconds))
    if s < 60:
        return f"{s}s"
    if s < 60 * 60:
        return f"{s // 60}m {s % 60:02}s"
    if s < 24 * 60 * 60:
        return f"{s // 3600}h {(s // 60) % 60:02}m {s % 60:02}s"
    return f"{s // 86400}d {(s // 3600) % 24:02}h {(s // 60) % 60:02}m"


class Logger:
    """Prints to stdout and appends to the run's log.txt once `attach`ed (earlier lines are
    kept and written then)."""

    def __init__(self, echo=True):
        self.file = None
        self.echo = echo
        self.pending = []

    def attach(self, path):
        self.file = open(path, "a", encoding="utf-8")
        for message in self.pending:
            self.file.write(message + "\n")
        self.pending = []
        self.file.flush()

    def __call__(self, message=""):
        if self.echo:
            print(message, flush=True)
        if self.file:
            self.file.write(message + "\n")
            self.file.flush()
        else:
            self.pending.append(message)

    def close(self):
        if self.file:
            self.file.close()
            self.file = None


def _peak_gpu_memory_gb():
    try:
        if tf.config.list_logical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 30
    except (ValueError, tf.errors.OpError):
        pass
    return 0.0


# ----------------------------------------------------------------------------------------------
# The loop.


@dataclasses.dataclass
class LoopState:
    """Progress that a snapshot's state file carries across a resume."""
    cur_nimg: int = 0
    cur_tick: int = 0
    total_time: float = 0.0
    prev_lod: float = None
    step_counter: int = 0


def _open_dataset(config, log):
    from stylegan_tf import dataset as dataset_lib
    tfrecord_dir = config.dataset.tfrecord_dir
    path = tfrecord_dir if os.path.isabs(tfrecord_dir) else os.path.join(config.data_dir,
                                                                         tfrecord_dir)
    if tfrecord_dir == config_lib.DEMO_DATASET:
        from stylegan_tf import demo_data
        demo_data.ensure_digits_dataset(path, log=log)
    if not os.path.isdir(path):
        raise ValueError(f'Dataset directory "{path}" does not exist (set --data_dir/--dataset; '
                         "create one with dataset_tool.py).")
    return dataset_lib.TFRecordDataset(path, resolution=config.dataset.resolution,
                                       label_file=config.dataset.label_file,
                                       max_label_size=config.dataset.max_label_size)


def _load_resume(trainer, pkl, config, log):
    """Loads networks (and the training state, when there is one) to resume from."""
    log(f'Loading networks from "{pkl}"...')
    G, D, Gs = legacy.load_networks(pkl)
    copy_network_variables(G, trainer.G, "G")
    copy_network_variables(D, trainer.D, "D")
    copy_network_variables(Gs, trainer.Gs, "Gs")
    state = LoopState()
    state_file = snapshots.state_path(pkl)
    if os.path.isfile(state_file):
        arrays, meta = snapshots.load_state(state_file)
        trainer.G_opt.load_state_arrays(arrays)
        trainer.D_opt.load_state_arrays(arrays)
        state = LoopState(cur_nimg=int(meta["cur_nimg"]), cur_tick=int(meta["cur_tick"]),
                          total_time=float(meta["total_time"]), prev_lod=meta["prev_lod"],
                          step_counter=int(meta["step_counter"]))
        log(f"Resuming at {state.cur_nimg / 1000:.1f} kimg with the optimizer state of "
            f"{os.path.basename(state_file)}.")
    else:
        kimg = snapshots.kimg_from_name(pkl)
        state.cur_nimg = int((kimg or 0) * 1000)
        log(f"No training state beside the pickle: fresh optimizers, starting at "
            f"{state.cur_nimg / 1000:.1f} kimg.")
    if config.resume_kimg is not None:
        state.cur_nimg = int(config.resume_kimg * 1000)
    if config.resume_time is not None:
        state.total_time = float(config.resume_time)
    return state


def _save_snapshot(trainer, run_dir, name, loop_state, keep):
    pkl = os.path.join(run_dir, name)
    arrays = {**trainer.G_opt.state_arrays(), **trainer.D_opt.state_arrays()}
    meta = dict(version=STATE_VERSION, cur_nimg=loop_state.cur_nimg, cur_tick=loop_state.cur_tick,
                total_time=loop_state.total_time, prev_lod=loop_state.prev_lod,
                step_counter=trainer.step_counter)
    snapshots.save_state(snapshots.state_path(pkl), arrays, meta)  # first: see snapshots.py
    legacy.save_networks(pkl, trainer.G, trainer.D, trainer.Gs)
    snapshots.prune_snapshots(run_dir, keep)
    return pkl


def _write_text_atomic(path, text):
    with fileio.atomic_write(path, "w") as file:
        file.write(text)


def training_loop(config, strategy=None, echo=True):
    """Trains as the original `training_loop()` with a resolved TrainConfig.

    Args:
        config: config.TrainConfig (validated).
        strategy: tf.distribute strategy (None: `make_strategy(config.strategy)`).
        echo: also print the log to stdout.

    Returns:
        The run directory (None on non-chief workers).
    """
    import keras
    strategy = strategy or make_strategy(config.strategy)
    chief = is_chief(strategy)
    start_time = time.time()
    keras.utils.set_random_seed(config.random_seed)
    rng = np.random.RandomState(config.random_seed)

    log = Logger(echo=echo)
    run_dir = None
    try:
        log("Loading dataset...")
        training_set = _open_dataset(config, log)
        resume_pkl = (snapshots.locate_network_pkl(config.resume, config.result_dir)
                      if config.resume else None)
        log(f"Dataset: {training_set.tfrecord_dir}, {training_set.num_images} images, "
            f"shape {list(training_set.shape)}, labels {training_set.label_size}")
        if chief:  # only once the inputs are known to be usable
            run_dir = snapshots.create_run_dir(config.result_dir, config.desc)
            log.attach(os.path.join(run_dir, "log.txt"))
            _write_text_atomic(os.path.join(run_dir, "config.json"), config_lib.to_json(config))
            _write_text_atomic(os.path.join(run_dir, "config.txt"),
                               config_lib.original_config_text(config))
            log(f'Run directory: "{run_dir}"')
        num_replicas = strategy.num_replicas_in_sync
        log(f"Strategy: {strategy_name(strategy)} with {num_replicas} replica(s); "
            f"steps: {'XLA' if config.xla else 'tf.function'}")
        if num_replicas != config.num_gpus:
            log(f"Note: the config's minibatch tables are written for {config.num_gpus} GPU(s); "
                f"the schedule splits them over {num_replicas} replica(s).")

        log("Constructing networks...")
        trainer = Trainer(strategy, config.G_args, config.D_args, training_set.resolution,
                          training_set.num_channels, training_set.label_size, config.G_loss,
                          config.D_loss, config.G_opt, config.D_opt,
                          mirror_augment=config.mirror_augment, drange_net=config.drange_net,
                          G_smoothing_kimg=config.G_smoothing_kimg, labels=training_set.labels,
                          compile_mode="xla" if config.xla else "function",
                          seed=config.random_seed)
        loop_state = LoopState()
        if resume_pkl:
            loop_state = _load_resume(trainer, resume_pkl, config, log)
            trainer.step_counter = loop_state.step_counter
        _run(config, strategy, trainer, training_set, loop_state, run_dir, log, rng, start_time)
        if run_dir:
            open(os.path.join(run_dir, "_finished.txt"), "w").close()
        return run_dir
    finally:
        log.close()


def _run(config, strategy, trainer, training_set, loop_state, run_dir, log, rng, start_time):
    num_replicas = strategy.num_replicas_in_sync
    sched_kwargs = dataclasses.asdict(config.sched)
    resolution_log2 = training_set.resolution_log2

    def schedule_at(nimg):
        sched = schedule.training_schedule(nimg, resolution_log2, num_replicas, **sched_kwargs)
        if sched.minibatch < num_replicas:
            raise ValueError(f"the minibatch at {sched.resolution}x{sched.resolution} "
                             f"({sched.minibatch}) is smaller than the {num_replicas} replicas.")
        return sched

    # Snapshot grid: reals from one shuffled batch, fixed latents, Gs in validation mode.
    grid_w, grid_h = config_lib.grid_size(config.grid.size, training_set.resolution)
    grid_count = grid_w * grid_h
    grid_latents = rng.randn(grid_count, trainer.G.latent_size).astype(np.float32)
    if run_dir:
        grid_reals, grid_labels = next(iter(training_set.make_dataset(
            0, grid_count, shuffle=True, repeat=True, seed=config.random_seed)))
        grid_reals, grid_labels = grid_reals.numpy(), grid_labels.numpy()
    grid_batch = max(schedule_at(int(config.total_kimg * 1000)).minibatch // num_replicas, 1)
    summary_writer = summaries.SummaryWriter(run_dir) if run_dir else None

    def save_grid(filename):
        fakes = trainer.generate(grid_latents, grid_labels, grid_batch)
        image_grid.save_image_grid(fakes, os.path.join(run_dir, filename), config.drange_net,
                                   (grid_w, grid_h))
        summary_writer.image("fakes", image_grid.grid_uint8(fakes, (grid_w, grid_h),
                                                             config.drange_net),
                             loop_state.cur_nimg)

    if run_dir:
        log("Setting up snapshot image grid...")
        image_grid.save_image_grid(grid_reals, os.path.join(run_dir, "reals.png"), [0, 255],
                                   (grid_w, grid_h))
        save_grid("fakes-init.png")

    log("Training...\n")
    stats = TickStats(strategy)
    cur_tick = 0  # ticks count per run, as the original's (kimg continues on resume)
    tick_start_nimg = loop_state.cur_nimg
    time_offset = loop_state.total_time
    tick_start_time = time.time()
    maintenance_time = tick_start_time - start_time
    data_key, data_iter = None, None
    total_nimg = int(round(config.total_kimg * 1000))
    stop = False

    while loop_state.cur_nimg < total_nimg and not stop:
        sched = schedule_at(loop_state.cur_nimg)
        key = (int(np.floor(sched.lod)), sched.minibatch)
        if key != data_key:  # the original's dataset.configure(): new file or minibatch
            data_key = key
            data_iter = iter(training_set.distribute(
                strategy, sched.lod, sched.minibatch, shuffle=True, repeat=True,
                seed=config.random_seed + loop_state.cur_nimg))
        if config.reset_opt_for_new_lod and schedule.should_reset_optimizers(
                loop_state.prev_lod, sched.lod):
            trainer.reset_optimizers()
        loop_state.prev_lod = sched.lod

        for _ in range(config.minibatch_repeats):
            for _ in range(config.D_repeats):
                reals, labels = next(data_iter)
                stats.add_step(trainer.d_step(reals, labels, sched.lod, sched.D_lrate,
                                              sched.minibatch))
                stats.add_scalar("TrainD/learning_rate", sched.D_lrate)
                loop_state.cur_nimg += sched.minibatch
            stats.add_step(trainer.g_step(sched.lod, sched.G_lrate, sched.minibatch))
            stats.add_scalar("TrainG/learning_rate", sched.G_lrate)

        done = loop_state.cur_nimg >= total_nimg
        if not (loop_state.cur_nimg >= tick_start_nimg + sched.tick_kimg * 1000 or done):
            continue

        # Maintenance once per tick.
        cur_tick += 1
        loop_state.cur_tick = cur_tick
        tick_kimg = (loop_state.cur_nimg - tick_start_nimg) / 1000.0
        tick_start_nimg = loop_state.cur_nimg
        means = stats.means()  # waits for the tick's steps to finish
        now = time.time()
        tick_time = now - tick_start_time
        total_time = now - start_time + time_offset
        loop_state.total_time = total_time
        progress = {
            "Progress/tick": cur_tick, "Progress/kimg": loop_state.cur_nimg / 1000.0,
            "Progress/lod": sched.lod, "Progress/minibatch": sched.minibatch,
            "Timing/total_sec": total_time, "Timing/sec_per_tick": tick_time,
            "Timing/sec_per_kimg": tick_time / tick_kimg,
            "Timing/maintenance_sec": maintenance_time,
            "Resources/peak_gpu_mem_gb": _peak_gpu_memory_gb(),
            "Timing/total_hours": total_time / 3600.0, "Timing/total_days": total_time / 86400.0}
        log("tick %-5d kimg %-8.1f lod %-5.2f minibatch %-4d time %-12s sec/tick %-7.1f "
            "sec/kimg %-7.2f maintenance %-6.1f gpumem %-4.1f" % (
                cur_tick, loop_state.cur_nimg / 1000.0, sched.lod, sched.minibatch,
                format_time(total_time), tick_time, tick_time / tick_kimg, maintenance_time,
                progress["Resources/peak_gpu_mem_gb"]))

        abort = bool(run_dir) and os.path.exists(os.path.join(run_dir, "abort.txt"))
        stop = trainer.agree(abort)
        done = done or stop
        if run_dir:
            if cur_tick % config.image_snapshot_ticks == 0 or done:
                save_grid(f"fakes{loop_state.cur_nimg // 1000:06d}.png")
            if cur_tick % config.network_snapshot_ticks == 0 or done or cur_tick == 1:
                _save_snapshot(trainer, run_dir,
                               snapshots.snapshot_name(loop_state.cur_nimg // 1000), loop_state,
                               config.snapshot_keep)
            values = {**progress, **means}
            for name, value in values.items():
                summary_writer.scalar(name, value, loop_state.cur_nimg)
            summary_writer.flush()
            with open(os.path.join(run_dir, "stats.jsonl"), "a", encoding="utf-8") as file:
                file.write(json.dumps({name: float(value) for name, value in values.items()})
                           + "\n")
        tick_start_time = time.time()
        maintenance_time = tick_start_time - now

    if run_dir:
        _save_snapshot(trainer, run_dir, "network-final.pkl", loop_state, 0)
        summary_writer.close()
        log("Done." if not stop else "Stopped (abort.txt).")
