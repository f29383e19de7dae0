"""The download path, against a real HTTP server on loopback serving a folder."""

import functools
import http.server
import threading

import pytest

from tests.sgd_factory import write_sgd
from tft_utils.core.io import DataError
from tft_utils.data import sgd


@pytest.fixture
def http_folder(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _serve_all(root, payload=b"[]"):
    for rel in sgd.NEEDED_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(payload)


def test_download_fetches_every_needed_file(http_folder, tmp_path, monkeypatch):
    root, url = http_folder
    _serve_all(root)
    dest = sgd.download_sgd(url, tmp_path / "dest", log=lambda *a: None)
    assert (dest / "train" / "dialogues_043.json").read_text() == "[]"
    assert (dest / "sgd_x" / "v3" / "dev" / "schema.json").exists()  # stored in the ../shared layout


def test_download_refuses_a_broken_file_and_writes_nothing(http_folder, tmp_path):
    root, url = http_folder
    _serve_all(root)
    (root / "train" / "dialogues_001.json").write_text("<html>rate limited</html>")
    with pytest.raises(DataError, match="dialogues_001.json"):
        sgd.download_sgd(url, tmp_path / "dest", log=lambda *a: None)
    assert not (tmp_path / "dest" / "train" / "dialogues_001.json").exists()
    assert not list((tmp_path / "dest").rglob("*.tmp"))


def test_missing_file_on_server_is_a_clear_error(http_folder, tmp_path):
    root, url = http_folder
    with pytest.raises(DataError, match="could not download"):
        sgd.download_sgd(url, tmp_path / "dest", log=lambda *a: None)


def test_resolve_order(tmp_path, monkeypatch):
    a = write_sgd(tmp_path / "a")
    b = write_sgd(tmp_path / "b")
    monkeypatch.setenv("TFT_SGD_DIR", str(b))
    assert sgd.resolve_sgd_dir(a) == a
    assert sgd.resolve_sgd_dir(None) == b
    monkeypatch.setenv("TFT_SGD_DIR", str(tmp_path / "nope"))
    with pytest.raises(DataError, match="TFT_SGD_DIR"):
        sgd.resolve_sgd_dir(None)
