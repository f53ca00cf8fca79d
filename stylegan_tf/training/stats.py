"""What a training run reports: tick means of the step statistics (the original's autosummary) and the log."""

import tensorflow as tf


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


class TrainingDivergedError(ValueError):
    """Every update of a tick was skipped for non-finite gradients: training cannot continue."""


def skipped_updates(means):
    """(note for the tick line, all skipped) from a tick's means: the fraction of D and G updates
    that the optimizers skipped for non-finite gradients (the original skips them silently)."""
    skipped = {net: means.get(f"Train{net}/overflow_frequency", 0.0) for net in ("D", "G")}
    if not any(skipped.values()):
        return "", False
    note = " skipped " + " ".join(f"{net} {100 * fraction:.0f}%" for net, fraction in skipped.items())
    return note, all(fraction >= 1.0 for fraction in skipped.values())


def peak_gpu_memory_gb():
    try:
        if tf.config.list_logical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 30
    except (ValueError, tf.errors.OpError):
        pass
    return 0.0
