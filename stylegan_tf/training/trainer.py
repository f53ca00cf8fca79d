"""The training steps of the StyleGAN and StyleGAN2 releases (`training/training_loop.py`) on
tf.distribute.

One `Trainer` holds G, D, Gs and both optimizers (of either family's networks), built under a
tf.distribute strategy, and runs the releases' training steps:

* D step: D loss on a real minibatch (processed as the original: drange, mirror, lod fade, upscale)
  and fakes from G, Adam update of D, then the Gs moving average of G;
* G step: G loss on fresh latents and random labels, Adam update of G;
* StyleGAN2's lazy regularization steps: `g_reg_step` (path length on its own latents, updating
  each replica's running mean) and `d_reg_step` (R1 on the preceding D step's reals), each scaled
  by its interval and applied as one more step of the same Adam state, whose learning rate and
  betas are adjusted by interval / (interval + 1). Without lazy regularization the regularizers
  are part of the G and D steps.

A step may accumulate the gradients of several passes over slices of its minibatch (StyleGAN2's
`minibatch_gpu`); the random inputs of every pass are slices of one draw for the whole minibatch,
so the update equals that of one pass up to rounding.

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
from stylegan_tf import precision as precision_lib
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
    """A network called with a fixed `lod_range` (what the loss functions see as G or D; G's
    `compute_dlatents` and `synthesis` for the path-length regularizer)."""

    def __init__(self, net, lod_range):
        self.net = net
        self.lod_range = lod_range

    def __call__(self, *args, **kwargs):
        return self.net(*args, lod_range=self.lod_range, **kwargs)

    def compute_dlatents(self, *args, **kwargs):
        return self.net.compute_dlatents(*args, **kwargs)

    def synthesis(self, dlatents, **kwargs):
        return self.net.synthesis(dlatents, lod_range=self.lod_range, **kwargs)


def _merge_round_stats(round_stats):
    """One step's statistics from those of its passes: sums and counts add, means average."""
    if len(round_stats) == 1:
        return dict(round_stats[0])
    merged = {}
    for key in round_stats[0]:
        values = [stats[key] for stats in round_stats]
        total = tf.add_n(values)
        merged[key] = total if key.endswith(("/sum", "/count")) else total / len(values)
    return merged


def _skip_stats(overflow_name, skipped):
    """An apply function's skip flags as step statistics: its optimizer's under `overflow_name`,
    and Gs's (`TrainGs/overflow_frequency`) when it updated Gs too."""
    if isinstance(skipped, tuple):
        return {overflow_name: skipped[0], "TrainGs/overflow_frequency": skipped[1]}
    return {overflow_name: skipped}


def lazy_regularization_ratio(interval, lazy):
    """StyleGAN2's `mb_ratio = interval / (interval + 1)` of a lazily regularized optimizer
    (its learning rate is multiplied by it and its betas raised to it); 1 otherwise."""
    return interval / (interval + 1) if lazy else 1.0


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
        G_func, D_func: the networks' build functions (networks.GENERATORS, DISCRIMINATORS).
        lazy_regularization, G_reg_interval, D_reg_interval: StyleGAN2's lazy regularization
            (the regularizers of `losses.PATH_LENGTH_LOSSES` / `R1_LOSSES` then run in
            `g_reg_step` / `d_reg_step`; otherwise they are part of `g_step` / `d_step`).
        state_version: pickle state version the networks are saved with (None: the class's).
        precision, num_fp16_res, conv_clamp: mixed precision of G, D and Gs (`stylegan_tf.precision`;
            'fp32', the default, is exact).
    """

    def __init__(self, strategy, G_args, D_args, resolution, num_channels, label_size,
                 G_loss, D_loss, G_opt, D_opt, mirror_augment=False, drange_net=(-1, 1),
                 G_smoothing_kimg=10.0, labels=None, compile_mode="xla", seed=1000,
                 G_func="G_style", D_func="D_basic", lazy_regularization=False,
                 G_reg_interval=4, D_reg_interval=16, state_version=None, precision="fp32",
                 num_fp16_res=precision_lib.DEFAULT_NUM_FP16_RES, conv_clamp=precision_lib.DEFAULT_CONV_CLAMP):
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
        # StyleGAN2's regularized losses: every keyword argument belongs to the regularizer.
        self.G_path_length = G_loss.func_name in losses.PATH_LENGTH_LOSSES
        self.D_r1 = D_loss.func_name in losses.R1_LOSSES
        # Every argument with its default filled (an unknown keyword is an error now, not when traced).
        G_kwargs = losses.effective_loss_kwargs(G_loss.func_name, G_loss.kwargs)
        D_kwargs = losses.effective_loss_kwargs(D_loss.func_name, D_loss.kwargs)
        self.G_loss_kwargs = {} if self.G_path_length else G_kwargs
        self.D_loss_kwargs = {} if self.D_r1 else D_kwargs
        self.G_reg_kwargs = G_kwargs if self.G_path_length else {}
        self.pl_minibatch_shrink = int(self.G_reg_kwargs.pop("pl_minibatch_shrink", losses.PL_MINIBATCH_SHRINK))
        self.D_reg_kwargs = D_kwargs if self.D_r1 else {}
        self.D_loss_seeded = D_loss.func_name in losses.SEEDED_LOSSES
        self.lazy_regularization = bool(lazy_regularization)
        self.G_reg_interval = int(G_reg_interval)
        self.D_reg_interval = int(D_reg_interval)
        self.G_ratio = lazy_regularization_ratio(self.G_reg_interval, self.lazy_regularization)
        self.D_ratio = lazy_regularization_ratio(self.D_reg_interval, self.lazy_regularization)
        self._last_d_seed = None
        self.step_counter = 0
        self.trace_counts = {}
        self._replica_fns = {}
        self._outer_fns = {}

        with strategy.scope(), tf.variable_creator_scope(distribute.replica_local_variable):
            common = dict(resolution=self.resolution, num_channels=int(num_channels),
                          label_size=self.label_size)
            self.G = networks.GENERATORS[G_func](name="G", **common, **G_args)
            self.D = networks.DISCRIMINATORS[D_func](name="D", **common, **D_args)
            if state_version is not None:
                self.G.state_version = self.D.state_version = int(state_version)
            self.Gs = self.G.clone("Gs")
            for net in (self.G, self.D, self.Gs):
                precision_lib.set_precision(net, precision, num_fp16_res, conv_clamp)
            self.G_opt = self._make_optimizer(self.G, G_opt, "TrainG", self.G_ratio)
            self.D_opt = self._make_optimizer(self.D, D_opt, "TrainD", self.D_ratio)
            # The running mean of path lengths: one per replica, as the original's per GPU.
            self.pl_mean = (tf.Variable(0.0, trainable=False, name="pl_mean")
                            if self.G_path_length else None)
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

    def _make_optimizer(self, net, opt_config, name, ratio):
        trainable_ids = {id(var) for var in net.trainable_variables}
        named = [(name_, var) for name_, var in legacy.original_variables(net).items()
                 if id(var) in trainable_ids]
        # Only G's lod (not trainable) has two original names, so each trainable is named once.
        if len(named) != len(trainable_ids):
            raise RuntimeError(f"{name}: could not name every trainable variable.")
        # A lazily regularized optimizer raises its betas to the ratio (StyleGAN2's mb_ratio).
        return optimizer.Adam([var for _, var in named], [name_ for name_, _ in named],
                              opt_config.beta1 ** ratio, opt_config.beta2 ** ratio,
                              opt_config.epsilon, name)

    @staticmethod
    def scaled_lrate(lrate, ratio):
        """The learning rate a lazily regularized optimizer uses (in float32, as the original's
        graph multiplies its fed rate)."""
        return lrate if ratio == 1.0 else float(np.float32(lrate) * np.float32(ratio))

    def pl_mean_values(self):
        """The per-replica path-length means (empty without path-length regularization)."""
        if self.pl_mean is None:
            return np.zeros([0], np.float32)
        return np.array([float(value.numpy()) for value in
                         self.strategy.experimental_local_results(self.pl_mean)], np.float32)

    def set_pl_mean_values(self, values):
        """Restores `pl_mean_values()`; a run on another number of replicas gives each replica
        the mean of the saved values."""
        if self.pl_mean is None:
            return
        values = np.asarray(values, np.float32).reshape([-1])
        local = self.strategy.experimental_local_results(self.pl_mean)
        if len(values) != len(local):
            values = np.full([len(local)], values.mean() if len(values) else 0.0, np.float32)
        for component, value in zip(local, values):
            component.assign(value)

    # ---- helpers used inside the replica functions ---------------------------------------------

    def gs_beta(self, minibatch):
        """The original's Gs decay: 0.5 ** (global minibatch / (1000 * G_smoothing_kimg))."""
        if self.G_smoothing_kimg <= 0.0:
            return 0.0
        return float(np.float32(0.5) ** (np.float32(minibatch)
                                         / np.float32(self.G_smoothing_kimg * 1000.0)))

    def _set_lod(self, lod):
        self.G.lod.assign(lod)  # also G_synthesis/lod: one variable
        if getattr(self.D, "lod", None) is not None:  # D_stylegan2 has none
            self.D.lod.assign(lod)

    def _replica_slice(self, values, slot, batch):
        """The rows of one pass on one replica (`slot` = replica * passes + pass) of a tensor drawn
        for the global minibatch, so that the numbers do not depend on the number of replicas or
        passes (a gather keeps the shape static, which XLA needs)."""
        grouped = tf.reshape(values, [-1, batch] + values.shape.as_list()[1:])
        return tf.gather(grouped, slot)

    def _labels_or_none(self, labels):
        return labels if self.label_size else None

    def _update_gs(self, beta):
        """Gs <- lerp(G, Gs, beta), skipped as a whole if any new value would be non-finite;
        returns 1.0 if skipped, else 0.0."""
        beta = tf.cast(beta, tf.float32)
        updates = []
        for gs_var, g_var, trainable in self.Gs_pairs:
            g_value = tf.convert_to_tensor(g_var)
            old = tf.convert_to_tensor(gs_var)
            updates.append((gs_var, old, ops.lerp(g_value, old, beta) if trainable else g_value))
        finite = optimizer.all_finite([new for _, _, new in updates])
        for gs_var, old, new in updates:
            gs_var.assign(tf.where(finite, new, old))
        return 1.0 - tf.cast(finite, tf.float32)

    def _d_grads(self, lod_range, terms, rounds, reals, labels, lod, seed, slot):
        """D's gradients on one pass of `rounds` on one replica (`slot`, see `_replica_slice`).
        `terms`: 'loss' (the main loss, plus the R1 regularizer unless it runs lazily) or 'reg'
        (the lazy R1 step, scaled by its interval)."""
        batch = reals.shape[0]
        global_batch = batch * self.num_replicas * rounds
        seeds = tf.random.experimental.stateless_split(seed, num=3, alg="philox")
        self._set_lod(lod)
        mirror_random = self._replica_slice(
            losses.stateless_uniform([global_batch], seeds[0]), slot, batch) \
            if self.mirror_augment else None
        reals = process_reals(reals, lod, self.mirror_augment, [0, 255], self.drange_net,
                              self.resolution, mirror_random)
        labels = self._labels_or_none(labels)
        D = _AtLodRange(self.D, lod_range)
        if terms == "reg":
            def reg_loss():
                reg, series = losses.r1_regularizer(D, reals, labels, **self.D_reg_kwargs)
                return reg * float(self.D_reg_interval), series
            return _mean_loss_gradients(self.D_opt.variables, "Loss/D_reg", reg_loss)
        latents = self._replica_slice(
            losses.stateless_normal([global_batch, self.G.latent_size], seeds[1]), slot, batch)
        kwargs = dict(self.D_loss_kwargs)
        if self.D_loss_seeded:
            kwargs["seed"] = tf.random.experimental.stateless_fold_in(seeds[2], slot,
                                                                       alg="philox")

        def loss_fn():
            loss, series = self.D_loss_fn(_AtLodRange(self.G, lod_range), D, latents, reals,
                                          labels, **kwargs)
            if self.D_r1 and not self.lazy_regularization:
                reg, reg_series = losses.r1_regularizer(D, reals, labels, **self.D_reg_kwargs)
                loss = tf.reduce_mean(loss) + tf.reduce_mean(reg)  # the original's [N, N] mean
                series.update(reg_series)
            return loss, series
        return _mean_loss_gradients(self.D_opt.variables, "Loss/D_loss", loss_fn)

    def _random_labels(self, global_batch, seed, slot, batch):
        if not self.label_size:
            return None
        rows = tf.random.stateless_uniform([global_batch], seed, 0, self.label_table.shape[0],
                                           dtype=tf.int32, alg="philox")
        return tf.gather(self.label_table, self._replica_slice(rows, slot, batch))

    def _path_length_reg(self, G, rounds, batch, seed, slot):
        """The path-length regularizer on a batch of its own (the pass's batch // shrink) and
        the update of this replica's running mean."""
        pl_batch = max(batch // self.pl_minibatch_shrink, 1)
        global_batch = pl_batch * self.num_replicas * rounds
        seeds = tf.random.experimental.stateless_split(seed, num=3, alg="philox")
        pl_latents = self._replica_slice(
            losses.stateless_normal([global_batch, self.G.latent_size], seeds[0]), slot,
            pl_batch)
        labels = self._random_labels(global_batch, seeds[1], slot, pl_batch)
        image_shape = [self.resolution, self.resolution, self.G.num_channels]
        pl_noise = self._replica_slice(
            losses.stateless_normal([global_batch] + image_shape, seeds[2]), slot, pl_batch)
        reg, new_pl_mean, series = losses.path_length_regularizer(
            G, pl_latents, labels, pl_noise, self.pl_mean, **self.G_reg_kwargs)
        self.pl_mean.assign(new_pl_mean)
        return reg, series

    def _g_grads(self, lod_range, terms, rounds, batch, lod, seed, slot):
        """G's gradients on one pass of `batch` latents; `terms` as for `_d_grads` (the lazy
        'reg' step is the path-length regularizer, scaled by its interval)."""
        global_batch = batch * self.num_replicas * rounds
        seeds = tf.random.experimental.stateless_split(seed, num=2, alg="philox")
        self._set_lod(lod)
        G, D = _AtLodRange(self.G, lod_range), _AtLodRange(self.D, lod_range)
        if terms == "reg":
            def reg_loss():
                reg, series = self._path_length_reg(G, rounds, batch, seed, slot)
                return reg * float(self.G_reg_interval), series
            return _mean_loss_gradients(self.G_opt.variables, "Loss/G_reg", reg_loss)
        latents = self._replica_slice(
            losses.stateless_normal([global_batch, self.G.latent_size], seeds[0]), slot, batch)
        labels = self._random_labels(global_batch, seeds[1], slot, batch)

        def loss_fn():
            loss, series = self.G_loss_fn(G, D, latents, labels, **self.G_loss_kwargs)
            if self.G_path_length and not self.lazy_regularization:
                reg_seed = tf.random.experimental.stateless_fold_in(seed, 1, alg="philox")
                reg, reg_series = self._path_length_reg(G, rounds, batch, reg_seed, slot)
                loss = tf.reduce_mean(loss) + tf.reduce_mean(reg)
                series.update(reg_series)
            return loss, series
        return _mean_loss_gradients(self.G_opt.variables, "Loss/G_loss", loss_fn)

    def _d_apply(self, grads, lrate, gs_beta):
        overflow = self.D_opt.apply(grads, lrate)
        return overflow, self._update_gs(gs_beta)

    def _d_reg_apply(self, grads, lrate):
        return self.D_opt.apply(grads, lrate)  # one more step on the same Adam state

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
            name = f"{key[0]}_{key[-1]}"  # e.g. D_step, G_reg_grads, D_apply

            def traced(*args):
                counts[name] = counts.get(name, 0) + 1
                tf.random.set_seed(replica_seed)  # graph-level seed of this trace only
                return python_fn(*args)

            self._replica_fns[(key, device)] = tf.function(
                traced, jit_compile=self.compile_mode == "xla", autograph=False)
        return self._replica_fns[(key, device)]

    def _train_replica(self, key, overflow_name, grads_fn, round_args, apply_fn, apply_args):
        """One update on this replica: `grads_fn(*args)` for each pass's `round_args`, the mean of
        the passes' gradients all-reduced across replicas, then `apply_fn(grads, *apply_args)`.
        With one pass on one replica both run as one compiled function."""
        if self.num_replicas == 1 and len(round_args) == 1:
            def fused(*args):
                grads, stats = grads_fn(*args[:len(round_args[0])])
                stats.update(_skip_stats(overflow_name, apply_fn(grads, *args[len(round_args[0]):])))
                return stats
            return self._replica_function(key + ("step",), fused)(*round_args[0], *apply_args)
        total, round_stats = None, []
        for args in round_args:  # tf.function runs the stateful calls in this order
            grads, stats = self._replica_function(key + ("grads",), grads_fn)(*args)
            total = list(grads) if total is None else [a + b for a, b in zip(total, grads)]
            round_stats.append(stats)
        if len(round_args) > 1:
            total = [grad * (1.0 / len(round_args)) for grad in total]
        if self.num_replicas > 1:
            total = self._all_reduce_mean(total)
        stats = _merge_round_stats(round_stats)
        stats.update(_skip_stats(overflow_name, self._replica_function(key[:1] + ("apply",), apply_fn)(
            total, *apply_args)))
        return stats

    def _d_replica(self, lod_range, rounds, reals, labels, lod, lrate, gs_beta, seed):
        first_slot = distribute.replica_id() * rounds
        batch = reals.shape[0] // rounds
        round_args = [(reals[r * batch:(r + 1) * batch], labels[r * batch:(r + 1) * batch], lod,
                       seed, first_slot + r) for r in range(rounds)]
        return self._train_replica(
            ("D", lod_range, rounds), "TrainD/overflow_frequency",
            lambda *args: self._d_grads(lod_range, "loss", rounds, *args), round_args,
            self._d_apply, (lrate, gs_beta))

    def _d_reg_replica(self, lod_range, rounds, reals, labels, lod, lrate, seed):
        # R1 on the last pass's reals, with their mirroring: D is unchanged across the original's
        # accumulated R1 passes on that batch, so one pass gives the same gradients.
        batch = reals.shape[0] // rounds
        args = (reals[-batch:], labels[-batch:], lod, seed,
                distribute.replica_id() * rounds + rounds - 1)
        return self._train_replica(
            ("D_reg", lod_range, rounds), "RegD/overflow_frequency",
            lambda *args: self._d_grads(lod_range, "reg", rounds, *args), [args],
            self._d_reg_apply, (lrate,))

    def _g_replica(self, lod_range, terms, rounds, batch, lod, lrate, seed):
        first_slot = distribute.replica_id() * rounds
        round_args = [(lod, seed, first_slot + r) for r in range(rounds)]
        name = "G" if terms == "loss" else "G_reg"
        return self._train_replica(
            (name, lod_range, batch, rounds), "TrainG/overflow_frequency" if terms == "loss"
            else "RegG/overflow_frequency",
            lambda *args: self._g_grads(lod_range, terms, rounds, batch, *args), round_args,
            self._g_apply, (lrate,))

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

    def d_step(self, reals, labels, lod, lrate, minibatch, rounds=1):
        """One D step and Gs update on a (distributed) real minibatch.

        Args:
            reals: per-replica uint8 [n, h, w, C] (a distributed value, or a tensor on one replica).
            labels: per-replica float32 [n, label_size].
            lod: schedule lod; lrate: the schedule's D learning rate (scaled here for lazy
                regularization); minibatch: global minibatch (for Gs beta).
            rounds: passes of n / rounds samples whose gradients are accumulated (StyleGAN2's
                minibatch_gpu).

        Returns:
            Per-replica dict of scalar statistics.
        """
        strategy = self.strategy
        lod_range = lod_range_of(lod)
        seed = self._step_seed()
        self._last_d_seed = seed
        args = (reals, labels, tf.constant(lod, tf.float32),
                tf.constant(self.scaled_lrate(lrate, self.D_ratio), tf.float32),
                tf.constant(self.gs_beta(minibatch), tf.float32), seed)

        def run(*args):
            return strategy.run(lambda *a: self._d_replica(lod_range, rounds, *a), args=args)
        return self._outer(("D", lod_range, rounds), run)(*args)

    def d_reg_step(self, reals, labels, lod, lrate, rounds=1):
        """StyleGAN2's lazy R1 step (after `d_step` on the same reals): the regularizer times
        D_reg_interval on the last pass's processed reals, one more Adam step of D."""
        if not self.D_r1:
            return {}
        if self._last_d_seed is None:
            raise RuntimeError("d_reg_step regularizes the reals of the preceding d_step.")
        strategy = self.strategy
        lod_range = lod_range_of(lod)
        args = (reals, labels, tf.constant(lod, tf.float32),
                tf.constant(self.scaled_lrate(lrate, self.D_ratio), tf.float32),
                self._last_d_seed)

        def run(*args):
            return strategy.run(lambda *a: self._d_reg_replica(lod_range, rounds, *a), args=args)
        return self._outer(("D_reg", lod_range, rounds), run)(*args)

    def _g_batch(self, minibatch, rounds):
        if minibatch % (self.num_replicas * rounds):
            raise ValueError(f"minibatch {minibatch} is not a multiple of the {self.num_replicas} "
                             f"replicas times {rounds} passes.")
        return minibatch // (self.num_replicas * rounds)

    def _run_g(self, terms, lod, lrate, minibatch, rounds):
        batch = self._g_batch(minibatch, rounds)
        strategy = self.strategy
        lod_range = lod_range_of(lod)
        args = (tf.constant(lod, tf.float32),
                tf.constant(self.scaled_lrate(lrate, self.G_ratio), tf.float32), self._step_seed())

        def run(*args):
            return strategy.run(
                lambda *a: self._g_replica(lod_range, terms, rounds, batch, *a), args=args)
        return self._outer(("G", terms, lod_range, batch, rounds), run)(*args)

    def g_step(self, lod, lrate, minibatch, rounds=1):
        """One G step with a global minibatch of `minibatch` latents (in `rounds` passes)."""
        return self._run_g("loss", lod, lrate, minibatch, rounds)

    def g_reg_step(self, lod, lrate, minibatch, rounds=1):
        """StyleGAN2's lazy path-length step: the regularizer times G_reg_interval on
        minibatch // pl_minibatch_shrink fresh latents per pass, one more Adam step of G."""
        if not self.G_path_length:
            return {}
        return self._run_g("reg", lod, lrate, minibatch, rounds)

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
