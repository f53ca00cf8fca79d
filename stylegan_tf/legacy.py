"""The original release's pickled networks (`karras2019stylegan-*.pkl`, training snapshots).

A pickle holds `(G, D, Gs)`, each a `dnnlib.tflib.network.Network` whose state names its build
function, its `static_kwargs`, its components and its own variables (`dnnlib/tflib/network.py`). Loading never
executes anything from the file: the unpickler constructs only an allow-listed handful of globals
(NumPy array reconstruction and a plain stand-in for `Network`), the architecture is rebuilt from
`build_func_name` + `static_kwargs`, and every variable is assigned by its original name.

`save_networks` writes the same format (without `build_module_src` code), so our snapshots load
here exactly like the original pickles.
"""

import io
import os
import pickle
import re

import numpy as np

from stylegan_tf import fileio, network_limits, networks, pytorch_networks, safe_pickle, torch_pickle
from stylegan_tf.networks import GeneratorADA
from stylegan_tf.networks.base import StaticKwargs


class LegacyPickleError(ValueError):
    """A file that is not a loadable original StyleGAN network pickle."""


# ---------------------------------------------------------------------------------------------
# Restricted unpickling.

class NetworkState:
    """Stand-in for `dnnlib.tflib.network.Network`: keeps the pickled state dict, runs nothing."""

    def __init__(self, state=None):
        self.state = state

    def __setstate__(self, state):
        self.state = state

    def __getstate__(self):
        return self.state

    def __repr__(self):
        state = self.state or {}
        return f"NetworkState({state.get('name')!r}, {state.get('build_func_name')!r})"


class _EasyDict(dict):
    """Stand-in for `dnnlib.util.EasyDict` (a dict with attribute access)."""


class _RestrictedUnpickler(safe_pickle.RestrictedUnpickler):
    """Constructs only what a network pickle of the releases needs (the TF releases' `Network` states,
    and stylegan2-ada-pytorch's persistent modules and tensors as inert stand-ins, `torch_pickle`);
    refuses every other global. `max_tensor_bytes` bounds the tensors a PyTorch pickle may rebuild."""

    def __init__(self, file, max_tensor_bytes, **kwargs):
        super().__init__(file, allowed={("dnnlib.tflib.network", "Network"): NetworkState,
                                        ("dnnlib.util", "EasyDict"): _EasyDict,
                                        **torch_pickle.globals_for(max_tensor_bytes)}, **kwargs)

    def resolve_other(self, module, name):
        if module.split(".")[0] in ("torch", "torch_utils"):
            raise LegacyPickleError(
                f"refusing to load {module}.{name}: not one of the globals a stylegan2-ada-pytorch network "
                "pickle holds (loading never runs code from a pickle).")
        raise LegacyPickleError(
            f"refusing to load {module}.{name}: the file asks to construct an object that no "
            "StyleGAN network pickle contains (loading never runs code from a pickle).")


# torch.save's legacy format starts with a pickled long: protocol 2, LONG1 of 10 bytes, the magic.
_TORCH_LEGACY_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")[:8]


def read_pickle(path):
    """Unpickles `path` with the restricted unpickler; clear errors for anything else."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise LegacyPickleError(f"{path}: cannot read ({error.strerror or error}).") from error
    if not data:
        raise LegacyPickleError(f"{path}: the file is empty.")
    if data[:4] == b"PK\x03\x04" and b"data.pkl" in data[:4096]:
        raise LegacyPickleError(f"{path}: this is a PyTorch file (torch.save zip archive), e.g. "
                                "from StyleGAN2-ADA-PyTorch or StyleGAN3; stylegan-tf loads the TF "
                                "releases' pickles only.")
    if data[:1] != b"\x80":
        raise LegacyPickleError(f"{path}: not a pickle file (it does not start with a pickle "
                                "protocol header).")
    if data[2:12] == _TORCH_LEGACY_MAGIC:
        raise LegacyPickleError(f"{path}: this is a PyTorch file (legacy torch.save format); "
                                "stylegan-tf loads the TF releases' pickles only.")
    try:
        # Arrays are filled from the file's own bytes, so none can legitimately be larger.
        return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1", max_array_bytes=len(data),
                                    max_tensor_bytes=len(data)).load()
    except LegacyPickleError as error:
        raise LegacyPickleError(f"{path}: {error}") from None
    except torch_pickle.TorchPickleError as error:
        raise LegacyPickleError(f"{path}: refused: {error}.") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, OverflowError, MemoryError, RecursionError) as error:
        raise LegacyPickleError(f"{path}: truncated or corrupt pickle ({type(error).__name__}: "
                                f"{error}).") from None


# ---------------------------------------------------------------------------------------------
# Original-name <-> Keras layouts. Conv and dense kernels keep their shapes; the few tensors the
# original stores in NCHW order are converted here and nowhere else.

def _nchw_to_nhwc(value):
    return np.transpose(value, [0, 2, 3, 1])


def _nhwc_to_nchw(value):
    return np.transpose(value, [0, 3, 1, 2])


def _chw_rows_to_hwc(value, channels):
    """Dense rows ordered (c, h, w) of a [C, 4, 4] input -> ordered (h, w, c)."""
    out = value.shape[1]
    return value.reshape(channels, 4, 4, out).transpose(1, 2, 0, 3).reshape(-1, out)


def _hwc_rows_to_chw(value, channels):
    out = value.shape[1]
    return value.reshape(4, 4, channels, out).transpose(2, 0, 1, 3).reshape(-1, out)


def _chw_cols_to_hwc(value, channels):
    return _chw_rows_to_hwc(value.T, channels).T


def _hwc_cols_to_chw(value, channels):
    return _hwc_rows_to_chw(value.T, channels).T


def _is_nchw_image(name):
    """Noise buffers and the learned constant are stored [1, C, H, W] by the original."""
    return bool(re.fullmatch(r"(G_synthesis/)?noise\d+", name)) or name.endswith("4x4/Const/const")


def _layout_converters(name, keras_shape):
    """(original -> Keras, Keras -> original) array converters for one variable name."""
    if _is_nchw_image(name):
        return _nchw_to_nhwc, _nhwc_to_nchw
    if name == "4x4/Dense0/weight":  # D: its input is the flattened NCHW 4x4 features
        channels = keras_shape[0] // 16
        return (lambda v: _chw_rows_to_hwc(v, channels), lambda v: _hwc_rows_to_chw(v, channels))
    if name.endswith("4x4/Dense/weight"):  # G without const input: output reshaped as NCHW
        channels = keras_shape[1] // 16
        return (lambda v: _chw_cols_to_hwc(v, channels), lambda v: _hwc_cols_to_chw(v, channels))
    return (lambda value: value, lambda value: value)


def original_shape(name, keras_shape):
    """The shape the original stores for a variable of the given Keras shape."""
    if _is_nchw_image(name):
        return (keras_shape[0], keras_shape[3], keras_shape[1], keras_shape[2])
    return tuple(keras_shape)


def to_keras_layout(name, value, keras_shape):
    """Converts an array stored by the original under `name` to the Keras variable's layout."""
    return _layout_converters(name, keras_shape)[0](np.asarray(value))


def to_original_layout(name, value):
    """Converts a Keras variable's value (or gradient) to the original's layout for `name`."""
    value = np.asarray(value)
    return _layout_converters(name, value.shape)[1](value)


def original_variables(net):
    """{original variable name: Keras variable} of a G/Gs, D, mapping or synthesis network.

    Names are the original `Network.vars` names, e.g. `G_mapping/Dense0/weight`,
    `G_synthesis/noise0`, `dlatent_avg`, `lod` for G; `FromRGB_lod0/weight` for D. G's own
    `lod` and `G_synthesis/lod` name the same variable.
    """
    return net.original_variables()


# ---------------------------------------------------------------------------------------------
# Loading.

_PROGAN_FUNCS = ("G_paper", "D_paper")
# Top-level build functions of the StyleGAN release (G_style, D_basic; also StyleGAN2's config A)
# and of the StyleGAN2 release; components are rebuilt by their parent.
_BUILDERS = networks.BUILD_FUNCTIONS
# StyleGAN writes 3 (2 in early pickles), StyleGAN2 4, StyleGAN2-ADA's TF release 5, whose build
# functions reuse StyleGAN2's names for other networks: the version picks the table.
_BUILDERS_BY_VERSION = {2: _BUILDERS, 3: _BUILDERS, 4: _BUILDERS, 5: networks.ADA_BUILD_FUNCTIONS}
_ALL_BUILDERS = (*_BUILDERS.values(), *networks.ADA_BUILD_FUNCTIONS.values())


def _check_static_kwargs(kwargs, what, path):
    try:
        network_limits.check_network_kwargs(kwargs, "static_kwargs")
    except ValueError as error:
        raise LegacyPickleError(f"{path}: {what}: {error}") from None


def _check_variables(state, what, path):
    variables = state["variables"]
    if not isinstance(variables, (list, tuple)):
        raise LegacyPickleError(f"{path}: {what}: variables is a {type(variables).__name__}, "
                                "expected a list of (name, array) pairs.")
    for item in variables:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise LegacyPickleError(f"{path}: {what}: variables holds {type(item).__name__} items, "
                                    "expected (name, array) pairs.")
        if not isinstance(item[1], (np.ndarray, np.generic, float, int)) or isinstance(item[1], bool):
            raise LegacyPickleError(f"{path}: {what}: variable {item[0]} is a {type(item[1]).__name__}, "
                                    "expected a NumPy array.")


def _check_state_fields(obj, what, path):
    if not isinstance(obj, NetworkState) or not isinstance(obj.state, dict):
        raise LegacyPickleError(f"{path}: {what} is not a dnnlib.tflib.network.Network "
                                f"(found {type(obj).__name__}).")
    state = obj.state
    missing = [key for key in ("name", "static_kwargs", "build_func_name", "variables")
               if key not in state]
    if missing:
        raise LegacyPickleError(f"{path}: {what} lacks {', '.join(missing)} in its state.")
    for key in ("name", "build_func_name"):
        if not isinstance(state[key], str):
            raise LegacyPickleError(f"{path}: {what}: {key} is a {type(state[key]).__name__}, "
                                    "expected a string.")
    _check_static_kwargs(state["static_kwargs"], what, path)
    _check_variables(state, what, path)
    components = state.get("components") or {}
    if not isinstance(components, dict):
        raise LegacyPickleError(f"{path}: {what}: components is a {type(components).__name__}, "
                                "expected a dict.")
    for key, component in components.items():
        _check_state_fields(component, f"{what} component {key!r}", path)
    return state


def _check_network_state(obj, what, path):
    state = _check_state_fields(obj, what, path)
    version = state.get("version")
    if isinstance(version, bool) or version not in _BUILDERS_BY_VERSION:
        raise LegacyPickleError(f"{path}: {what} has network state version "
                                f"{version!r}; versions 2 to 5 are supported.")
    func = state["build_func_name"]
    if func in _PROGAN_FUNCS:
        raise LegacyPickleError(f"{path}: {what} is a Progressive GAN network (build function "
                                f"{func}); stylegan-tf loads StyleGAN networks (G_style / "
                                "D_basic) only.")
    builders = _BUILDERS_BY_VERSION[version]
    if func not in builders:
        release = "StyleGAN2-ADA's" if version == 5 else "the StyleGAN and StyleGAN2 releases'"
        raise LegacyPickleError(f"{path}: {what} has unknown build function {func!r}: not one of {release} "
                                f"(state version {version}); expected one of {', '.join(builders)}.")
    return state, builders[func]


def _flatten_state_variables(state, prefix=""):
    """[(full original name, value)] of a network and its components, as `Network.vars`."""
    items = [(prefix + name, value) for name, value in state["variables"]]
    for component_name, component in (state.get("components") or {}).items():
        items += _flatten_state_variables(component.state, prefix + component.state["name"] + "/")
    return items


def network_from_state(obj, what="network", path="<pickle>", runtime=None):
    """Builds the Keras network described by one unpickled `NetworkState` (computing as `runtime`
    says, `networks.runtime.Runtime`) and assigns its variables; every stored variable must be used
    and every Keras variable assigned."""
    state, builder = _check_network_state(obj, what, path)
    kwargs = dict(state["static_kwargs"])
    ignored = {key: kwargs.pop(key) for key in sorted(set(kwargs) - set(builder.ACCEPTED))} \
        if builder.PICKLED_KWARGS_MAY_EXTEND else {}
    try:
        net = builder(name=state["name"], runtime=runtime, **kwargs)
    except (ValueError, TypeError) as error:
        raise LegacyPickleError(f"{path}: {what}: {error}") from None
    net.state_version = int(state["version"])  # written back in the same format
    if ignored:  # kept, so that saving writes the pickle's static_kwargs back unchanged
        net.pickled_static_kwargs = StaticKwargs(state["static_kwargs"])
        for component in (getattr(net, "synthesis", None), getattr(net, "mapping", None)):
            if component is not None:
                component.pickled_static_kwargs = StaticKwargs({**component.static_kwargs, **ignored})
    targets = original_variables(net)
    stored = _flatten_state_variables(state)
    unused = [name for name, _ in stored if name not in targets]
    if unused:
        raise LegacyPickleError(f"{path}: {what} stores variables that the rebuilt network does "
                                f"not have: {', '.join(unused[:8])}"
                                f"{' ...' if len(unused) > 8 else ''}.")
    assigned = set()
    # G's own 'lod' comes last in priority: it is the value the original feeds to the synthesis.
    stored.sort(key=lambda item: item[0] == "lod")
    for name, value in stored:
        variable = targets[name]
        expected = original_shape(name, tuple(variable.shape))
        if tuple(np.shape(value)) != expected:
            raise LegacyPickleError(f"{path}: {what} variable {name} has shape "
                                    f"{list(np.shape(value))}, but the network built from its "
                                    f"static_kwargs expects {list(expected)}.")
        try:
            value = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise LegacyPickleError(f"{path}: {what} variable {name} is not numeric ({error}).") from None
        variable.assign(to_keras_layout(name, value, tuple(variable.shape)))
        assigned.add(name)
    unassigned = [name for name in targets if name not in assigned]
    if unassigned:
        raise LegacyPickleError(f"{path}: {what} does not store {', '.join(unassigned[:8])}"
                                f"{' ...' if len(unassigned) > 8 else ''}.")
    return net


def _pytorch_networks(data, path, runtime, trusted_sources):
    """(G, D, Gs) of a stylegan2-ada-pytorch or StyleGAN3 pickle, rebuilt as StyleGAN2-ADA TF release's
    networks (version 5; StyleGAN3's generators as this project's `G_stylegan3`)."""
    try:
        records = pytorch_networks.network_records(data, trusted_sources)
    except pytorch_networks.PyTorchPickleError as error:
        raise LegacyPickleError(f"{path}: {error}") from None
    nets = []
    for what, func_name, kwargs, variables, source in records:
        state = NetworkState({"version": GeneratorADA.STATE_VERSION, "name": what, "build_func_name": func_name,
                              "static_kwargs": kwargs, "variables": variables, "components": {}})
        net = network_from_state(state, what, path, runtime)
        net.source_format = f"pytorch: {source}"  # which release version's code wrote it (saving writes TF's)
        nets.append(net)
    return tuple(nets)


def load_networks(path, runtime=None, trusted_sources=()):
    """Loads `(G, D, Gs)` from a pickle of the StyleGAN, StyleGAN2 or StyleGAN2-ADA releases (TF, or
    stylegan2-ada-pytorch's and StyleGAN3's `{'G', 'D', 'G_ema'}` dict) or one of our snapshots, computing as `runtime`
    says (`networks.runtime.Runtime`, default: the reference ops in float32). `trusted_sources`: SHA-256s
    of module sources to accept besides the PyTorch releases' (`pytorch_networks.KNOWN_MODULE_SOURCES`).

    Raises LegacyPickleError (a ValueError) with a clear message for anything else.
    """
    data = read_pickle(path)
    if pytorch_networks.is_pytorch_networks(data):
        return _pytorch_networks(data, os.fspath(path), runtime, trusted_sources)
    if isinstance(data, torch_pickle.PersistentObject):
        raise LegacyPickleError(f"{os.fspath(path)}: a PyTorch {data.class_name} on its own; expected the release's "
                                "training-loop dict of G, D and G_ema.")
    if not (isinstance(data, tuple) and len(data) >= 3):
        raise LegacyPickleError(f"{os.fspath(path)}: expected a tuple (G, D, Gs), found "
                                f"{type(data).__name__}.")
    return tuple(network_from_state(obj, what, os.fspath(path), runtime)
                 for obj, what in zip(data[:3], ("G", "D", "Gs")))


def read_network_variables(path, what="network"):
    """(build_func_name, [(full original name, array)]) of a pickle holding one dnnlib network of
    any build function (e.g. NVIDIA's metric networks), read safely and without building it."""
    path = os.fspath(path)
    state = _check_state_fields(read_pickle(path), what, path)
    return state["build_func_name"], _flatten_state_variables(state)


def load_network(path, what="network", runtime=None):
    """Loads a pickle holding one network (e.g. the original's attribute classifiers)."""
    return network_from_state(read_pickle(path), what, os.fspath(path), runtime)


# ---------------------------------------------------------------------------------------------
# Saving in the original format.



_NETWORK_MODULES = {3: "networks_stylegan", 4: "networks_stylegan2", 5: "networks"}


def _build_module_src(version):
    # A module of our own that imports the release's networks, so that the original code run from
    # its checkout (and the TF1 tools built on it) loads our pickles; never the release's source.
    return f"from training.{_NETWORK_MODULES[max(version, 3)]} import *\n"


def _network_state(version, name, func_name, static_kwargs, variables, components=None, io_fields=None):
    """A `NetworkState` as the original `Network.__getstate__` writes it (`io_fields`: version 5's)."""
    state = {"version": version, "name": name, "static_kwargs": dict(static_kwargs),
             "components": dict(components or {}), "build_module_src": _build_module_src(version),
             "build_func_name": func_name, "variables": variables}
    if version >= 5:
        state.update(io_fields)
    return NetworkState(state)


def _own_state(version, net, variables, components=None, io_fields=None):
    return _network_state(version, net.name, net.FUNC_NAME, _pickled_kwargs(net), variables, components, io_fields)


def _io_fields(inputs, outputs):
    """Version 5's record of a network's inputs and outputs: {name: NCHW shape, batch None}."""
    return {"input_shapes": list(inputs.values()), "output_shapes": list(outputs.values()),
            "input_names": list(inputs), "output_names": list(outputs)}


def _generator_io_fields(G):
    """Version 5's input/output records of a generator and of its synthesis and mapping networks."""
    image = {"images_out": [None, G.num_channels, G.resolution, G.resolution]}
    latents = {"latents_in": [None, G.latent_size], "labels_in": [None, G.label_size]}
    return {"G": _io_fields(latents, image),
            "synthesis": _io_fields({"dlatents_in": [None, G.num_layers, G.dlatent_size]}, image),
            "mapping": _io_fields(latents, {"dlatents_out": [None, G.num_layers, G.dlatent_size]})}


def _stored_value(name, variable):
    value = to_original_layout(name, np.asarray(variable, dtype=np.float32))
    return np.float32(value) if value.ndim == 0 else value


def network_to_state(net):
    """The original `Network.__getstate__` dict (as a `NetworkState`) of a generator or
    discriminator of either release (state version 3 for StyleGAN's, 4 for StyleGAN2's, or the
    version the network was loaded from)."""
    own = lambda names: [(n, _stored_value(n, v)) for n, v in names]  # noqa: E731
    if type(net) not in _ALL_BUILDERS:
        raise TypeError(f"expected a generator or discriminator, got {type(net).__name__}.")
    version = getattr(net, "state_version", net.STATE_VERSION)
    if not hasattr(net, "synthesis"):
        image = [None, net.num_channels, net.resolution, net.resolution]
        io_fields = _io_fields({"images_in": image, "labels_in": [None, net.label_size]}, {"scores_out": [None, 1]})
        return _own_state(version, net, own(net.original_variables().items()), io_fields=io_fields)
    io_fields = _generator_io_fields(net)
    components = {}
    for key, component in (("synthesis", net.synthesis), ("mapping", net.mapping)):
        components[key] = _own_state(version, component, own(component.original_variables().items()),
                                     io_fields=io_fields[key])
    components["mapping"].state["static_kwargs"]["dlatent_broadcast"] = net.num_layers
    own_vars = [(name, getattr(net, name)) for name in net.OWN_VARIABLES]
    return _own_state(version, net, own(own_vars), components, io_fields["G"])


def _pickled_kwargs(net):
    """The kwargs to write: exactly those read from a pickle (unknown keys of later code included),
    else those the network was built with; plain lists, tuples and dicts as they were given."""
    return getattr(net, "pickled_static_kwargs", net.static_kwargs).to_dict()


class _OriginalFormatPickler(pickle._Pickler):
    """Writes `NetworkState` as `dnnlib.tflib.network.Network` and NumPy's reconstruction
    functions under their `numpy.core` names, so the original code can read the file too."""

    def save_global(self, obj, name=None):
        if obj is NetworkState:
            module, name = "dnnlib.tflib.network", "Network"
        else:
            module = getattr(obj, "__module__", "") or ""
            if module.startswith("numpy._core"):
                module = module.replace("numpy._core", "numpy.core", 1)
            else:
                return super().save_global(obj, name)
            name = name or obj.__qualname__
        self.save(module)
        self.save(name)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)


def _write_atomically(path, obj):
    with fileio.atomic_write(path) as file:
        _OriginalFormatPickler(file, protocol=4).dump(obj)


def save_networks(path, G, D, Gs):
    """Writes `(G, D, Gs)` as an original-format pickle at `path`, atomically."""
    _write_atomically(path, tuple(network_to_state(net) for net in (G, D, Gs)))


def save_network(path, net):
    """Writes one network as an original-format pickle (the counterpart of `load_network`)."""
    _write_atomically(path, network_to_state(net))


def load_augment_settings(path, trusted_sources=()):
    """(op multipliers and ranges for `augment.AugmentPipeline(None, **ops)`, p) of the `augment_pipe`
    of a stylegan2-ada-pytorch pickle; None for a file without one (and for the TF releases' pickles,
    which keep p in no network)."""
    data = read_pickle(path)
    if not pytorch_networks.is_pytorch_networks(data):
        return None
    try:
        return pytorch_networks.augment_settings(data, trusted_sources)
    except pytorch_networks.PyTorchPickleError as error:
        raise LegacyPickleError(f"{os.fspath(path)}: {error}") from None
