"""The step compiler: the one place that owns `tf.function`, XLA, `strategy.run`, the per-replica
function caches, gradient accumulation over passes and the all-reduce. The GAN maths it runs are
plain Python functions of the Trainer (`trainer.py`), which know none of this.

Each step is one `tf.function` around `strategy.run` (`run`); inside, each replica calls its own
compiled function (`replica_function`: `jit_compile=True` in 'xla' mode), traced with a graph-level
seed of its own so that the networks' random ops draw different numbers on each replica. An update
(`update`) accumulates the gradients of its passes, averages them, sums them across replicas and
scales by 1/replicas (as the original sums its per-GPU gradients), then applies them; with one pass
on one replica, gradients and update are one compiled function.
"""

import zlib

import tensorflow as tf

COMPILE_MODES = ("xla", "function", "eager")


def merge_round_stats(round_stats):
    """One step's statistics from those of its passes: sums and counts add, means average."""
    if len(round_stats) == 1:
        return dict(round_stats[0])
    merged = {}
    for key in round_stats[0]:
        values = [stats[key] for stats in round_stats]
        total = tf.add_n(values)
        merged[key] = total if key.endswith(("/sum", "/count")) else total / len(values)
    return merged


def skip_stats(overflow_name, skipped):
    """An apply function's skip flags as step statistics: its optimizer's under `overflow_name`,
    and Gs's (`TrainGs/overflow_frequency`) when it updated Gs too."""
    if isinstance(skipped, tuple):
        return {overflow_name: skipped[0], "TrainGs/overflow_frequency": skipped[1]}
    return {overflow_name: skipped}


class StepCompiler:
    """Compiles and runs the steps of one Trainer on one strategy.

    Args:
        strategy: the tf.distribute strategy.
        compile_mode: 'xla' (replica functions compiled with XLA), 'function' (tf.function) or
            'eager'.
        seed: base of the per-replica graph-level seeds.
    """

    def __init__(self, strategy, compile_mode="xla", seed=1000):
        if compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode must be 'xla', 'function' or 'eager', got {compile_mode!r}.")
        self.strategy = strategy
        self.num_replicas = strategy.num_replicas_in_sync
        self.compile_mode = compile_mode
        self.seed = int(seed)
        self.trace_counts = {}  # traces per replica function name, e.g. {'D_step': 1}
        self._replica_fns = {}
        self._outer_fns = {}

    def replica_function(self, key, python_fn):
        """`python_fn` compiled for the current replica's device (created on first use); `key`
        names it (a tuple whose first and last items name it in `trace_counts`, e.g. D ... step)."""
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

    def update(self, key, overflow_name, grads_fn, round_args, apply_fn, apply_args):
        """One update on this replica: `grads_fn(*args)` -> (grads, stats) for each pass's `round_args`,
        the mean of the passes' gradients all-reduced across replicas, then
        `apply_fn(grads, *apply_args)` -> skip flag(s). Returns the step's statistics."""
        if self.num_replicas == 1 and len(round_args) == 1:
            def fused(*args):
                grads, stats = grads_fn(*args[:len(round_args[0])])
                stats.update(skip_stats(overflow_name, apply_fn(grads, *args[len(round_args[0]):])))
                return stats
            return self.replica_function(key + ("step",), fused)(*round_args[0], *apply_args)
        total, round_stats = None, []
        for args in round_args:  # tf.function runs the stateful calls in this order
            grads, stats = self.replica_function(key + ("grads",), grads_fn)(*args)
            total = list(grads) if total is None else [a + b for a, b in zip(total, grads)]
            round_stats.append(stats)
        if len(round_args) > 1:
            total = [grad * (1.0 / len(round_args)) for grad in total]
        if self.num_replicas > 1:
            total = self.all_reduce_mean(total)
        stats = merge_round_stats(round_stats)
        stats.update(skip_stats(overflow_name, self.replica_function(key[:1] + ("apply",), apply_fn)(
            total, *apply_args)))
        return stats

    def all_reduce_mean(self, values):
        """The sum over replicas times 1 / replicas (the original sums its per-GPU gradients)."""
        summed = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, values)
        return [value * (1.0 / self.num_replicas) for value in summed]

    def outer(self, key, fn):
        """The tf.function (not XLA-compiled: it holds `strategy.run`) of one static `key`."""
        if self.compile_mode == "eager":
            return fn
        if key not in self._outer_fns:
            self._outer_fns[key] = tf.function(fn, autograph=False)
        return self._outer_fns[key]

    def run(self, key, replica_fn, args):
        """`replica_fn(*args)` on every replica, in the compiled outer function of `key`: per-replica
        results."""
        strategy = self.strategy
        return self.outer(key, lambda *a: strategy.run(replica_fn, args=a))(*args)

    def any_replica(self, flag):
        """True if `flag` is true on any worker (a collective: call on every worker)."""
        strategy = self.strategy
        if "agree" not in self._outer_fns:
            def run(value):
                def replica():
                    local = tf.identity(value)  # placed on this replica's device
                    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, local)
                return strategy.run(replica)
            self._outer_fns["agree"] = tf.function(run, autograph=False)
        result = self._outer_fns["agree"](tf.constant(1.0 if flag else 0.0))
        return float(strategy.experimental_local_results(result)[0].numpy()) > 0.5
