"""stylegan2-ada-pytorch's and StyleGAN3's networks, read as the StyleGAN2-ADA TF release's (state version 5).

The PyTorch release computes what the TF release computes, with other layouts (its own `legacy.py`
converts one way). Here the inert `torch_pickle.PersistentObject`s of a `.pkl` become the TF
release's `Network` states, which `legacy` builds and checks like any TF pickle:

- kwargs: `z_dim`/`w_dim`/`c_dim` -> `latent_size`/`dlatent_size`/`label_size`, `channel_base` ->
  `fmap_base` = channel_base / 2 (channels = min(channel_base / res, channel_max) in both), the
  mapping's `embed_features`/`layer_features` -> `label_fmaps`/`mapping_fmaps`, D's `cmap_dim` ->
  `mapping_fmaps` with its label mapping's own depth and lr multiplier (8 layers at 0.01 by default,
  where the TF release defaults to 0 at 0.1), `fp16_channels_last` dropped (a memory format only);
- tensors: conv weights [out, in, k, k] -> [k, k, in, out], dense [out, in] -> [in, out], the
  up-sampling `conv0` and G's `skip` kernels flipped, `affine.bias` - 1 -> `mod_bias`,
  `const` [C, 4, 4] -> [1, C, 4, 4], per-layer `noise_const` [r, r] -> `noise<i>` [1, 1, r, r],
  `mapping.w_avg` -> `dlatent_avg`; each fixed `resample_filter` buffer is checked, then dropped.

StyleGAN3's files hold the same Discriminator and either its re-release of these generators (other
defaults; the synthesis kwargs flattened into the Generator's) or its own generator, which becomes this
project's `G_stylegan3` (`networks.stylegan3`: the same names with '/', conv and dense layouts as
above, buffers as stored). Which one a file holds is known from its module source.

Every stored tensor must be consumed and every variable of the rebuilt network assigned (by
`legacy.network_from_state`); a persistent class whose module source is not one of the releases'
known versions is refused unless its SHA-256 is passed in `trusted_sources` (which of the releases'
classes it stands for is then read from its structure).
"""

import re

import numpy as np

from stylegan_tf.torch_pickle import PersistentObject

# SHA-256 of the module source a persistent class pickles (BOM stripped, as inspect.getsource reads it):
# (what it is, its family). "ada": stylegan2-ada-pytorch's networks.py; "sg3-stylegan2": StyleGAN3's
# re-release of them (other defaults, the synthesis kwargs flattened into the Generator's); "sg3":
# StyleGAN3's generator; "augment": an AugmentPipe.
KNOWN_MODULE_SOURCES = {
    "53b4e1ec457171d4e2c1454d48013765ab626141c35cdd383b020950effe11a5":
        ("stylegan2-ada-pytorch training/networks.py (commit 375a436, 2021-01-30)", "ada"),
    "77eb17876bc7ba87cdc9281caf925daf507ce0937b84d0f32134d4d08e13061e":
        ("stylegan2-ada-pytorch training/augment.py (commit 375a436, 2021-01-30)", "augment"),
    "b6f14e8fa2a95de4d38218fef31380c6a70de770f585107e209ff83075c307ef":
        ("stylegan3 training/networks_stylegan2.py (commits 8fb5177, 583f2bd, 2021-10)", "sg3-stylegan2"),
    "06082fb3e8929e477f58fb8bc78e7ecb9a9209eb01444272d1d153c85a6a89f7":
        ("stylegan3 training/networks_stylegan3.py (commits 8fb5177, 583f2bd, 2021-10)", "sg3"),
    "43c6b98bc68d5d214dd2e2775a10eb007dee034c005766fbc310005147bfb788":
        ("stylegan3 training/augment.py (commits 8fb5177, 583f2bd, 2021-10)", "augment"),
}
GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")
DISCRIMINATOR_ARGS = ("c_dim", "img_resolution", "img_channels", "architecture", "channel_base", "channel_max",
                      "num_fp16_res", "conv_clamp", "cmap_dim", "block_kwargs", "mapping_kwargs", "epilogue_kwargs")


class PyTorchPickleError(ValueError):
    """A stylegan2-ada-pytorch / StyleGAN3 pickle that cannot be read as the TF release's networks."""


def source_family(obj):
    """The family of the release module source `obj` was pickled with (None: a trusted other source)."""
    known = KNOWN_MODULE_SOURCES.get(obj.module_sha256)
    return known[1] if known else None


def source_description(obj):
    """Which release version's module source `obj` was pickled with, or the hash of a trusted other one."""
    known = KNOWN_MODULE_SOURCES.get(obj.module_sha256)
    return known[0] if known else f"trusted module source {obj.module_sha256}"


def check_sources(obj, trusted_sources=(), where="G"):
    """Raises unless every persistent object under `obj` comes from a known (or trusted) module source."""
    if obj.module_sha256 not in KNOWN_MODULE_SOURCES and obj.module_sha256 not in set(trusted_sources):
        raise PyTorchPickleError(
            f"{where} ({obj.class_name}) was pickled with a module source that is not one of the releases' "
            f"(SHA-256 {obj.module_sha256}): a fork's networks may compute something else under the same names. "
            f"Pass --trusted_source={obj.module_sha256} (trusted_sources in Python) to read it anyway; nothing in "
            "it is executed either way.")
    for name, child in (obj.state.get("_modules") or {}).items():
        if child is not None:
            check_sources(child, trusted_sources, f"{where}.{name}")


def init_kwargs(obj, arg_names):
    """The persistent object's constructor arguments as one dict (positional ones named)."""
    args, kwargs = obj.state.get("_init_args", ()), obj.state.get("_init_kwargs", {})
    if not isinstance(args, (tuple, list)) or not isinstance(kwargs, dict) or len(args) > len(arg_names):
        raise PyTorchPickleError(f"{obj.class_name} has unreadable constructor arguments.")
    merged = dict(zip(arg_names, args))
    for key, value in kwargs.items():
        if key in merged:
            raise PyTorchPickleError(f"{obj.class_name}: {key} is given twice.")
        merged[key] = value
    return merged


def tensors(obj, prefix=""):
    """{dotted name: array} of every parameter and buffer under a persistent module."""
    found = {}
    for field in ("_parameters", "_buffers"):
        entries = obj.state.get(field) or {}
        if not isinstance(entries, dict):
            raise PyTorchPickleError(f"{prefix or obj.class_name}: {field} is a {type(entries).__name__}.")
        for name, value in entries.items():
            if value is None:
                continue
            if not isinstance(value, np.ndarray):
                raise PyTorchPickleError(f"{prefix}{name} is a {type(value).__name__}, not a tensor.")
            found[prefix + name] = value
    for name, child in (obj.state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentObject):
            raise PyTorchPickleError(f"{prefix}{name} is a {type(child).__name__}, not one of the release's "
                                     "persistent modules.")
        found.update(tensors(child, f"{prefix}{name}."))
    return found


def _required(kwargs, names, what):
    missing = [name for name in names if name not in kwargs]
    if missing:
        raise PyTorchPickleError(f"{what}: its constructor arguments lack {', '.join(missing)}.")


def _known(kwargs, allowed, what):
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise PyTorchPickleError(f"{what}: unknown argument {unknown[0]!r} (not one of stylegan2-ada-pytorch's).")
    return kwargs


def _sub(kwargs, key, allowed, what):
    value = kwargs.get(key) or {}
    if not isinstance(value, dict):
        raise PyTorchPickleError(f"{what}: {key} is a {type(value).__name__}, expected a dict.")
    return _known(dict(value), allowed, f"{what} {key}")


def _fmap_base(channel_base, what):
    if not isinstance(channel_base, int) or isinstance(channel_base, bool) or channel_base <= 0 or channel_base % 2:
        raise PyTorchPickleError(f"{what}: channel_base {channel_base!r} is not a positive even integer "
                                 "(the TF layout's fmap_base is half of it).")
    return channel_base // 2


# Defaults that differ between the two releases of these classes (constructor arguments left out of a
# pickle take them): mapping w_avg_beta, synthesis and D num_fp16_res and conv_clamp.
_FAMILY_DEFAULTS = {"ada": dict(w_avg_beta=0.995, num_fp16_res=0, conv_clamp=None),
                    "sg3-stylegan2": dict(w_avg_beta=0.998, num_fp16_res=4, conv_clamp=256)}
_SYNTHESIS_ARGS = ("channel_base", "channel_max", "num_fp16_res", "architecture", "resample_filter", "conv_clamp",
                   "fp16_channels_last", "use_noise", "activation", "kernel_size", "fused_modconv_default")


def _split_generator_kwargs(kwargs, family, extra_args=_SYNTHESIS_ARGS):
    """(G kwargs, synthesis kwargs): StyleGAN3's releases take the synthesis kwargs flattened."""
    if family == "ada":
        _known(kwargs, GENERATOR_ARGS, "Generator")
        return kwargs, _sub(kwargs, "synthesis_kwargs", _SYNTHESIS_ARGS, "Generator")
    own = GENERATOR_ARGS[:6]
    _known(kwargs, own + tuple(extra_args), "Generator")
    return kwargs, {key: value for key, value in kwargs.items() if key not in own}


def generator_kwargs(kwargs, family="ada"):
    """The TF release's G_main static kwargs of a stylegan2-ada-pytorch Generator (or of StyleGAN3's
    re-release of it, `family` "sg3-stylegan2")."""
    defaults = _FAMILY_DEFAULTS[family]
    kwargs, synthesis = _split_generator_kwargs(kwargs, family)
    _required(kwargs, GENERATOR_ARGS[:5], "Generator")
    mapping = _sub(kwargs, "mapping_kwargs", ("num_layers", "embed_features", "layer_features", "activation",
                                              "lr_multiplier", "w_avg_beta"), "Generator")
    if synthesis.get("kernel_size", 3) != 3:
        raise PyTorchPickleError("Generator: only 3x3 synthesis convolutions exist in the TF layout.")
    if mapping.get("w_avg_beta", 0.995) is None:
        raise PyTorchPickleError("Generator: a mapping without w_avg (w_avg_beta=None) has no TF counterpart.")
    if not kwargs.get("z_dim"):
        raise PyTorchPickleError("Generator: z_dim 0 (no latent input) has no TF counterpart.")
    w_dim = kwargs["w_dim"]
    return dict(
        latent_size=kwargs["z_dim"], label_size=kwargs["c_dim"], dlatent_size=w_dim,
        resolution=kwargs["img_resolution"], num_channels=kwargs["img_channels"],
        mapping_layers=mapping.get("num_layers", 8), mapping_fmaps=mapping.get("layer_features") or w_dim,
        label_fmaps=mapping.get("embed_features") or w_dim, mapping_lrmul=mapping.get("lr_multiplier", 0.01),
        mapping_nonlinearity=mapping.get("activation", "lrelu"),
        dlatent_avg_beta=mapping.get("w_avg_beta", defaults["w_avg_beta"]),
        fmap_base=_fmap_base(synthesis.get("channel_base", 32768), "Generator"),
        fmap_max=synthesis.get("channel_max", 512),
        num_fp16_res=synthesis.get("num_fp16_res", defaults["num_fp16_res"]),
        conv_clamp=synthesis.get("conv_clamp", defaults["conv_clamp"]),
        architecture=synthesis.get("architecture", "skip"),
        resample_kernel=list(synthesis.get("resample_filter", [1, 3, 3, 1])),
        use_noise=synthesis.get("use_noise", True), nonlinearity=synthesis.get("activation", "lrelu"),
        # The PyTorch Generator's forward defaults: no truncation.
        truncation_psi=1.0)


_SG3_SYNTHESIS_ARGS = {"channel_base": "channel_base", "channel_max": "channel_max", "num_layers": "synthesis_layers",
                       "num_critical": "num_critical", "first_cutoff": "first_cutoff",
                       "first_stopband": "first_stopband", "last_stopband_rel": "last_stopband_rel",
                       "margin_size": "margin_size", "output_scale": "output_scale", "num_fp16_res": "num_fp16_res",
                       "conv_kernel": "conv_kernel", "filter_size": "filter_size",
                       "lrelu_upsampling": "lrelu_upsampling", "use_radial_filters": "use_radial_filters",
                       "conv_clamp": "conv_clamp", "magnitude_ema_beta": "magnitude_ema_beta"}


def stylegan3_generator_kwargs(kwargs):
    """`GeneratorSG3` static kwargs of a StyleGAN3 Generator (networks_stylegan3)."""
    kwargs, synthesis = _split_generator_kwargs(kwargs, "sg3", _SG3_SYNTHESIS_ARGS)
    _required(kwargs, GENERATOR_ARGS[:5], "Generator")
    mapping = _sub(kwargs, "mapping_kwargs", ("num_layers", "lr_multiplier", "w_avg_beta"), "Generator")
    w_dim = kwargs["w_dim"]
    converted = dict(
        latent_size=kwargs["z_dim"], label_size=kwargs["c_dim"], dlatent_size=w_dim,
        resolution=kwargs["img_resolution"], num_channels=kwargs["img_channels"],
        mapping_layers=mapping.get("num_layers", 2), mapping_fmaps=w_dim, label_fmaps=w_dim,
        mapping_lrmul=mapping.get("lr_multiplier", 0.01), dlatent_avg_beta=mapping.get("w_avg_beta", 0.998),
        truncation_psi=1.0)
    converted.update({_SG3_SYNTHESIS_ARGS[key]: value for key, value in synthesis.items()})
    return converted


def discriminator_kwargs(kwargs, family="ada"):
    """The TF release's D_main static kwargs of a stylegan2-ada-pytorch Discriminator (or StyleGAN3's)."""
    defaults = _FAMILY_DEFAULTS[family]
    _known(kwargs, DISCRIMINATOR_ARGS, "Discriminator")
    _required(kwargs, DISCRIMINATOR_ARGS[:3], "Discriminator")
    block = _sub(kwargs, "block_kwargs", ("activation", "resample_filter", "fp16_channels_last", "freeze_layers"),
                 "Discriminator")
    mapping = _sub(kwargs, "mapping_kwargs", ("num_layers", "embed_features", "layer_features", "activation",
                                              "lr_multiplier"), "Discriminator")
    epilogue = _sub(kwargs, "epilogue_kwargs", ("mbstd_group_size", "mbstd_num_channels", "activation"),
                    "Discriminator")
    activation = block.get("activation", "lrelu")
    resolution, c_dim = kwargs["img_resolution"], kwargs["c_dim"]
    channel_base, channel_max = kwargs.get("channel_base", 32768), kwargs.get("channel_max", 512)
    cmap_dim = kwargs.get("cmap_dim")
    if cmap_dim is None and isinstance(channel_base, int) and isinstance(channel_max, int):
        cmap_dim = min(channel_base // 4, channel_max)
    label_mapping = {}
    if c_dim:
        for key in ("embed_features", "layer_features"):
            if mapping.get(key) not in (None, cmap_dim):
                raise PyTorchPickleError(f"Discriminator: mapping {key}={mapping[key]!r} differs from cmap_dim "
                                         f"{cmap_dim}, which the TF layout cannot express.")
        label_mapping = dict(mapping_layers=mapping.get("num_layers", 8), mapping_lrmul=mapping.get("lr_multiplier",
                                                                                                   0.01))
    for what, value in (("mapping", mapping.get("activation", activation)),
                        ("epilogue", epilogue.get("activation", activation))):
        if value != activation:
            raise PyTorchPickleError(f"Discriminator: the {what} activation {value!r} differs from the blocks' "
                                     f"{activation!r}, which the TF layout cannot express.")
    return dict(
        label_size=c_dim, resolution=resolution, num_channels=kwargs["img_channels"],
        architecture=kwargs.get("architecture", "resnet"), fmap_base=_fmap_base(channel_base, "Discriminator"),
        fmap_max=channel_max, num_fp16_res=kwargs.get("num_fp16_res", defaults["num_fp16_res"]),
        conv_clamp=kwargs.get("conv_clamp", defaults["conv_clamp"]),
        mapping_fmaps=cmap_dim if c_dim else None, nonlinearity=activation,
        resample_kernel=list(block.get("resample_filter", [1, 3, 3, 1])),
        freeze_layers=block.get("freeze_layers", 0), mbstd_group_size=epilogue.get("mbstd_group_size", 4),
        mbstd_num_features=epilogue.get("mbstd_num_channels", 1), **label_mapping)


# (PyTorch name pattern, TF original name template, conversion). Conversions: "conv" [O, I, k, k] ->
# [k, k, I, O]; "conv_flip" the same, spatially flipped (PyTorch convolves where TF transposes);
# "dense" transposed; "mod_bias" minus the bias_init of 1; "const" and "noise" to NCHW batch-1 arrays.
_MAPPING_RULES = [  # a generator's mapping (both releases' generators)
    (r"mapping\.w_avg", "dlatent_avg", None),
    (r"mapping\.embed\.(weight|bias)", "G_mapping/LabelEmbed/{0}", "dense"),
    (r"mapping\.fc(\d+)\.(weight|bias)", "G_mapping/Dense{0}/{1}", "dense"),
]
_G_RULES = _MAPPING_RULES + [
    (r"synthesis\.b4\.const", "G_synthesis/4x4/Const/const", "const"),
    (r"synthesis\.b(\d+)\.(conv0|conv1|torgb)\.(weight|bias|noise_strength)", "G_synthesis/{layer}/{2}", "conv_up"),
    (r"synthesis\.b(\d+)\.(conv0|conv1|torgb)\.affine\.weight", "G_synthesis/{layer}/mod_weight", "dense"),
    (r"synthesis\.b(\d+)\.(conv0|conv1|torgb)\.affine\.bias", "G_synthesis/{layer}/mod_bias", "mod_bias"),
    (r"synthesis\.b(\d+)\.(conv0|conv1)\.noise_const", "G_synthesis/noise{noise}", "noise"),
    (r"synthesis\.b(\d+)\.skip\.weight", "G_synthesis/{0}x{0}/Skip/weight", "conv_flip"),
]
_D_RULES = [
    (r"mapping\.embed\.(weight|bias)", "LabelEmbed/{0}", "dense"),
    (r"mapping\.fc(\d+)\.(weight|bias)", "Mapping{0}/{1}", "dense"),
    (r"b(\d+)\.fromrgb\.(weight|bias)", "{0}x{0}/FromRGB/{1}", "conv"),
    (r"b(\d+)\.conv0\.(weight|bias)", "{0}x{0}/Conv0/{1}", "conv"),
    (r"b(\d+)\.conv1\.(weight|bias)", "{0}x{0}/Conv1_down/{1}", "conv"),
    (r"b(\d+)\.skip\.weight", "{0}x{0}/Skip/weight", "conv"),
    (r"b4\.conv\.(weight|bias)", "4x4/Conv/{0}", "conv"),
    (r"b4\.fc\.(weight|bias)", "4x4/Dense0/{0}", "dense"),
    (r"b4\.out\.(weight|bias)", "Output/{0}", "dense"),
]
_G_LAYERS = {"conv0": "Conv0_up", "conv1": "Conv1", "torgb": "ToRGB"}


def _convert(kind, value, up_conv=False):
    if value.ndim == 4 and kind in ("conv", "conv_up", "conv_flip"):
        value = value.transpose(2, 3, 1, 0)
        if kind == "conv_flip" or up_conv:
            value = value[::-1, ::-1]
    elif value.ndim == 2 and kind == "dense":
        value = value.T
    elif kind == "mod_bias":
        value = value - 1
    elif kind == "const":
        value = value[np.newaxis]
    elif kind == "noise":
        value = value[np.newaxis, np.newaxis]
    return np.array(value, dtype=np.float32, order="C")  # (ascontiguousarray would make a scalar 1-D)


def _original_name(rules, name):
    for pattern, template, kind in rules:
        match = re.fullmatch(pattern, name)
        if match:
            groups = match.groups()
            fields = {}
            up_conv = False
            if "{layer}" in template or "{noise}" in template:
                res, layer = int(groups[0]), groups[1]
                log2 = int(np.log2(res))
                size = "4x4/Conv" if res == 4 and layer == "conv1" else f"{res}x{res}/{_G_LAYERS[layer]}"
                fields = dict(layer=size, noise=0 if res == 4 else 2 * log2 - (5 if layer == "conv0" else 4))
                up_conv = layer == "conv0"
            return template.format(*groups, **fields), kind, up_conv
    return None, None, False


def to_original(kind, name, value, gradient=False):
    """(original name, array in its TF layout) of one PyTorch tensor of a Generator ('G'), StyleGAN3
    generator ('G3') or Discriminator ('D'); a gradient is moved like its variable but not shifted
    (`mod_bias`)."""
    rules = {"G": _G_RULES, "G3": _SG3_G_RULES, "D": _D_RULES}[kind]
    original, conversion, up_conv = _original_name(rules, name)
    if original is None:
        raise KeyError(name)
    if gradient and conversion == "mod_bias":
        conversion = None
    return original, _convert(conversion, np.asarray(value), up_conv)


def setup_filter(kernel):
    """The normalized 2-D FIR filter the release registers as each layer's `resample_filter` buffer."""
    kernel = np.asarray(kernel, dtype=np.float32)
    kernel = np.outer(kernel, kernel) if kernel.ndim == 1 else kernel
    return kernel / kernel.sum()


def convert_tensors(stored, rules, kernel, what):
    """[(TF original name, array)] of a module's {PyTorch name: array}; refuses any other tensor."""
    expected_filter = setup_filter(kernel) if kernel is not None else None
    variables = []
    for name, value in stored.items():
        if name.endswith("resample_filter") and expected_filter is not None:
            if value.shape != expected_filter.shape or not np.allclose(value, expected_filter, rtol=1e-6, atol=1e-7):
                raise PyTorchPickleError(f"{what}: {name} is not the filter its kwargs declare.")
            continue
        original, kind, up_conv = _original_name(rules, name)
        if original is None:
            raise PyTorchPickleError(f"{what} stores a tensor {name!r} that the release's networks do not have.")
        variables.append((original, _convert(kind, value, up_conv)))
    return variables


def generator_variables(obj, kwargs):
    return convert_tensors(tensors(obj), _G_RULES, kwargs["resample_kernel"], obj.class_name)


def discriminator_variables(obj, kwargs):
    return convert_tensors(tensors(obj), _D_RULES, kwargs["resample_kernel"], obj.class_name)


def is_pytorch_networks(data):
    """Whether an unpickled object is a stylegan2-ada-pytorch / StyleGAN3 training-loop dict."""
    return isinstance(data, dict) and any(isinstance(data.get(key), PersistentObject) for key in ("G", "D", "G_ema"))


_SG3_G_RULES = _MAPPING_RULES + [
    (r"synthesis\.input\.weight", "G_synthesis/input/weight", "dense"),
    (r"synthesis\.input\.affine\.(weight|bias)", "G_synthesis/input/affine/{0}", "dense"),
    (r"synthesis\.input\.(transform|freqs|phases)", "G_synthesis/input/{0}", None),
    (r"synthesis\.(L\d+_\d+_\d+)\.weight", "G_synthesis/{0}/weight", "conv"),
    (r"synthesis\.(L\d+_\d+_\d+)\.(bias|magnitude_ema|up_filter|down_filter)", "G_synthesis/{0}/{1}", None),
    (r"synthesis\.(L\d+_\d+_\d+)\.affine\.(weight|bias)", "G_synthesis/{0}/affine/{1}", "dense"),
]


def _generator_family(obj):
    """A Generator's family: known from its source, else read from its structure (StyleGAN3's synthesis
    has an `input`; StyleGAN3's StyleGAN2 flattens the synthesis kwargs)."""
    family = source_family(obj)
    if family:
        return family
    synthesis = (obj.state.get("_modules") or {}).get("synthesis")
    if isinstance(synthesis, PersistentObject) and "input" in (synthesis.state.get("_modules") or {}):
        return "sg3"
    return "ada" if "synthesis_kwargs" in (obj.state.get("_init_kwargs") or {}) else "sg3-stylegan2"


def network_records(data, trusted_sources=()):
    """[(what, build function, static kwargs, [(TF original name, array)], source description)] for G, D
    and Gs (= G_ema) of
    a stylegan2-ada-pytorch or StyleGAN3 pickle's dict, every module source checked first. StyleGAN3
    generators become `G_stylegan3` (this project's); the others the TF release's G_main / D_main."""
    entries = (("G", "G", "Generator"), ("D", "D", "Discriminator"), ("G_ema", "Gs", "Generator"))
    for key, _, class_name in entries:  # all three present and known before any is converted
        obj = data.get(key)
        if not isinstance(obj, PersistentObject):
            raise PyTorchPickleError(f"the file's {key!r} entry is missing or not a persistent network "
                                     f"(found {type(obj).__name__}).")
        check_sources(obj, trusted_sources, key)
        if obj.class_name != class_name:
            raise PyTorchPickleError(f"{key} is a {obj.class_name}; the releases' is a {class_name}.")
    families = {key: _generator_family(data[key]) for key in ("G", "G_ema")}
    records = []
    for key, what, class_name in entries:
        obj = data[key]
        if class_name == "Discriminator":
            family = source_family(obj) or ("ada" if families["G_ema"] == "ada" else "sg3-stylegan2")
            kwargs = discriminator_kwargs(init_kwargs(obj, DISCRIMINATOR_ARGS), family)
            records.append((what, "D_main", kwargs, discriminator_variables(obj, kwargs), source_description(obj)))
        elif families[key] == "sg3":
            kwargs = stylegan3_generator_kwargs(init_kwargs(obj, GENERATOR_ARGS))
            variables = convert_tensors(tensors(obj), _SG3_G_RULES, None, key)
            records.append((what, "G_stylegan3", kwargs, variables, source_description(obj)))
        else:
            kwargs = generator_kwargs(init_kwargs(obj, GENERATOR_ARGS), families[key])
            records.append((what, "G_main", kwargs, generator_variables(obj, kwargs), source_description(obj)))
    return records


AUGMENT_ARGS = ("xflip", "rotate90", "xint", "xint_max", "scale", "rotate", "aniso", "xfrac", "scale_std", "rotate_max",
                "aniso_std", "xfrac_std", "brightness", "contrast", "lumaflip", "hue", "saturation", "brightness_std",
                "contrast_std", "hue_max", "saturation_std", "imgfilter", "imgfilter_bands", "imgfilter_std", "noise",
                "cutout", "noise_std", "cutout_size")


def augment_settings(data, trusted_sources=()):
    """(op multipliers and ranges, p) of the file's `augment_pipe`, or None where it holds none. Its fixed
    filter buffers must be the release's sym6 wavelet and 4-band filter bank (those the pipeline uses)."""
    from stylegan_tf.ops.image_transforms import BAND_FILTERS, SYM6
    obj = data.get("augment_pipe")
    if obj is None:
        return None
    if not isinstance(obj, PersistentObject) or obj.class_name != "AugmentPipe":
        raise PyTorchPickleError(f"augment_pipe is a {getattr(obj, 'class_name', type(obj).__name__)}, not the "
                                 "release's AugmentPipe.")
    check_sources(obj, trusted_sources, "augment_pipe")
    kwargs = _known(init_kwargs(obj, AUGMENT_ARGS), AUGMENT_ARGS, "AugmentPipe")
    buffers = tensors(obj)
    if set(buffers) != {"p", "Hz_geom", "Hz_fbank"} or buffers["p"].shape != ():
        raise PyTorchPickleError(f"augment_pipe holds the tensors {sorted(buffers)}, not the release's p, Hz_geom "
                                 "and Hz_fbank.")
    geom = np.asarray(SYM6, np.float64) / np.sum(SYM6)
    bands = np.asarray(BAND_FILTERS, np.float64)
    if buffers["Hz_geom"].shape != geom.shape or not np.allclose(buffers["Hz_geom"], geom, atol=1e-6) \
            or buffers["Hz_fbank"].shape != bands.shape or not np.allclose(buffers["Hz_fbank"], bands, atol=1e-6):
        raise PyTorchPickleError("augment_pipe's filters are not the release's sym6 wavelet and 4-band filter bank.")
    p = float(buffers["p"])
    if not 0 <= p <= 1:  # (NaN fails too)
        raise PyTorchPickleError(f"augment_pipe's p is {p}, outside [0, 1].")
    kwargs = {key: tuple(value) if key == "imgfilter_bands" else value for key, value in kwargs.items()}
    return kwargs, p
