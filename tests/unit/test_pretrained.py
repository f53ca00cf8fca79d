"""The pretrained-network registry and `--network` resolution, downloading only from a local
HTTP server on 127.0.0.1 and from file:// URLs."""

import functools
import hashlib
import http.server
import shutil
import threading

import numpy as np
import pytest

from stylegan_tf import downloads, legacy, pretrained

from conftest import FIXTURES_DIR, shared_fixture

NETWORK = shared_fixture(FIXTURES_DIR / "original-stylegan" / "rgb32" / "network.pkl")


@pytest.fixture(scope="module")
def network_sha256():
    return hashlib.sha256(NETWORK.read_bytes()).hexdigest()


@pytest.fixture
def registry(monkeypatch, tmp_path):
    """Private copies of the registries, an empty cache and downloads allowed."""
    monkeypatch.setattr(pretrained, "NETWORKS", dict(pretrained.NETWORKS))
    monkeypatch.setattr(pretrained, "_ALIASES", dict(pretrained._ALIASES))
    monkeypatch.setattr(downloads, "REGISTRY", dict(downloads.REGISTRY))
    monkeypatch.setenv("STYLEGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("STYLEGAN_OFFLINE", raising=False)
    return tmp_path / "cache"


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(tmp_path):
    """Serves a folder holding network.pkl on 127.0.0.1; yields (base URL, request log)."""
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(NETWORK, served / "network.pkl")
    handler = functools.partial(_CountingHandler, directory=str(served))
    _CountingHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _CountingHandler.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_official_networks_are_registered():
    assert list(pretrained.NETWORKS)[:5] == ["ffhq-1024", "celebahq-1024", "bedrooms-256",
                                             "cars-512x384", "cats-256"]
    stylegan2 = [name for name in pretrained.NETWORKS if name.startswith("stylegan2-") and "-ada" not in name
                 and not pretrained.NETWORKS[name].url.startswith("https://api.ngc.nvidia.com/")]
    assert len(stylegan2) == 6 + 6 + 2 + 2 + 2 + 18  # configs A-F (FFHQ, car), A and F, Table 2 grids
    f = pretrained.lookup("gdrive:networks/stylegan2-ffhq-config-f.pkl")
    assert f.url == "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-ffhq-config-f.pkl"
    assert pretrained.lookup("stylegan2-car-config-e-Gskip-Dresnet").url.endswith(
        "/stylegan2/networks/table2/stylegan2-car-config-e-Gskip-Dresnet.pkl")
    ffhq = pretrained.NETWORKS["ffhq-1024"]
    assert ffhq.url == ("https://nvlabs-fi-cdn.nvidia.com/stylegan/networks/"
                        "karras2019stylegan-ffhq-1024x1024.pkl")
    assert ffhq.original_url == "https://drive.google.com/uc?id=1MEGjdvVpUsu1jB4zrXZN7Y4kBBOzizDQ"
    assert downloads.REGISTRY["ffhq-1024"].url == ffhq.url
    for alias in ("ffhq-1024", "FFHQ-1024", "karras2019stylegan-ffhq-1024x1024.pkl", ffhq.url,
                  ffhq.original_url):
        assert pretrained.lookup(alias) is ffhq
    assert pretrained.lookup("ffhq") is None
    assert pretrained.NETWORKS["cars-512x384"].image_size == (512, 384)


def test_stylegan2_ada_networks_of_both_releases_are_registered_apart():
    """The TF and PyTorch CDNs both call their files ffhq.pkl etc.: names and cache files keep them apart."""
    for release in ("stylegan2-ada", "stylegan2-ada-pytorch"):
        names = [name for name in pretrained.NETWORKS if name.rsplit("-", 1)[0] == release]
        assert names == [f"{release}-{d}" for d in ("ffhq", "metfaces", "afhqcat", "afhqdog", "afhqwild", "brecahad",
                                                    "cifar10")]
    tf_net, pt_net = pretrained.lookup("stylegan2-ada-metfaces"), pretrained.lookup("stylegan2-ada-pytorch-metfaces")
    assert tf_net.url == "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada/pretrained/metfaces.pkl"
    assert pt_net.url == "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metfaces.pkl"
    assert pretrained.lookup(pt_net.url) is pt_net and tf_net.filename != pt_net.filename
    assert pretrained.NETWORKS["stylegan2-ada-pytorch-cifar10"].image_size == (32, 32)


def test_stylegan3_releases_networks_are_registered():
    ngc = [net for net in pretrained.NETWORKS.values() if net.url.startswith("https://api.ngc.nvidia.com/")]
    assert len(ngc) == 12 + 15
    t = pretrained.lookup("stylegan3-t-ffhqu-256x256")
    assert t.url == ("https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/"
                     "stylegan3-t-ffhqu-256x256.pkl") and t.image_size == (256, 256)
    cifar = pretrained.lookup("stylegan2-cifar10-32x32")
    assert cifar.url.endswith("/stylegan2/versions/1/files/stylegan2-cifar10-32x32.pkl")
    assert "StyleGAN3-R" in pretrained.lookup("stylegan3-r-afhqv2-512x512").description


def test_paths_and_file_urls_resolve_in_place(tmp_path, monkeypatch):
    assert pretrained.resolve_network(NETWORK) == NETWORK
    # A local file wins over the registered network of the same file name.
    monkeypatch.chdir(tmp_path)
    shutil.copy(NETWORK, tmp_path / "karras2019stylegan-cats-256x256.pkl")
    local = pretrained.resolve_network("karras2019stylegan-cats-256x256.pkl")
    assert local.resolve() == tmp_path / "karras2019stylegan-cats-256x256.pkl"
    assert pretrained.resolve_network(str(NETWORK)) == NETWORK
    assert pretrained.resolve_network(NETWORK.as_uri()) == NETWORK
    with pytest.raises(ValueError, match="no such file"):
        pretrained.resolve_network(tmp_path / "missing.pkl")
    with pytest.raises(ValueError, match="no such file"):
        pretrained.resolve_network((tmp_path / "missing.pkl").as_uri())
    with pytest.raises(ValueError, match="is a folder without network snapshots.*karras2019stylegan-cats-256x256"):
        pretrained.resolve_network(tmp_path)
    # A run directory: its latest snapshot (network-final.pkl once finished); all of them in order.
    for name in ("network-snapshot-000012.pkl", "network-snapshot-000004.pkl"):
        shutil.copy(NETWORK, tmp_path / name)
    assert pretrained.resolve_network(tmp_path) == tmp_path / "network-snapshot-000012.pkl"
    shutil.copy(NETWORK, tmp_path / "network-final.pkl")
    assert pretrained.resolve_network(str(tmp_path)) == tmp_path / "network-final.pkl"
    assert [path.name for path in pretrained.resolve_network_pkls(tmp_path)] == [
        "network-snapshot-000004.pkl", "network-snapshot-000012.pkl", "network-final.pkl"]
    with pytest.raises(ValueError, match="Registered networks: ffhq-1024, celebahq-1024"):
        pretrained.resolve_network("ffhq-2048")
    with pytest.raises(ValueError, match="required"):
        pretrained.resolve_network("")


def test_registered_network_downloads_once_then_works_offline(registry, http_server,
                                                              network_sha256):
    base_url, requests = http_server
    pretrained.register_network(pretrained.PretrainedNetwork(
        name="tiny-32", filename="tiny-32.pkl", url=f"{base_url}/network.pkl",
        sha256=network_sha256, size=NETWORK.stat().st_size, description="test network"))
    G, D, Gs = pretrained.load_networks("tiny-32")
    assert requests == ["/network.pkl"]
    cached = registry / "urls" / "tiny-32.pkl"
    assert cached.read_bytes() == NETWORK.read_bytes()
    reference = legacy.load_networks(NETWORK)[2]
    latents = np.random.RandomState(0).randn(2, 64)
    np.testing.assert_array_equal(Gs(latents, None, randomize_noise=False).numpy(),
                                  reference(latents, None, randomize_noise=False).numpy())
    # Cached: no new request, also offline and through the URL alias.
    assert pretrained.resolve_network("tiny-32", offline=True) == cached
    assert pretrained.resolve_network(f"{base_url}/network.pkl") == cached
    assert requests == ["/network.pkl"]


def test_offline_without_a_copy_says_where_to_put_it(registry, network_sha256):
    pretrained.register_network(pretrained.PretrainedNetwork(
        name="tiny-32", filename="tiny-32.pkl", url="http://127.0.0.1:9/network.pkl",
        sha256=network_sha256, size=NETWORK.stat().st_size, description="test network"))
    with pytest.raises(downloads.WeightFileError) as error:
        pretrained.resolve_network("tiny-32", offline=True)
    assert str(registry / "urls" / "tiny-32.pkl") in str(error.value)
    assert "http://127.0.0.1:9/network.pkl" in str(error.value)


def test_corrupt_download_is_rejected(registry, http_server):
    base_url, _ = http_server
    pretrained.register_network(pretrained.PretrainedNetwork(
        name="tiny-32", filename="tiny-32.pkl", url=f"{base_url}/network.pkl", sha256="0" * 64,
        description="test network"))
    with pytest.raises(downloads.WeightFileError, match="SHA-256"):
        pretrained.resolve_network("tiny-32")
    assert not (registry / "urls" / "tiny-32.pkl").exists()


def test_file_url_entries_are_copied_into_the_cache(registry, network_sha256):
    pretrained.register_network(pretrained.PretrainedNetwork(
        name="tiny-file", filename="tiny-file.pkl", url=NETWORK.as_uri(), sha256=network_sha256))
    path = pretrained.resolve_network("tiny-file")
    assert path == registry / "urls" / "tiny-file.pkl" and path.read_bytes() == NETWORK.read_bytes()


def test_any_http_url_is_downloaded_once(registry, http_server):
    base_url, requests = http_server
    url = f"{base_url}/network.pkl"
    path = pretrained.resolve_network(url)
    assert path.parent == registry / "urls"
    assert path.name == hashlib.md5(url.encode()).hexdigest() + "_network.pkl"
    assert path.read_bytes() == NETWORK.read_bytes()
    assert pretrained.resolve_network(url) == path and requests == ["/network.pkl"]


