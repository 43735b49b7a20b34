"""Where a dataset split comes from: a local folder, or a URL fetched once into a verified cache."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from xtalgen.errors import XtalgenError, in_terms, setting
from xtalgen.io import atomic_output

__all__ = [
    "CDVAE_MP20_SHA256",
    "CDVAE_MP20_URL",
    "DatasetUnavailableError",
    "cache_path",
    "default_cache_dir",
    "fetch",
    "find_split_file",
    "offline",
    "resolve_file",
    "resolve_split",
    "sha256sum",
]

log = logging.getLogger(__name__)

CDVAE_MP20_URL = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/mp_20"
CDVAE_MP20_SHA256 = {
    "train": "133bab58dba02d316f9f91174839f17802dce648be4e8659d1a42b32b97fa01d",
    "val": "7b5f4085464b3eac9fd2123acee97ec372214004ce7e983b535b33395abc3e29",
    "test": "dd605c7543cf95a13e150aed630d0915e74edc8dea17e85301ee6fbfeb7f500a",
}
_SUFFIXES = (".csv", ".csv.gz")


class DatasetUnavailableError(XtalgenError, RuntimeError):
    """The data cannot be had: no local copy, and the download failed or did not verify."""


def default_cache_dir() -> Path:
    """``$XTALGEN_CACHE``, else ``$XDG_CACHE_HOME/xtalgen``, else ``~/.cache/xtalgen``."""
    if "XTALGEN_CACHE" in os.environ:
        return Path(os.environ["XTALGEN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "xtalgen"


def offline() -> bool:
    """True when the user said there is no network, so downloads fail at once."""
    return any(
        os.environ.get(var, "").lower() in {"1", "true", "yes", "on"}
        for var in ("XTALGEN_OFFLINE", "HF_HUB_OFFLINE")
    )


def sha256sum(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks so large CSVs do not sit in memory."""
    return file_digest(path, "sha256")


def find_split_file(folder: Path, split: str) -> Path:
    """``folder/<split>.csv`` or ``folder/<split>.csv.gz``."""
    for suffix in _SUFFIXES:
        candidate = folder / f"{split}{suffix}"
        if candidate.is_file():
            return candidate
    raise DatasetUnavailableError(
        f"no {split}.csv or {split}.csv.gz in {folder}: put the split there, or point "
        f"{setting('data.local_dir')} at the folder that holds it"
    )


def _dataset_hint() -> str:
    return f"set {setting('data.local_dir')} to a folder with the split's CSV"


def cache_path(url: str, cache_dir: Path) -> Path:
    """Where :func:`fetch` keeps the download of ``url``, so a caller can tell whether it is cached."""
    return cache_dir / url.rstrip("/").rsplit("/", 1)[-1]


def fetch(
    url: str,
    cache_dir: Path,
    sha256: str | None,
    *,
    timeout: float = 30.0,
    hint: str | None = None,
    checksum_key: str | None = None,
) -> Path:
    """Download ``url`` into ``cache_dir`` once, verify it, and return the cached path.

    A cached file is reused only when it still matches ``sha256``, or, without one, the digest
    recorded beside it when it was downloaded (``<name>.sha256``); one that does not is downloaded
    again, with a warning. A file enters the cache only once it has verified, so an interrupted
    download never leaves a bad copy behind.
    """
    hint = hint or _dataset_hint()
    checksum_key = checksum_key or setting("data.sha256")
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_path(url, cache_dir)
    recorded = target.with_name(f"{target.name}.sha256")
    if target.is_file():
        expected = sha256 or (recorded.read_text().strip() if recorded.is_file() else None)
        if expected is not None and _matches(target, expected):
            return target
        if expected is None and offline():
            log.warning("%s: cached before digests were recorded; used unchecked (offline)", target)
            return target
        log.warning("%s: cached copy does not match its digest (cut or changed); downloading again", target)
        target.unlink()
    if offline():
        raise DatasetUnavailableError(
            f"offline (XTALGEN_OFFLINE or HF_HUB_OFFLINE is set) and {target} is not cached: {hint}"
        )
    import pooch  # noqa: PLC0415
    import requests  # noqa: PLC0415

    known = None if sha256 is None else "{}:{}".format(*_checksum(sha256))
    try:
        # pooch downloads beside the target and moves the file in only once its hash has matched.
        path = pooch.retrieve(
            url,
            known_hash=known,
            fname=target.name,
            path=cache_dir,
            progressbar=False,
            downloader=pooch.HTTPDownloader(timeout=timeout),
        )
    except ValueError as err:  # pooch's hash mismatch
        raise DatasetUnavailableError(
            f"{url}: {err} The file at the URL changed or the download was corrupted: check the URL, "
            f"or set the checksum under {checksum_key} to the new value once you trust it"
        ) from err
    except (requests.RequestException, OSError) as err:
        raise DatasetUnavailableError(
            f"cannot download {url} ({err}). Without network access, {hint}"
        ) from err
    with atomic_output(recorded) as tmp:  # what a later run checks the cached copy against
        tmp.write_text(file_digest(Path(path)) + "\n")
    return Path(path)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file, read in blocks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksum(spec: str) -> tuple[str, str]:
    """("md5", hex) from "md5:<hex>"; ("sha256", hex) from "sha256:<hex>" or a bare hex digest."""
    algorithm, sep, value = spec.partition(":")
    return (algorithm.lower(), value.lower()) if sep else ("sha256", spec.lower())


def _matches(path: Path, spec: str) -> bool:
    algorithm, expected = _checksum(spec)
    return file_digest(path, algorithm) == expected


def resolve_file(location: str, key: str, cache_dir: Path | None = None, checksum: str | None = None) -> Path:
    """A local file, or a URL fetched once into the cache and checked; ``key`` names the setting.

    ``checksum`` is a SHA-256 hex digest, or ``md5:<hex>`` / ``sha256:<hex>``.
    """
    if location.startswith(("http://", "https://")):
        hint = f"set {key} to a local copy of the file"
        return fetch(
            location,
            cache_dir or default_cache_dir(),
            checksum,
            hint=hint,
            checksum_key=f"{key}-checksum" if key.startswith("--") else f"{key}_checksum",
        )
    path = Path(os.path.expandvars(location)).expanduser()
    if not path.is_file():
        raise DatasetUnavailableError(f"{key}: {path} is not a file; give a path or a URL")
    return path


def resolve_split(
    split: str,
    *,
    local_dir: Path | None,
    url: str | None,
    sha256: dict[str, str | None] | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """The CSV of one split: from ``local_dir`` when given, else fetched from ``url``."""
    if local_dir is not None:
        if not local_dir.is_dir():
            raise DatasetUnavailableError(
                f"{setting('data.local_dir')} {local_dir} is not a folder: "
                + in_terms(
                    "set it to a folder with train/val/test CSVs, or to null to download from data.url",
                    "give a folder with train/val/test CSVs, or --url to download them",
                )
            )
        return find_split_file(local_dir, split)
    if not url:
        raise DatasetUnavailableError(
            f"no data source: set {setting('data.local_dir')} to a folder of CSVs, or "
            f"{setting('data.url')} to download them"
        )
    checksum = (sha256 or {}).get(split)
    return fetch(f"{url.rstrip('/')}/{split}.csv", cache_dir or default_cache_dir(), checksum)
