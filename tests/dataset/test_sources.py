from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from xtalgen.dataset.sources import DatasetUnavailableError, fetch, resolve_split, sha256sum


@pytest.fixture
def served(tmp_path: Path, pilot_dir: Path):
    """A real HTTP server on localhost serving a copy of the pilot CSVs."""
    root = tmp_path / "www"
    root.mkdir()
    for split in ("train", "val"):
        shutil.copy(pilot_dir / f"{split}.csv.gz", root / f"{split}.csv")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def test_download_is_cached_and_verified(served, tmp_path: Path):
    url, root = served
    digest = sha256sum(root / "train.csv")
    cache = tmp_path / "cache"
    path = fetch(f"{url}/train.csv", cache, digest)
    assert sha256sum(path) == digest
    (root / "train.csv").unlink()  # the cached copy is reused: no second download
    assert fetch(f"{url}/train.csv", cache, digest) == path


def test_checksum_mismatch_is_refused_and_not_cached(served, tmp_path: Path):
    url, _ = served
    cache = tmp_path / "cache"
    with pytest.raises(DatasetUnavailableError, match=r"data\.sha256"):
        fetch(f"{url}/val.csv", cache, "0" * 64)
    assert list(cache.iterdir()) == []


def test_no_network_fails_at_once_naming_the_key(tmp_path: Path):
    with pytest.raises(DatasetUnavailableError, match=r"data.local_dir"):
        fetch("http://127.0.0.1:9/train.csv", tmp_path, None, timeout=5)


def test_offline_flag_fails_without_trying(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError, match="offline"):
        fetch("https://example.org/train.csv", tmp_path, None)


def test_local_folder_wins(pilot_dir: Path):
    path = resolve_split("test", local_dir=pilot_dir, url="http://127.0.0.1:9")
    assert path == pilot_dir / "test.csv.gz"


def test_missing_local_folder_names_the_key(tmp_path: Path):
    with pytest.raises(DatasetUnavailableError, match=r"data\.local_dir"):
        resolve_split("train", local_dir=tmp_path / "nope", url=None)
    with pytest.raises(DatasetUnavailableError, match=r"no train.csv or train.csv.gz"):
        resolve_split("train", local_dir=tmp_path, url=None)


@pytest.mark.parametrize("checksum", [True, False])
def test_a_cached_download_cut_mid_write_is_downloaded_again(served, tmp_path: Path, caplog, checksum):
    """With a checksum or without one (then the digest recorded at download), a torn copy is refetched."""
    import random  # noqa: PLC0415

    url, root = served
    digest = sha256sum(root / "train.csv")
    cache = tmp_path / "cache"
    path = fetch(f"{url}/train.csv", cache, digest if checksum else None)
    whole = path.read_bytes()
    path.write_bytes(whole[: random.Random(5).randrange(1, len(whole))])
    again = fetch(f"{url}/train.csv", cache, digest if checksum else None)
    assert "does not match its digest" in caplog.text
    assert again.read_bytes() == whole
    (root / "train.csv").unlink()  # now whole: reused without a download
    assert fetch(f"{url}/train.csv", cache, digest if checksum else None).read_bytes() == whole
