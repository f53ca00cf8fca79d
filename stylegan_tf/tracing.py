"""What the code being traced will be used for: compiled whole by XLA, or differentiated.

Some ops choose between formulations of the same function by these (`ops`, `xla.elementwise`).
Both read private TensorFlow state; if it moves, the answers fall back to the safe side (no XLA,
a gradient may be taken), which costs speed, never correctness.
"""


def in_xla_context():
    """True while tracing a function that XLA compiles (tf.function(jit_compile=True))."""
    try:
        from tensorflow.python.framework import ops as tf_ops
        from tensorflow.python.ops import control_flow_util
        return bool(control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph()))
    except (ImportError, AttributeError):
        return False


def gradient_could_be_recorded():
    """True while a GradientTape (or a forward accumulator) watches the ops being run or traced."""
    try:
        from tensorflow.python.eager import record
        return bool(record.could_possibly_record())
    except (ImportError, AttributeError):
        return True
