"""StyleGAN2-ADA's adaptive discriminator augmentation in training: the augmentation probability p,
the overfitting statistic r_t and its tuning (the TF release's `AdaptiveAugment` with the 'rt'
heuristic, `training/augment.py`).

* D sees every image through the pipeline (`stylegan_tf.augment`): the reals and fakes of its loss,
  the fakes of G's loss and the reals of R1, whose gradient is taken w.r.t. the un-augmented images.
* r_t = mean sign(D(aug(reals))) over the main D steps since the last update, summed over replicas.
  As the TF release, the lazy R1 step does not count: it re-scores the D step's reals, so counting
  it would weigh every 16th minibatch twice (the PyTorch release counts both).
* After every `minibatch_repeats` minibatches (the release's tuning interval, 4):
  p <- max(p + sign(r_t - target) * images / (ada_kimg * 1000), 0), images = minibatch * repeats;
  the accumulator restarts at zero. There is no upper clamp, as in both releases.
* p and the accumulator live in variables (one copy per replica, kept equal), are saved in each
  snapshot's training state and restored on resume (both releases restart p at its initial value).
"""

import numpy as np
import tensorflow as tf

from stylegan_tf import augment

P_KEY = "Augment/p"
ACCUMULATOR_KEY = "Augment/signs_real"  # [count, sum] since the last update


class AdaptiveAugment:
    """The pipeline, p, and the r_t accumulator of one training run.

    Args:
        config: the TrainConfig's AugmentConfig (mode 'ada' or 'fixed', pipe, p, target, ada_kimg).
        static_padding: the warp's static padding (for XLA; `augment.AugmentPipeline.__call__`).
        resolution: the training resolution (checked against the pipeline's ops).
    Variables must be created in the trainer's strategy scope (one copy per replica).
    """

    def __init__(self, config, static_padding, resolution):
        self.mode = config.mode
        self.target = float(config.target)
        self.ada_kimg = float(config.ada_kimg)
        self.pipeline = augment.AugmentPipeline(config.pipe)
        self.pipeline.check_size(resolution, resolution)  # before anything is written
        self.static_padding = bool(static_padding)
        self.p = tf.Variable(float(config.p), trainable=False, name="augment_p")
        self.accumulator = tf.Variable(tf.zeros([2]), trainable=False, name="augment_signs_real")

    @property
    def adaptive(self):
        return self.mode == "ada"

    def __call__(self, images, seed, rows):
        """Augments one pass's images [n, H, W, C] with parameters drawn from `seed` for the global
        minibatch (`rows` = (global batch, slot)); p is read from its variable."""
        draws = augment.StatelessDraws(seed, images.shape[0], rows)
        return self.pipeline(images, tf.convert_to_tensor(self.p), draws, static_padding=self.static_padding)

    def count_real_signs(self, real_scores):
        """Adds sign(D(aug(reals))) of a main D pass to this replica's accumulator."""
        signs = tf.sign(tf.cast(real_scores, tf.float32))
        self.accumulator.assign_add(tf.stack([tf.cast(tf.size(signs), tf.float32), tf.reduce_sum(signs)]))

    def tune_replica(self, images):
        """On each replica: r_t over all replicas' accumulators, the new p, the accumulator reset.
        Returns the statistics {'Progress/augment': p, 'Augment/rt': r_t}."""
        local = tf.identity(self.accumulator)
        total = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, local)
        count, signs = total[0], total[1]
        rt = tf.where(count > 0, signs / tf.maximum(count, 1.0), 0.0)
        if self.adaptive:
            step = tf.sign(rt - self.target) * (float(images) / (self.ada_kimg * 1000.0))
            self.p.assign(tf.maximum(self.p + step, 0.0))
        self.accumulator.assign(tf.zeros([2]))
        return {"Progress/augment": tf.convert_to_tensor(self.p), "Augment/rt": rt}

    # ---- the training state ---------------------------------------------------------------------

    def state_arrays(self, strategy):
        """{key: array} for a snapshot's state file (the first replica's copy: all are equal after a
        tune; the accumulator is the sum over replicas)."""
        accumulators = [value.numpy() for value in strategy.experimental_local_results(self.accumulator)]
        p = strategy.experimental_local_results(self.p)[0].numpy()
        return {P_KEY: np.float32(p), ACCUMULATOR_KEY: np.sum(accumulators, axis=0).astype(np.float32)}

    def load_state_arrays(self, strategy, arrays):
        """Restores `state_arrays` (the accumulator goes to the first replica)."""
        if P_KEY in arrays:
            for component in strategy.experimental_local_results(self.p):
                component.assign(float(arrays[P_KEY]))
        if ACCUMULATOR_KEY in arrays:
            saved = np.asarray(arrays[ACCUMULATOR_KEY], np.float32).reshape([2])
            for index, component in enumerate(strategy.experimental_local_results(self.accumulator)):
                component.assign(saved if index == 0 else np.zeros([2], np.float32))

    def p_value(self, strategy):
        return float(strategy.experimental_local_results(self.p)[0].numpy())


class AugmentedD:
    """D seeing its inputs through the augmentation pipeline (StyleGAN2-ADA's `eval_D`). Each call
    draws its own parameters, from the step's `seed` folded with `salt` (one per kind of step) and
    a per-trace call counter, for the global minibatch, and takes the pass's rows."""

    SEED_SALT = 0x41444100  # 'ADA': apart from the step's other draws

    def __init__(self, D, augment, seed, global_batch, slot, salt=0):
        self.D = D
        self.augment = augment
        self.seed = tf.random.experimental.stateless_fold_in(seed, self.SEED_SALT + salt, alg="philox")
        self.rows = (global_batch, slot)
        self.calls = 0

    def __call__(self, images, labels, **kwargs):
        self.calls += 1
        seed = tf.random.experimental.stateless_fold_in(self.seed, self.calls, alg="philox")
        return self.D(self.augment(images, seed, self.rows), labels, **kwargs)
