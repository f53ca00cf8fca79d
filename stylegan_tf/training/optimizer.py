"""The original's optimizer: TF1 `tf.train.AdamOptimizer` arithmetic with its skipping of non-finite updates."""

import tensorflow as tf


def all_finite(tensors):
    """A boolean scalar: every element of every tensor is finite."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tensor)) for tensor in tensors])


class Adam:
    """Adam with the arithmetic of TF1's `tf.train.AdamOptimizer` (the original's optimizer):
    `lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`, `m += (g - m)(1 - beta1)`,
    `v += (g^2 - v)(1 - beta2)`, `var -= lr_t * m / (sqrt(v) + epsilon)`, with the powers kept
    as variables. `reset()` restores the initial state (moments, powers, step count), as the
    original's `reset_optimizer_state`. An update with any non-finite gradient is skipped
    entirely (the step count does not advance), as the original's `Optimizer` wrapper does; so is
    one whose new moments or weights would be non-finite, which the original writes.

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
        """One update from `grads` (inside a replica); returns 1.0 if skipped, else 0.0.

        The update is skipped when anything it would write is non-finite: a gradient, a moment
        or a new weight (finite gradients with a huge learning rate give infinite weights)."""
        learning_rate = tf.cast(learning_rate, tf.float32)
        lr_t = learning_rate * tf.sqrt(1.0 - self.beta2_power) / (1.0 - self.beta1_power)
        updates = []
        for var, grad, m, v in zip(self.variables, grads, self.m, self.v):
            new_m = m + (grad - m) * (1.0 - self.beta1)
            new_v = v + (tf.square(grad) - v) * (1.0 - self.beta2)
            value = tf.convert_to_tensor(var)
            new_value = value - lr_t * new_m / (tf.sqrt(new_v) + self.epsilon)
            updates.append((var, value, new_value, m, new_m, v, new_v))
        finite = all_finite([grad for grad in grads] + [tensor for update in updates
                                                        for tensor in update[2::2]])
        for var, value, new_value, m, new_m, v, new_v in updates:
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
        """Restores `state_arrays()`; raises ValueError if a variable is missing or misshapen
        (`resume.read_training_state` has refused non-finite states before)."""
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


def lazy_regularization_ratio(interval, lazy):
    """StyleGAN2's `mb_ratio = interval / (interval + 1)` of a lazily regularized optimizer
    (its learning rate is multiplied by it and its betas raised to it); 1 otherwise."""
    return interval / (interval + 1) if lazy else 1.0
