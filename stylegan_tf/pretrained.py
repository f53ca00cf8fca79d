"""The official pretrained StyleGAN networks and the resolution of every `--network` value.

The five networks of the original release (`pretrained_example.py` lists them) are registered with
`stylegan_tf.downloads` under short names ("ffhq-1024", ...). They download once into the cache
(`$STYLEGAN_CACHE`, default `~/.cache/stylegan_tf`) from NVIDIA's CDN and then work offline. NVIDIA
publishes no size or hash for these pickles, so their entries carry none: a downloaded file is
trusted as is, and the loader still refuses anything that is not a StyleGAN network pickle.

Example:
    from stylegan_tf import pretrained
    G, D, Gs = pretrained.load_networks("ffhq-1024")         # or a path, a run directory, a URL
    path = pretrained.resolve_network("results/00000-demo/network-snapshot-000140.pkl")
"""

import dataclasses
import hashlib
import os
import pathlib
import re
import urllib.parse
import urllib.request

from stylegan_tf import downloads
from stylegan_tf.training import snapshots

_CDN = "https://nvlabs-fi-cdn.nvidia.com/stylegan/networks/"
_DRIVE = "https://drive.google.com/uc?id="


@dataclasses.dataclass(frozen=True)
class PretrainedNetwork:
    """One downloadable network pickle `(G, D, Gs)`.

    Args:
        name: registry name, e.g. "ffhq-1024".
        filename: file name of the pickle, e.g. "karras2019stylegan-ffhq-1024x1024.pkl".
        url: where `fetch` downloads it from (http(s):// or file://).
        original_url: the address the original release used (Google Drive), accepted as an alias;
            Drive's download interstitial keeps it from being fetched directly.
        image_size: (width, height) of the useful image content.
        sha256: SHA-256 of the pickle, or None where none is published.
        size: size in bytes, or None where unknown.
        description: one line for listings and error messages.
    """
    name: str
    filename: str
    url: str
    original_url: str = None
    image_size: tuple = None
    sha256: str = None
    size: int = None
    description: str = ""

    @property
    def weight_file(self):
        """The `downloads.WeightFile` that fetches and caches this pickle."""
        return downloads.WeightFile(name=self.name, filename=self.filename, sha256=self.sha256,
                                    size=self.size, url=self.url, description=self.description)


NETWORKS = {}
_ALIASES = {}  # lower-case names and file names, and exact URLs -> registry name


def register_network(network):
    """Adds (or replaces) a network in this registry and in `downloads.REGISTRY`; returns it."""
    NETWORKS[network.name] = network
    for alias in (network.name.lower(), network.filename.lower(), network.url,
                  network.original_url):
        if alias:
            _ALIASES[alias] = network.name
    downloads.register(network.weight_file)
    return network


def _official(name, stem, drive_id, image_size, description):
    filename = f"karras2019stylegan-{stem}.pkl"
    return register_network(PretrainedNetwork(
        name=name, filename=filename, url=_CDN + filename, original_url=_DRIVE + drive_id,
        image_size=image_size, description=description))


_official("ffhq-1024", "ffhq-1024x1024", "1MEGjdvVpUsu1jB4zrXZN7Y4kBBOzizDQ", (1024, 1024),
          "StyleGAN, Flickr-Faces-HQ (FFHQ), 1024x1024")
_official("celebahq-1024", "celebahq-1024x1024", "1MGqJl28pN4t7SAtSrPdSRJSQJqahkzUf", (1024, 1024),
          "StyleGAN, CelebA-HQ, 1024x1024")
_official("bedrooms-256", "bedrooms-256x256", "1MOSKeGF0FJcivpBI7s63V9YHloUTORiF", (256, 256),
          "StyleGAN, LSUN Bedroom, 256x256")
_official("cars-512x384", "cars-512x384", "1MJ6iCfNtMIRicihwRorsM3b7mmtmK9c3", (512, 384),
          "StyleGAN, LSUN Car, 512x384 (stored as 512x512; the content is rows 64-447)")
_official("cats-256", "cats-256x256", "1MQywl0FNt6lHu8E_EUqnRbviagS7fbiJ", (256, 256),
          "StyleGAN, LSUN Cat, 256x256")


# The StyleGAN2 release (its `pretrained_networks.py`): config F for every dataset, the paper's
# Table 1 configs A-E for FFHQ and LSUN Car, and Table 2's architecture grid of config E. The name is
# the file name without .pkl; the release's `gdrive:networks/...` paths are aliases.
_CDN2 = "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"
_SG2_DATASETS = {"ffhq": ("Flickr-Faces-HQ (FFHQ), 1024x1024", (1024, 1024), "abcdef"),
                 "car": ("LSUN Car, 512x384 (stored as 512x512)", (512, 384), "abcdef"),
                 "cat": ("LSUN Cat, 256x256", (256, 256), "af"),
                 "church": ("LSUN Church, 256x256", (256, 256), "af"),
                 "horse": ("LSUN Horse, 256x256", (256, 256), "af")}


def _official_stylegan2(stem, image_size, description, folder=""):
    filename = f"{stem}.pkl"
    network = register_network(PretrainedNetwork(
        name=stem, filename=filename, url=_CDN2 + folder + filename, image_size=image_size,
        description=description))
    _ALIASES[f"gdrive:networks/{folder}{filename}"] = network.name


for _dataset, (_what, _size, _configs) in _SG2_DATASETS.items():
    for _config in _configs:
        _official_stylegan2(f"stylegan2-{_dataset}-config-{_config}", _size,
                            f"StyleGAN2 config {_config.upper()}, {_what}")
    if _dataset in ("ffhq", "car"):
        for _g in ("orig", "skip", "resnet"):
            for _d in ("orig", "skip", "resnet"):
                _official_stylegan2(f"stylegan2-{_dataset}-config-e-G{_g}-D{_d}", _size,
                                    f"StyleGAN2 config E, G {_g} / D {_d} (Table 2), {_what}", folder="table2/")


# StyleGAN2-ADA's pretrained networks, in its TF release's format (state version 5) and in
# stylegan2-ada-pytorch's (read without torch: `torch_pickle`, `pytorch_networks`). Both CDNs name the
# files alike, so the registry names and cache file names carry the release.
_ADA_NETWORKS = {"ffhq": ("FFHQ, 1024x1024, trained with the original StyleGAN2", 1024),
                 "metfaces": ("MetFaces, 1024x1024, transfer learning from FFHQ with ADA", 1024),
                 "afhqcat": ("AFHQ Cat, 512x512, trained from scratch with ADA", 512),
                 "afhqdog": ("AFHQ Dog, 512x512, trained from scratch with ADA", 512),
                 "afhqwild": ("AFHQ Wild, 512x512, trained from scratch with ADA", 512),
                 "brecahad": ("BreCaHAD, 512x512, trained from scratch with ADA", 512),
                 "cifar10": ("class-conditional CIFAR-10, 32x32", 32)}
for _release, _what in (("stylegan2-ada", "StyleGAN2-ADA (TF)"), ("stylegan2-ada-pytorch", "stylegan2-ada-pytorch")):
    for _dataset, (_description, _size) in _ADA_NETWORKS.items():
        register_network(PretrainedNetwork(
            name=f"{_release}-{_dataset}", filename=f"{_release}-{_dataset}.pkl",
            url=f"https://nvlabs-fi-cdn.nvidia.com/{_release}/pretrained/{_dataset}.pkl", image_size=(_size, _size),
            description=f"{_what}, {_description}"))


# StyleGAN3's networks on NVIDIA NGC (its README): the StyleGAN3 generators (T and R) and its
# re-release of StyleGAN2, both in the PyTorch format. Names are the file names without .pkl.
_NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/{}/versions/1/files/"
_SG3_FILES = {
    "stylegan3": ["stylegan3-t-ffhq-1024x1024", "stylegan3-t-ffhqu-1024x1024", "stylegan3-t-ffhqu-256x256",
                  "stylegan3-r-ffhq-1024x1024", "stylegan3-r-ffhqu-1024x1024", "stylegan3-r-ffhqu-256x256",
                  "stylegan3-t-metfaces-1024x1024", "stylegan3-t-metfacesu-1024x1024",
                  "stylegan3-r-metfaces-1024x1024", "stylegan3-r-metfacesu-1024x1024",
                  "stylegan3-t-afhqv2-512x512", "stylegan3-r-afhqv2-512x512"],
    "stylegan2": ["stylegan2-ffhq-1024x1024", "stylegan2-ffhq-512x512", "stylegan2-ffhq-256x256",
                  "stylegan2-ffhqu-1024x1024", "stylegan2-ffhqu-256x256", "stylegan2-metfaces-1024x1024",
                  "stylegan2-metfacesu-1024x1024", "stylegan2-afhqv2-512x512", "stylegan2-afhqcat-512x512",
                  "stylegan2-afhqdog-512x512", "stylegan2-afhqwild-512x512", "stylegan2-brecahad-512x512",
                  "stylegan2-cifar10-32x32", "stylegan2-celebahq-256x256", "stylegan2-lsundog-256x256"],
}
for _folder, _stems in _SG3_FILES.items():
    for _stem in _stems:
        _size = int(_stem.rsplit("x", 1)[1])
        _kind = (f"StyleGAN3-{_stem.split('-')[1].upper()}" if _folder == "stylegan3"
                 else "StyleGAN2 (StyleGAN3's release)")
        register_network(PretrainedNetwork(
            name=_stem, filename=f"{_stem}.pkl", url=_NGC.format(_folder) + f"{_stem}.pkl", image_size=(_size, _size),
            description=f"{_kind}, {_stem.split('-')[-2]} {_size}x{_size}, PyTorch pickle"))


def lookup(spec):
    """The registered network a name, file name or URL refers to, or None."""
    text = str(spec).strip()
    name = _ALIASES.get(text) or _ALIASES.get(text.lower())
    return NETWORKS.get(name) if name else None


def _url_weight_file(url):
    """An ad-hoc cache entry for a URL outside the registry: `<md5(url)>_<file name>`, so two
    URLs never share a cache file (as the original `open_url`)."""
    basename = os.path.basename(urllib.parse.urlparse(url).path) or "network.pkl"
    safe_name = re.sub(r"[^0-9a-zA-Z._-]", "_", basename)
    digest = hashlib.md5(url.encode("utf-8")).hexdigest()
    return downloads.WeightFile(name=url, filename=f"{digest}_{safe_name}", sha256=None,
                                size=None, url=url, description=url)


def resolve_network_pkls(spec, root=None, offline=None, result_dir=None):
    """Every network pickle a `--network` / `--resume` value names, oldest first: a training run
    directory (or, with `result_dir`, a run id under it) gives all its snapshots with
    `network-final.pkl` last; anything else the one file of `resolve_network`.

    Args:
        spec: a pickle path (an original release's or our snapshot), a training run directory, a
            run id (digits; with `result_dir`), a registry name ("ffhq-1024", see NETWORKS), a
            registered file name or URL, any other http(s) URL (downloaded once into the cache) or
            a file:// URL (used in place).
        root: cache folder; default `downloads.cache_dir()`.
        offline: never download (default: $STYLEGAN_OFFLINE).
        result_dir: the root of the training runs, where run ids are looked up (None: no run ids).

    Returns:
        [pathlib.Path] of existing files, at least one.

    Raises:
        ValueError: the value names nothing usable (the message lists the registered names).
        downloads.WeightFileError: a download is needed but impossible.
    """
    text = os.fspath(spec).strip() if isinstance(spec, (str, os.PathLike)) else None
    if not text:
        raise ValueError(f"a network is required (a .pkl path, a run directory, a URL or one of: "
                         f"{', '.join(NETWORKS)}); got {spec!r}.")
    path = pathlib.Path(text).expanduser()
    if path.is_file():  # a local copy wins over a registered file of the same name
        return [path]
    if path.is_dir():
        return _run_dir_pkls(path, text)
    registered = lookup(text)
    if registered is not None:
        return [downloads.fetch(registered.weight_file, root=root, offline=offline)]

    scheme = urllib.parse.urlparse(text).scheme.lower()
    if scheme in ("http", "https"):
        return [downloads.fetch(_url_weight_file(text), root=root, offline=offline)]
    if scheme == "file":
        path = pathlib.Path(urllib.request.url2pathname(urllib.parse.urlparse(text).path))
        if not path.is_file():
            raise ValueError(f"{text}: no such file ({path}).")
        return [path]
    if text.isdigit() and result_dir is not None:
        try:
            run_dir = snapshots.locate_run_dir(text, os.fspath(result_dir))
        except OSError as error:
            raise ValueError(f"{error} (run ids are looked up in {os.fspath(result_dir)})") from None
        return _run_dir_pkls(pathlib.Path(run_dir), text)
    if os.sep in text or "/" in text or text.endswith(".pkl"):
        raise ValueError(f"no such file or directory: {text}")
    raise ValueError(f"{text!r} is neither a file, a run directory, "
                     f"{'a run id, ' if result_dir is not None else ''}a URL nor a registered network. "
                     f"Registered networks: {', '.join(NETWORKS)}.")


def _run_dir_pkls(path, text):
    pkls = snapshots.list_network_pkls(str(path))
    if pkls:
        return [pathlib.Path(pkl) for pkl in pkls]
    others = sorted(entry.name for entry in path.glob("*.pkl"))
    hint = f" It holds: {', '.join(others[-5:])}; pass one of them." if others else ""
    raise ValueError(f"{text} is a folder without network snapshots (network-snapshot-*.pkl or "
                     f"network-final.pkl).{hint}")


def resolve_network(spec, root=None, offline=None, result_dir=None):
    """The one network pickle a `--network` / `--resume` value names (see `resolve_network_pkls`):
    of a run directory or run id, its latest snapshot (`network-final.pkl` once finished).

    Returns:
        pathlib.Path of an existing file.
    """
    return resolve_network_pkls(spec, root=root, offline=offline, result_dir=result_dir)[-1]


def load_networks(spec, root=None, offline=None, result_dir=None, runtime=None, trusted_sources=()):
    """`legacy.load_networks` for any `--network` value (see `resolve_network`): (G, D, Gs),
    computing as `runtime` says (`networks.runtime.Runtime`); `trusted_sources` as legacy's."""
    from stylegan_tf import legacy  # here: resolving a value needs no TensorFlow
    return legacy.load_networks(resolve_network(spec, root=root, offline=offline, result_dir=result_dir), runtime,
                                trusted_sources)
