"""What a training run reports: tick means of the step statistics (the original's autosummary) and the log."""

import tensorflow as tf


class TickStats:
    """Accumulates step outputs (kept as tensors until the tick, so steps stay asynchronous)."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.pending = []
        self.scalars = {}
        self.trailing_skips = {}

    def add_step(self, outputs):
        self.pending.append(outputs)

    def add_scalar(self, name, value):
        total, count = self.scalars.get(name, (0.0, 0))
        self.scalars[name] = (total + float(value), count + 1)

    def means(self):
        """{name: mean} over the tick; resets the accumulators (`trailing_skips` keeps the tick's
        consecutive skipped updates at its end)."""
        local_results = self.strategy.experimental_local_results
        step_sums = [{key: sum(float(local.numpy()) for local in local_results(value))
                      for key, value in outputs.items()} for outputs in self.pending]
        self.trailing_skips = trailing_skips(step_sums)
        sums = {}
        for step in step_sums:
            for key, value in step.items():
                sums[key] = sums.get(key, 0.0) + value
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

    def __call__(self, message="", echo=None):
        if self.echo if echo is None else echo:
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


class TrainingDivergedError(ValueError):
    """The networks stopped training (their updates are skipped as non-finite): the run cannot
    continue."""


# Updates skipped for non-finite values, per network: the optimizers' and the Gs average's.
SKIP_KEYS = {"D": "TrainD/overflow_frequency", "G": "TrainG/overflow_frequency",
             "Gs": "TrainGs/overflow_frequency"}
# A tick that ends with this many consecutive skipped updates of a network has diverged: in
# float32 a non-finite update is not a rare overflow to ride out but weights that no longer train.
DIVERGED_AFTER_SKIPS = 4


def trailing_skips(step_sums):
    """{network: consecutive skipped updates at the end of a tick}, from its steps' statistics summed
    over replicas (TickStats.means)."""
    runs = {}
    for net, key in SKIP_KEYS.items():
        flags = [step[key] for step in step_sums if key in step]
        run = 0
        for flag in reversed(flags):
            if flag <= 0:
                break
            run += 1
        runs[net] = run
    return runs


def skipped_updates(means, trailing=None, tick=None):
    """(note for the tick line, why the networks diverged or None) from a tick's means and
    `trailing_skips`: the share of D, G and Gs updates skipped as non-finite (the original skips
    them silently). A network has diverged when all of a tick's updates of it, or its last
    DIVERGED_AFTER_SKIPS, were skipped; the reason reads e.g. 'every G update of tick 3 was skipped'."""
    trailing = trailing or {}
    skipped = {net: means[key] for net, key in SKIP_KEYS.items() if key in means}
    if not any(skipped.values()):
        return "", None
    note = " skipped " + " ".join(f"{net} {100 * fraction:.0f}%" for net, fraction in skipped.items()
                                  if net != "Gs" or fraction)
    every = [net for net, fraction in skipped.items() if fraction >= 1.0]
    last = [net for net in skipped if net not in every and trailing.get(net, 0) >= DIVERGED_AFTER_SKIPS]
    reasons = []
    if every:
        reasons.append(f"every {' and '.join(every)} update")
    if last:
        reasons.append(f"the last {DIVERGED_AFTER_SKIPS} or more {' and '.join(last)} updates")
    if not reasons:
        return note, None
    verb = "was" if not last else "were"
    return note, f"{' and '.join(reasons)} of tick {tick} {verb} skipped"


def peak_gpu_memory_gb():
    try:
        if tf.config.list_logical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 30
    except (ValueError, tf.errors.OpError):
        pass
    return 0.0
