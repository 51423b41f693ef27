import hashlib
import threading

import pytest

from keras_p2c import cache
from keras_p2c.weights import DownloadError, download
from tests.helpers.file_server import FileServer

CONTENT = bytes(range(256)) * 4099  # ~1 MiB, more than one read chunk
SHA256 = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def server():
    file_server = FileServer(CONTENT)
    file_server.thread.start()
    yield file_server
    file_server.httpd.shutdown()
    file_server.httpd.server_close()


def test_download_then_cache_hit(server, tmp_path):
    path = download(server.url(), cache_dir=tmp_path, sha256=SHA256, progress=True)
    assert path == tmp_path / "weights.pt"
    assert path.read_bytes() == CONTENT
    assert len(server.requests) == 1

    again = download(server.url(), cache_dir=tmp_path, sha256=SHA256.upper(), progress=False)
    assert again == path
    assert len(server.requests) == 1  # served from the cache
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.pt"]


def test_default_cache_dir_and_filename(server, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_P2C_HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home"
    path = download(server.url("a%20b.pt"), progress=False)
    assert path == tmp_path / "home" / "a b.pt"
    path = download(server.url(), filename="renamed.pt", progress=False)
    assert path == tmp_path / "home" / "renamed.pt" and path.read_bytes() == CONTENT
    monkeypatch.delenv("KERAS_P2C_HOME")
    assert cache.cache_dir().parts[-2:] == (".cache", "keras_p2c")


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    with pytest.raises(DownloadError, match="sha256.*expected 0{64}.*deleted"):
        download(server.url(), cache_dir=tmp_path, sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_stale_cached_file_is_downloaded_again(server, tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"old")
    with pytest.warns(UserWarning, match="expected sha256"):
        path = download(server.url(), cache_dir=tmp_path, sha256=SHA256, progress=False)
    assert path.read_bytes() == CONTENT


@pytest.mark.parametrize("ranges", [True, False], ids=["resume", "restart"])
def test_interrupted_download_then_retry(server, tmp_path, ranges):
    server.ranges = ranges
    server.cut_after = len(CONTENT) // 3
    with pytest.raises(DownloadError, match=f"stopped after {len(CONTENT) // 3} of {len(CONTENT)} bytes"):
        download(server.url(), cache_dir=tmp_path, progress=False)
    assert not (tmp_path / "weights.pt").exists()  # a partial file is never the cached one

    path = download(server.url(), cache_dir=tmp_path, sha256=SHA256, progress=False)

    assert path.read_bytes() == CONTENT
    assert server.requests == [None, f"bytes={len(CONTENT) // 3}-"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.pt"]


def test_partial_file_longer_than_remote_restarts(server, tmp_path):
    (tmp_path / "weights.pt.part").write_bytes(b"x" * (len(CONTENT) + 5))
    path = download(server.url(), cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == CONTENT
    assert server.requests == [f"bytes={len(CONTENT) + 5}-", None]


def test_http_error_names_url_and_suggests_manual_download(server, tmp_path):
    server.status = 404
    with pytest.raises(DownloadError, match=r"HTTP 404.*files/weights\.pt.*pass the local file's path") as error:
        download(server.url(), cache_dir=tmp_path, progress=False)
    assert server.url() in str(error.value)
    assert not (tmp_path / "weights.pt").exists()


def test_timeout_is_a_download_error(server, tmp_path):
    server.delay = 1.0
    with pytest.raises(DownloadError, match="timed out") as error:
        download(server.url(), cache_dir=tmp_path, progress=False, timeout=0.2)
    assert server.url() in str(error.value)


def test_unreachable_server(tmp_path):
    with pytest.raises(DownloadError, match="Could not download http://127.0.0.1:9/x.pt"):
        download("http://127.0.0.1:9/x.pt", cache_dir=tmp_path, progress=False, timeout=2)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Received: sha256='abc'"):
        download("http://127.0.0.1/x.pt", cache_dir=tmp_path, sha256="abc")
    with pytest.raises(ValueError, match="pass `filename`"):
        download("http://127.0.0.1/", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="Received: filename='../x'"):
        download("http://127.0.0.1/x.pt", cache_dir=tmp_path, filename="../x")


def test_concurrent_downloads_of_one_file_fetch_it_once(server, tmp_path):
    server.delay = 0.3
    results = []

    def fetch():
        results.append(download(server.url(), cache_dir=tmp_path, sha256=SHA256, progress=False))

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == [tmp_path / "weights.pt"] * 2
    assert len(server.requests) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.pt"]
