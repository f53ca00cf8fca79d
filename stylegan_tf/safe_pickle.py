"""Unpickling that never runs code from the file: the one allow-list base of every unpickler here.

A pickle can name any importable callable and have the unpickler call it (`os.system`, say).
`RestrictedUnpickler` resolves only the globals it is given, plus NumPy's array and scalar
reconstruction (under both the NumPy 1 and NumPy 2 module names), and hands every other name to
`refuse`, which raises before anything is constructed.
"""

import pickle

import numpy as np

_NUMPY_CORE = getattr(np, "_core", None) or np.core  # NumPy 2 calls numpy.core numpy._core
NUMPY_GLOBALS = {
    (f"{package}.{module}", name): getattr(getattr(_NUMPY_CORE, module), name)
    for package in ("numpy.core", "numpy._core")
    for module, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"),
                         ("numeric", "_frombuffer"))
    if hasattr(getattr(_NUMPY_CORE, module), name)}
NUMPY_GLOBALS.update({("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype})


def _requested_bytes(shape, dtype):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if len(shape) > 32 or not all(isinstance(dim, (int, np.integer)) and dim >= 0 for dim in shape):
        raise pickle.UnpicklingError(f"refusing an array of shape {shape!r}")
    return int(np.prod([int(dim) for dim in shape], dtype=object)) * np.dtype(dtype).itemsize


def _bounded_numpy_globals(max_array_bytes):
    """NUMPY_GLOBALS whose array constructors refuse to allocate more than `max_array_bytes` (a
    38-byte pickle can otherwise ask `numpy.ndarray` for terabytes)."""
    def check(shape, dtype, what):
        size = _requested_bytes(shape, dtype)
        if size > max_array_bytes:
            raise pickle.UnpicklingError(f"refusing {what} of {size} bytes (more than this file "
                                         "can hold)")

    def ndarray(shape, dtype=float, *args, **kwargs):
        check(shape, dtype, "an array")
        return np.ndarray(shape, dtype, *args, **kwargs)

    def reconstruct(subtype, shape, dtype):
        check(shape, dtype, "an array")
        if subtype is ndarray:  # the pickle names numpy.ndarray, which resolved to the wrapper
            subtype = np.ndarray
        return NUMPY_GLOBALS[("numpy.core.multiarray", "_reconstruct")](subtype, shape, dtype)

    bounded = dict(NUMPY_GLOBALS)
    for package in ("numpy.core", "numpy._core"):
        bounded[(f"{package}.multiarray", "_reconstruct")] = reconstruct
    bounded[("numpy", "ndarray")] = ndarray
    return bounded


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that constructs NumPy arrays and `allowed` globals only.

    Args:
        file: binary file object.
        allowed: {(module, name): object} resolved in addition to NumPy's reconstruction.
        max_array_bytes: refuse to create larger arrays (None: no bound; arrays filled from the file's
            own bytes are bounded by its size anyway).
        **kwargs: passed to pickle.Unpickler (encoding, ...).
    """

    def __init__(self, file, allowed=None, max_array_bytes=None, **kwargs):
        super().__init__(file, **kwargs)
        numpy_globals = NUMPY_GLOBALS if max_array_bytes is None else _bounded_numpy_globals(max_array_bytes)
        self.allowed = {**numpy_globals, **(allowed or {})}

    def find_class(self, module, name):
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        return self.resolve_other(module, name)

    def resolve_other(self, module, name):
        """Called for every name outside the allow-list; raises. Subclasses may resolve a family
        of names (stubs) or raise their own error type."""
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (not allow-listed; loading "
                                     "never runs code from a file)")
