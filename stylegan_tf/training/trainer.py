"""The training steps of the original StyleGAN (`training/training_loop.py`) on tf.distribute.

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
"""
import math
import zlib

import numpy as np
import tensorflow as tf

from stylegan_tf import legacy, networks, ops
from stylegan_tf.training import distribute, losses, optimizer
from stylegan_tf.training.reals import process_reals


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

        with strategy.scope(), tf.variable_creator_scope(distribute.replica_local_variable):
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

    def copy_networks(self, G, D, Gs):
        """Assigns the variables of loaded networks (a snapshot or an original pickle) to ours."""
        for source, target, what in ((G, self.G, "G"), (D, self.D, "D"), (Gs, self.Gs, "Gs")):
            copy_network_variables(source, target, what)

    def _make_optimizer(self, net, opt_config, name):
        trainable_ids = {id(var) for var in net.trainable_variables}
        named = [(name_, var) for name_, var in legacy.original_variables(net).items()
                 if id(var) in trainable_ids]
        # Only G's lod (not trainable) has two original names, so each trainable is named once.
        if len(named) != len(trainable_ids):
            raise RuntimeError(f"{name}: could not name every trainable variable.")
        return optimizer.Adam([var for _, var in named], [name_ for name_, _ in named],
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
        replica = distribute.replica_id()
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
        replica = distribute.replica_id()
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
