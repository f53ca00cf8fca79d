"""The pickle loader: safe by construction, clear errors, and a writer that round-trips exactly."""

import copy
import io
import os
import pickle

import numpy as np
import pytest

from stylegan_tf import legacy, networks

from conftest import fixture_dirs
from original_fixtures import all_fixture_dirs

FIXTURE_DIRS = fixture_dirs("original-stylegan", "STYLEGAN_FIXTURES")
FIXTURE_PKL = FIXTURE_DIRS[0] / "network.pkl" if FIXTURE_DIRS else None


@pytest.fixture(scope="module")
def original_states():
    return legacy.read_pickle(FIXTURE_PKL)


class _RenamingPickler(pickle._Pickler):
    """Pickles chosen classes under other global names; NumPy objects as this NumPy names them."""

    def __init__(self, file, renames):
        super().__init__(file, protocol=4)
        self.renames = renames

    def save_global(self, obj, name=None):
        if obj in self.renames:
            module, name = self.renames[obj]
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        super().save_global(obj, name)


def native_numpy_pickle(obj, renames=None):
    buffer = io.BytesIO()
    renames = renames or {legacy.NetworkState: ("dnnlib.tflib.network", "Network")}
    _RenamingPickler(buffer, renames).dump(obj)
    return buffer.getvalue()


def write_states(path, states):
    with open(path, "wb") as file:
        legacy._OriginalFormatPickler(file, protocol=4).dump(states)
    return path


class _SystemCall:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_crafted_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_SystemCall(f"touch {marker}"), protocol=4))
    with pytest.raises(legacy.LegacyPickleError, match=r"refusing to load (posix|os|nt)\.system"):
        legacy.load_networks(path)
    assert not marker.exists()


def test_crafted_global_inside_a_network_state_is_refused(tmp_path, original_states):
    states = copy.deepcopy(original_states)
    states[0].state["static_kwargs"]["resolution"] = _SystemCall("echo hi")
    path = tmp_path / "evil_state.pkl"
    path.write_bytes(native_numpy_pickle(states))
    with pytest.raises(legacy.LegacyPickleError, match=r"refusing to load (posix|os|nt)\.system"):
        legacy.load_networks(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "truncated.pkl"
    path.write_bytes(FIXTURE_PKL.read_bytes()[:5000])
    with pytest.raises(legacy.LegacyPickleError, match="truncated or corrupt"):
        legacy.load_networks(path)


@pytest.mark.parametrize("content,message", [(b"\x89PNG\r\n\x1a\n....", "not a pickle"),
                                             (b"", "empty")])
def test_not_a_pickle(tmp_path, content, message):
    path = tmp_path / "file.pkl"
    path.write_bytes(content)
    with pytest.raises(legacy.LegacyPickleError, match=message):
        legacy.load_networks(path)


def test_missing_file(tmp_path):
    with pytest.raises(legacy.LegacyPickleError, match="cannot read"):
        legacy.load_networks(tmp_path / "nope.pkl")


def test_a_pytorch_module_outside_a_training_loop_dict_is_named(tmp_path):
    from hostile_files import TorchModule, _StandIns
    path = tmp_path / "module.pkl"
    with _StandIns():
        path.write_bytes(pickle.dumps(TorchModule("Generator", ""), protocol=4))
    with pytest.raises(legacy.LegacyPickleError, match="a PyTorch Generator on its own; expected the release's "
                                                       "training-loop dict"):
        legacy.load_networks(path)


@pytest.mark.parametrize("func,message", [("G_main", "stores variables that the rebuilt network does not have"),
                                          ("G_paper", "Progressive GAN"),
                                          ("G_mystery", "unknown build function 'G_mystery'")])
def test_other_build_functions(tmp_path, original_states, func, message):
    states = copy.deepcopy(original_states)
    states[0].state["build_func_name"] = func
    with pytest.raises(legacy.LegacyPickleError, match=message):
        legacy.load_networks(write_states(tmp_path / "other.pkl", states))


def test_shape_mismatch_names_the_variable(tmp_path, original_states):
    states = copy.deepcopy(original_states)
    variables = states[1].state["variables"]
    name, value = variables[1]
    variables[1] = (name, np.zeros(value.shape[:-1] + (value.shape[-1] + 1,), np.float32))
    with pytest.raises(legacy.LegacyPickleError, match=f"variable {name} has shape"):
        legacy.load_networks(write_states(tmp_path / "shape.pkl", states))


def test_unused_and_unassigned_variables_are_errors(tmp_path, original_states):
    states = copy.deepcopy(original_states)
    states[1].state["variables"].append(("extra/weight", np.zeros(3, np.float32)))
    with pytest.raises(legacy.LegacyPickleError, match="does not have: extra/weight"):
        legacy.load_networks(write_states(tmp_path / "extra.pkl", states))
    states = copy.deepcopy(original_states)
    removed = states[1].state["variables"].pop(3)[0]
    with pytest.raises(legacy.LegacyPickleError, match=f"does not store {removed}"):
        legacy.load_networks(write_states(tmp_path / "missing.pkl", states))


def test_unknown_static_kwarg_is_named(tmp_path, original_states):
    states = copy.deepcopy(original_states)
    states[1].state["static_kwargs"]["fmap_maximum"] = 3
    with pytest.raises(legacy.LegacyPickleError, match="fmap_maximum"):
        legacy.load_networks(write_states(tmp_path / "kwarg.pkl", states))


def test_numpy2_module_names_load_too(tmp_path, original_states):
    # The official pickles reference numpy.core.*; NumPy 2 writes numpy._core.*. Both load.
    data = native_numpy_pickle(original_states)
    assert b"numpy._core" in data or np.__version__ < "2"
    path = tmp_path / "numpy2.pkl"
    path.write_bytes(data)
    G, D, Gs = legacy.load_networks(path)
    assert G.resolution == original_states[0].state["static_kwargs"]["resolution"]


@pytest.mark.parametrize("fixture_dir", all_fixture_dirs(), ids=lambda path: path.name)
def test_saved_networks_reproduce_the_original_pickle_exactly(tmp_path, fixture_dir):
    original_states = legacy.read_pickle(fixture_dir / "network.pkl")
    G, D, Gs = legacy.load_networks(fixture_dir / "network.pkl")
    path = tmp_path / "resaved.pkl"
    legacy.save_networks(path, G, D, Gs)
    resaved = legacy.read_pickle(path)
    assert b"dnnlib.tflib.network" in path.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # nothing left behind by the atomic write

    def flatten(state):
        yield state["name"], state["build_func_name"], state["static_kwargs"], state["version"]
        if state["version"] >= 5:  # StyleGAN2-ADA's record of the inputs and outputs
            yield tuple(repr(state[key]) for key in ("input_shapes", "output_shapes", "input_names", "output_names"))
        for name, value in state["variables"]:
            yield name, np.asarray(value).dtype, np.asarray(value).shape, np.asarray(value).tobytes()
        for key, component in state.get("components", {}).items():
            yield key
            yield from flatten(component.state)

    for original, ours in zip(original_states, resaved):
        assert list(flatten(ours.state)) == list(flatten(original.state))
        # A one-line module importing the release's networks, so the original code loads it too.
        module = {3: "networks_stylegan", 4: "networks_stylegan2", 5: "networks"}[original.state["version"]]
        assert ours.state["build_module_src"] == f"from training.{module} import *\n"
    # Our own file round-trips byte for byte: load -> save writes exactly what was read.
    legacy.save_networks(tmp_path / "again.pkl", *legacy.load_networks(path))
    assert (tmp_path / "again.pkl").read_bytes() == path.read_bytes()


def test_single_network_round_trip(tmp_path):
    D = networks.Discriminator(resolution=8, num_channels=3, fmap_base=32, fmap_max=16,
                               mbstd_group_size=0, name="classifier")
    legacy.save_network(tmp_path / "classifier.pkl", D)
    loaded = legacy.load_network(tmp_path / "classifier.pkl")
    images = np.random.RandomState(0).randn(2, 8, 8, 3).astype(np.float32)
    np.testing.assert_array_equal(loaded(images).numpy(), D(images).numpy())
    assert loaded.name == "classifier" and loaded.minibatch_stddev is None


def test_original_variables_cover_every_keras_weight():
    G = networks.Generator(resolution=8, fmap_base=32, fmap_max=16, latent_size=8,
                           dlatent_size=8, mapping_fmaps=8, label_size=2,
                           const_input_layer=False)
    D = networks.Discriminator(resolution=8, num_channels=3, fmap_base=32, fmap_max=16,
                               label_size=2)
    for net in (G, D):
        named = {id(v) for v in legacy.original_variables(net).values()}
        assert named == {id(v) for v in net.weights}
    assert "G_mapping/LabelConcat/weight" in legacy.original_variables(G)
    assert "G_synthesis/4x4/Dense/weight" in legacy.original_variables(G)


def test_layout_conversions_invert_each_other():
    rng = np.random.RandomState(0)
    cases = {"G_synthesis/noise3": (1, 8, 8, 1), "G_synthesis/4x4/Const/const": (1, 4, 4, 6),
             "4x4/Dense0/weight": (16 * 6, 5), "G_synthesis/4x4/Dense/weight": (7, 16 * 6),
             "G_mapping/Dense0/weight": (4, 4)}
    for name, keras_shape in cases.items():
        value = rng.randn(*keras_shape).astype(np.float32)
        stored = legacy.to_original_layout(name, value)
        assert stored.shape == legacy.original_shape(name, keras_shape)
        np.testing.assert_array_equal(legacy.to_keras_layout(name, stored, keras_shape), value)
    # D's Dense0 rows: original (c, h, w) order -> ours (h, w, c).
    stored = np.arange(16 * 2)[:, np.newaxis].astype(np.float32)  # row index = c*16 + h*4 + w
    ours = legacy.to_keras_layout("4x4/Dense0/weight", stored, (32, 1))[:, 0]
    assert ours[0 * 8 + 1 * 2 + 1] == 1 * 16 + 0 * 4 + 1  # (h=0, w=1, c=1)


# ---- kwargs hold what the original's hold, and are written back as they were --------------------

_NESTED_KERNEL = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
# Kernel arguments as a user's or a later release's pickle holds them: list, tuple, nested, and
# (StyleGAN2's build functions ignore unknown keys) a nested dict of a later keyword.
_KERNEL_CASES = {"list": [1, 1], "tuple": (1, 3, 3, 1), "nested": _NESTED_KERNEL,
                 "nested_tuple": ((1, 2, 1), (2, 4, 2), (1, 2, 1))}


def _with_kernel_kwargs(states, key, value, extra=None):
    """The original's states with `key=value` in every network's and component's static_kwargs."""
    states = copy.deepcopy(states)

    def visit(state):
        state["static_kwargs"][key] = copy.deepcopy(value)
        state["static_kwargs"].update(copy.deepcopy(extra or {}))
        for component in (state.get("components") or {}).values():
            visit(component.state)
    for net in states:
        visit(net.state)
    return states


def _state_repr(state):
    """Everything a state holds, with the types of its kwargs (repr tells a list from a tuple)."""
    parts = [state["name"], state["build_func_name"], repr(state["static_kwargs"]), state["version"]]
    parts += [(name, np.asarray(value).dtype.str, np.asarray(value).tobytes()) for name, value in state["variables"]]
    for key, component in sorted((state.get("components") or {}).items()):
        parts += [key, _state_repr(component.state)]
    return parts


@pytest.mark.parametrize("case", sorted(_KERNEL_CASES))
@pytest.mark.parametrize("family", ["stylegan", "stylegan2"])
def test_list_tuple_and_nested_kwargs_round_trip_exactly(tmp_path, family, case):
    fixture = fixture_dirs(f"original-{family}", "STYLEGAN_FIXTURES")[0] / "network.pkl"
    key = "blur_filter" if family == "stylegan" else "resample_kernel"
    extra = {"later_kwarg": {"p": [0.5, (1, 2)], "names": ("a", None)}} if family == "stylegan2" else None
    original = _with_kernel_kwargs(legacy.read_pickle(fixture), key, _KERNEL_CASES[case], extra)
    written = write_states(tmp_path / "original.pkl", original)  # the original's states, its module source
    G, D, Gs = legacy.load_networks(written)
    assert G.static_kwargs[key] == _KERNEL_CASES[case] and type(G.static_kwargs[key]) is type(_KERNEL_CASES[case])
    legacy.save_networks(tmp_path / "saved.pkl", G, D, Gs)
    saved = legacy.read_pickle(tmp_path / "saved.pkl")
    for ours, theirs in zip(saved, original):
        assert _state_repr(ours.state) == _state_repr(theirs.state)
    # Our own file round-trips byte for byte: load -> save writes exactly what was read.
    again = legacy.load_networks(tmp_path / "saved.pkl")
    legacy.save_networks(tmp_path / "again.pkl", *again)
    assert (tmp_path / "again.pkl").read_bytes() == (tmp_path / "saved.pkl").read_bytes()


def test_kwargs_read_back_cannot_be_changed_by_callers():
    G = networks.Generator(resolution=8, fmap_base=32, fmap_max=16, latent_size=8, dlatent_size=8,
                           mapping_fmaps=8, blur_filter=[1, 2, 1])
    G.static_kwargs["blur_filter"].append(7)  # a copy
    assert G.static_kwargs["blur_filter"] == [1, 2, 1]
    assert G.get_config()["static_kwargs"]["blur_filter"] == [1, 2, 1]


def test_deeply_nested_or_large_kwargs_are_refused(tmp_path, original_states):
    deep = [[[[[1]]]]]
    states = _with_kernel_kwargs(original_states, "blur_filter", deep)
    with pytest.raises(legacy.LegacyPickleError, match="static_kwargs blur_filter nests"):
        legacy.load_networks(write_states(tmp_path / "deep.pkl", states))
    states = _with_kernel_kwargs(original_states, "blur_filter", [[1] * 200, [1] * 200])
    with pytest.raises(legacy.LegacyPickleError, match="static_kwargs blur_filter holds more than 256"):
        legacy.load_networks(write_states(tmp_path / "large.pkl", states))
