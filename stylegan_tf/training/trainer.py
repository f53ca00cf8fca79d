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

Which steps run on which minibatch is the loop's list of phases (`phases.py`); how a step is
compiled and distributed (tf.function, XLA, strategy.run, accumulation over passes, the all-reduce)
is the step compiler's (`steps.py`): this module holds the GAN maths. The networks get the
`lod_range` of the current lod phase, so each compiled step holds only the levels that phase
blends, without conditionals: a step is traced once per phase (the stable and the fading half of
each resolution), not per step. The random inputs (latents, mirror flips, G's labels, penalty
mixing factors) are drawn for the global minibatch from a per-step stateless seed and each replica
takes its slice, so a run on N replicas sees the same numbers as on one.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from stylegan_tf import legacy, networks, ops
from stylegan_tf.networks.base import copy_network_variables
from stylegan_tf.networks.runtime import Runtime
from stylegan_tf.training import distribute, losses, optimizer
from stylegan_tf.training.adaptive import AdaptiveAugment, AugmentedD
from stylegan_tf.training.optimizer import lazy_regularization_ratio
from stylegan_tf.training.reals import process_reals
from stylegan_tf.training.schedule import AtLodRange, lod_range_of
from stylegan_tf.training.steps import StepCompiler


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the Trainer needs of the training set: its image shape, label size and label table
    [rows, label_size] (random rows go to the G step)."""
    resolution: int
    num_channels: int
    label_size: int
    labels: np.ndarray

    @classmethod
    def of(cls, training_set):
        return cls(training_set.resolution, training_set.num_channels, training_set.label_size,
                   training_set.labels)


class Trainer:
    """G, D, Gs, the optimizers and the training steps of a `config.TrainConfig` on one strategy.

    Args:
        strategy: tf.distribute strategy.
        config: the TrainConfig (networks `G_func`/`G_args`, `D_func`/`D_args`; losses `G_loss`,
            `D_loss`; optimizers `G_opt`, `D_opt`; `mirror_augment`, `drange_net`,
            `G_smoothing_kimg`, `random_seed`; StyleGAN2's `lazy_regularization` with
            `G_reg_interval`/`D_reg_interval` (the regularizers of `losses.PATH_LENGTH_LOSSES` /
            `R1_LOSSES` then run in `g_reg_step` / `d_reg_step`, otherwise in `g_step` / `d_step`);
            mixed precision `precision`, `num_fp16_res`, `conv_clamp`; `loop` 'stylegan2' writes
            its snapshots with state version 4, as the StyleGAN2 release does even for config A;
            StyleGAN2-ADA's `augment` (D behind the pipeline, `adaptive.py`), `D_freeze_layers`
            and `G_smoothing_rampup`).
        dataset: DatasetInfo.
        compile_mode: 'xla', 'function' (tf.function without XLA) or 'eager' (`steps.py`).
    """

    def __init__(self, strategy, config, dataset, compile_mode="xla"):
        self.strategy = strategy
        self.config = config
        self.num_replicas = strategy.num_replicas_in_sync
        self.resolution = int(dataset.resolution)
        self.label_size = int(dataset.label_size)
        self.mirror_augment = bool(config.mirror_augment)
        self.drange_net = [float(value) for value in config.drange_net]
        self.G_smoothing_kimg = float(config.G_smoothing_kimg)
        self.G_smoothing_rampup = config.G_smoothing_rampup
        self.seed = int(config.random_seed)
        self.steps = StepCompiler(strategy, compile_mode, self.seed)
        G_loss, D_loss = config.G_loss, config.D_loss
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
        self.lazy_regularization = bool(config.lazy_regularization)
        self.G_reg_interval = int(config.G_reg_interval)
        self.D_reg_interval = int(config.D_reg_interval)
        self.G_ratio = lazy_regularization_ratio(self.G_reg_interval, self.lazy_regularization)
        self.D_ratio = lazy_regularization_ratio(self.D_reg_interval, self.lazy_regularization)
        self._last_d_seed = None
        self.step_counter = 0

        with strategy.scope(), tf.variable_creator_scope(distribute.replica_local_variable):
            common = dict(resolution=self.resolution, num_channels=int(dataset.num_channels),
                          label_size=self.label_size)
            # G and D are differentiated: the reference ops (or XLA's forms); Gs only generates.
            runtime = Runtime(impl="xla" if compile_mode == "xla" else "ref", precision=config.precision,
                              num_fp16_res=config.num_fp16_res, conv_clamp=config.conv_clamp)
            self.G = networks.GENERATORS[config.G_func](name="G", runtime=runtime, **common, **config.G_args)
            D_class = networks.DISCRIMINATORS[config.D_func]
            # A D with a freeze_layers kwarg (StyleGAN2-ADA's D_main) records Freeze-D, as the release's --freezed.
            freeze = {"freeze_layers": int(config.D_freeze_layers)} if "freeze_layers" in D_class.DEFAULTS else {}
            self.D = D_class(name="D", runtime=runtime, **common, **config.D_args, **freeze)
            if config.loop == "stylegan2":  # written as the StyleGAN2 release (or StyleGAN2-ADA's) does
                self.G.state_version = self.D.state_version = max(4, self.G.STATE_VERSION)
            self.Gs = self.G.clone("Gs", impl="xla" if compile_mode == "xla" else "fast")
            self.G_opt = self._make_optimizer(self.G, config.G_opt, "TrainG", self.G_ratio)
            self.D_frozen = networks.frozen_layer_scopes(self.D, int(config.D_freeze_layers))
            self.D_opt = self._make_optimizer(self.D, config.D_opt, "TrainD", self.D_ratio, self.D_frozen)
            # The running mean of path lengths: one per replica, as the original's per GPU.
            self.pl_mean = (tf.Variable(0.0, trainable=False, name="pl_mean")
                            if self.G_path_length else None)
            if self.label_size:
                self.label_table = tf.constant(np.asarray(dataset.labels, np.float32))
            # StyleGAN2-ADA's augmentation of everything D sees (None: --aug=noaug).
            self.augment = (AdaptiveAugment(config.augment, static_padding=compile_mode == "xla",
                                            resolution=self.resolution)
                            if config.augment.mode != "noaug" else None)

        # Gs <- G by original name: trainables move towards G, non-trainables are copied.
        G_vars, Gs_vars = legacy.original_variables(self.G), legacy.original_variables(self.Gs)
        self.Gs_pairs = [(Gs_vars[name], G_vars[name], bool(Gs_vars[name].trainable))
                         for name in Gs_vars if name in G_vars]

    trace_counts = property(lambda self: self.steps.trace_counts)

    def copy_networks(self, G, D, Gs):
        """Assigns the variables of loaded networks (a snapshot or an original pickle) to ours."""
        for source, target, what in ((G, self.G, "G"), (D, self.D, "D"), (Gs, self.Gs, "Gs")):
            copy_network_variables(source, target, what)

    def _make_optimizer(self, net, opt_config, name, ratio, frozen=()):
        """Adam over the trainable variables of `net`, except those of the `frozen` layer scopes."""
        trainable_ids = {id(var) for var in net.trainable_variables}
        named = [(name_, var) for name_, var in legacy.original_variables(net).items()
                 if id(var) in trainable_ids]
        # Only G's lod (not trainable) has two original names, so each trainable is named once.
        if len(named) != len(trainable_ids):
            raise RuntimeError(f"{name}: could not name every trainable variable.")
        named = [(name_, var) for name_, var in named if not name_.startswith(tuple(f"{s}/" for s in frozen))]
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

    def gs_beta(self, minibatch, nimg=None):
        """The original's Gs decay: 0.5 ** (global minibatch / (1000 * G_smoothing_kimg)); with
        StyleGAN2-ADA's ramp, the half-life is at most G_smoothing_rampup * `nimg` images."""
        half_life = self.G_smoothing_kimg * 1000.0
        if self.G_smoothing_rampup is not None and nimg is not None:
            half_life = min(half_life, nimg * self.G_smoothing_rampup)
            return float(0.5 ** (minibatch / max(half_life, 1e-8)))
        if self.G_smoothing_kimg <= 0.0:
            return 0.0
        return float(np.float32(0.5) ** (np.float32(minibatch) / np.float32(half_life)))

    def _set_lod(self, lod):
        for net in (self.G, self.D):  # G.lod is also G_synthesis/lod; D_stylegan2 and StyleGAN2-ADA's have none
            if getattr(net, "lod", None) is not None:
                net.lod.assign(lod)

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
        # The lazy R1 step re-scores the D step's reals (same seed) through augmentations of its own.
        D = self._seen_by_d(AtLodRange(self.D, lod_range), seed, global_batch, slot, terms)
        if terms == "reg":
            def reg_loss():
                reg, series = losses.r1_regularizer(D, reals, labels, **self.D_reg_kwargs)
                return reg * float(self.D_reg_interval), series
            return losses.mean_loss_gradients(self.D_opt.variables, "Loss/D_reg", reg_loss)
        latents = self._replica_slice(
            losses.stateless_normal([global_batch, self.G.latent_size], seeds[1]), slot, batch)
        kwargs = dict(self.D_loss_kwargs)
        if self.D_loss_seeded:
            kwargs["seed"] = tf.random.experimental.stateless_fold_in(seeds[2], slot,
                                                                       alg="philox")

        def loss_fn():
            loss, series = self.D_loss_fn(AtLodRange(self.G, lod_range), D, latents, reals,
                                          labels, **kwargs)
            if self.augment is not None:  # r_t counts the main D step only, as the TF release
                self.augment.count_real_signs(series["Loss/scores/real"])
            if self.D_r1 and not self.lazy_regularization:
                reg, reg_series = losses.r1_regularizer(D, reals, labels, **self.D_reg_kwargs)
                loss = tf.reduce_mean(loss) + tf.reduce_mean(reg)  # the original's [N, N] mean
                series.update(reg_series)
            return loss, series
        return losses.mean_loss_gradients(self.D_opt.variables, "Loss/D_loss", loss_fn)

    def _seen_by_d(self, D, seed, global_batch, slot, terms):
        """D, or D behind the augmentation pipeline (`adaptive.AugmentedD`)."""
        if self.augment is None:
            return D
        return AugmentedD(D, self.augment, seed, global_batch, slot, salt=int(terms == "reg"))

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
        G = AtLodRange(self.G, lod_range)
        D = self._seen_by_d(AtLodRange(self.D, lod_range), seed, global_batch, slot, terms)
        if terms == "reg":
            def reg_loss():
                reg, series = self._path_length_reg(G, rounds, batch, seed, slot)
                return reg * float(self.G_reg_interval), series
            return losses.mean_loss_gradients(self.G_opt.variables, "Loss/G_reg", reg_loss)
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
        return losses.mean_loss_gradients(self.G_opt.variables, "Loss/G_loss", loss_fn)

    def _d_apply(self, grads, lrate, gs_beta):
        overflow = self.D_opt.apply(grads, lrate)
        return overflow, self._update_gs(gs_beta)

    def _d_reg_apply(self, grads, lrate):
        return self.D_opt.apply(grads, lrate)  # one more step on the same Adam state

    def _g_apply(self, grads, lrate):
        return self.G_opt.apply(grads, lrate)

    # ---- one update on one replica (`steps.StepCompiler.update`) -----------------------------------

    def _d_replica(self, lod_range, rounds, reals, labels, lod, lrate, gs_beta, seed):
        first_slot = distribute.replica_id() * rounds
        batch = reals.shape[0] // rounds
        round_args = [(reals[r * batch:(r + 1) * batch], labels[r * batch:(r + 1) * batch], lod,
                       seed, first_slot + r) for r in range(rounds)]
        return self.steps.update(
            ("D", lod_range, rounds), "TrainD/overflow_frequency",
            lambda *args: self._d_grads(lod_range, "loss", rounds, *args), round_args,
            self._d_apply, (lrate, gs_beta))

    def _d_reg_replica(self, lod_range, rounds, reals, labels, lod, lrate, seed):
        # R1 on the last pass's reals, with their mirroring: D is unchanged across the original's
        # accumulated R1 passes on that batch, so one pass gives the same gradients.
        batch = reals.shape[0] // rounds
        args = (reals[-batch:], labels[-batch:], lod, seed,
                distribute.replica_id() * rounds + rounds - 1)
        return self.steps.update(
            ("D_reg", lod_range, rounds), "RegD/overflow_frequency",
            lambda *args: self._d_grads(lod_range, "reg", rounds, *args), [args],
            self._d_reg_apply, (lrate,))

    def _g_replica(self, lod_range, terms, rounds, batch, lod, lrate, seed):
        first_slot = distribute.replica_id() * rounds
        round_args = [(lod, seed, first_slot + r) for r in range(rounds)]
        name = "G" if terms == "loss" else "G_reg"
        return self.steps.update(
            (name, lod_range, batch, rounds), "TrainG/overflow_frequency" if terms == "loss"
            else "RegG/overflow_frequency",
            lambda *args: self._g_grads(lod_range, terms, rounds, batch, *args), round_args,
            self._g_apply, (lrate,))

    def _step_seed(self):
        seed = tf.constant([self.seed, self.step_counter], dtype=tf.int64)
        self.step_counter += 1
        return seed

    # ---- public steps ----------------------------------------------------------------------------

    def d_step(self, reals, labels, lod, lrate, minibatch, rounds=1, nimg=None):
        """One D step and Gs update on a (distributed) real minibatch.

        Args:
            reals: per-replica uint8 [n, h, w, C] (a distributed value, or a tensor on one replica).
            labels: per-replica float32 [n, label_size].
            lod: schedule lod; lrate: the schedule's D learning rate (scaled here for lazy
                regularization); minibatch: global minibatch (for Gs beta); nimg: images trained
                so far (for the Gs half-life's ramp).
            rounds: passes of n / rounds samples whose gradients are accumulated (StyleGAN2's
                minibatch_gpu).

        Returns:
            Per-replica dict of scalar statistics.
        """
        lod_range = lod_range_of(lod)
        seed = self._step_seed()
        self._last_d_seed = seed
        args = (reals, labels, tf.constant(lod, tf.float32),
                tf.constant(self.scaled_lrate(lrate, self.D_ratio), tf.float32),
                tf.constant(self.gs_beta(minibatch, nimg), tf.float32), seed)
        return self.steps.run(("D", lod_range, rounds), lambda *a: self._d_replica(lod_range, rounds, *a), args)

    def d_reg_step(self, reals, labels, lod, lrate, rounds=1):
        """StyleGAN2's lazy R1 step (after `d_step` on the same reals): the regularizer times
        D_reg_interval on the last pass's processed reals, one more Adam step of D."""
        if not self.D_r1:
            return {}
        if self._last_d_seed is None:
            raise RuntimeError("d_reg_step regularizes the reals of the preceding d_step.")
        lod_range = lod_range_of(lod)
        args = (reals, labels, tf.constant(lod, tf.float32),
                tf.constant(self.scaled_lrate(lrate, self.D_ratio), tf.float32),
                self._last_d_seed)
        return self.steps.run(("D_reg", lod_range, rounds), lambda *a: self._d_reg_replica(lod_range, rounds, *a),
                              args)

    def _g_batch(self, minibatch, rounds):
        if minibatch % (self.num_replicas * rounds):
            raise ValueError(f"minibatch {minibatch} is not a multiple of the {self.num_replicas} "
                             f"replicas times {rounds} passes.")
        return minibatch // (self.num_replicas * rounds)

    def _run_g(self, terms, lod, lrate, minibatch, rounds):
        batch = self._g_batch(minibatch, rounds)
        lod_range = lod_range_of(lod)
        args = (tf.constant(lod, tf.float32),
                tf.constant(self.scaled_lrate(lrate, self.G_ratio), tf.float32), self._step_seed())
        return self.steps.run(("G", terms, lod_range, batch, rounds),
                              lambda *a: self._g_replica(lod_range, terms, rounds, batch, *a), args)

    def g_step(self, lod, lrate, minibatch, rounds=1):
        """One G step with a global minibatch of `minibatch` latents (in `rounds` passes)."""
        return self._run_g("loss", lod, lrate, minibatch, rounds)

    def run_phase(self, name, lod, lrate, minibatch, rounds=1, reals=None, labels=None, nimg=None):
        """The step of a phase (`phases.Phase.name`): 'G', 'G_reg', 'D' (on `reals`, `labels`; `nimg`
        for the Gs ramp), 'D_reg' (on the same reals as the preceding D step) or 'augment' (ADA's p
        after `minibatch_repeats` minibatches)."""
        if name == "G":
            return self.g_step(lod, lrate, minibatch, rounds)
        if name == "G_reg":
            return self.g_reg_step(lod, lrate, minibatch, rounds)
        if name == "D":
            return self.d_step(reals, labels, lod, lrate, minibatch, rounds, nimg)
        if name == "D_reg":
            return self.d_reg_step(reals, labels, lod, lrate, rounds)
        if name == "augment":
            return self.tune_augment(minibatch * self.config.minibatch_repeats)
        raise ValueError(f"unknown training phase {name!r}; expected G, G_reg, D, D_reg or augment.")

    def tune_augment(self, images):
        """StyleGAN2-ADA's update of p after `images` real images (`adaptive.AdaptiveAugment`):
        r_t over every replica, the same new p on each. Returns the per-replica statistics."""
        if self.augment is None:
            return {}
        augment = self.augment
        return self.steps.run(("augment", images), lambda: augment.tune_replica(images), ())

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
        """A global NumPy minibatch as per-replica values (`distribute.split_global_batch`)."""
        return distribute.split_global_batch(self.strategy, images, labels)

    def agree(self, flag):
        """True if `flag` is true on any worker (a collective: call on every worker)."""
        return self.steps.any_replica(flag)

    def generate(self, latents, labels, batch_size):
        """Gs images (validation mode: no truncation, random noise) as float32 NumPy NHWC."""
        Gs = self.Gs
        generate = self.steps.outer("Gs", lambda latents, labels: Gs(
            latents, labels if self.label_size else None, is_validation=True, noise_mode="random"))
        outputs = []
        for start in range(0, len(latents), batch_size):
            outputs.append(generate(
                tf.constant(latents[start:start + batch_size], tf.float32),
                tf.constant(labels[start:start + batch_size], tf.float32)).numpy())
        return np.concatenate(outputs)
