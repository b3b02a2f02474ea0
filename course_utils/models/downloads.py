"""Weights into the cache: direct URL downloads verified by sha256, Hugging Face hub snapshots, cache listing.

Direct downloads (SAM's official checkpoints) resume a partial file and are renamed into place only once
their checksum matches. Hub downloads (timm and transformers repositories) keep the hub's own cache layout
under ``<cache>/hf`` and fetch one kind of weight file: safetensors when the repository has them, else
``pytorch_model*.bin`` (loaded later with ``weights_only=True``), never TensorFlow or Flax files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from ..tiny import TINY_ENV
from .env import CACHE_ENV, cache_dir
from .errors import ChecksumError, GatedModelError, WeightsUnavailableError
from .registry import ModelSpec, get_spec

__all__ = ["verify_file", "download_url", "choose_weight_pattern", "weight_files_in", "fetch_weights",
           "cached_files", "describe_cache"]


def _unavailable(spec: ModelSpec, reason: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"Pretrained weights for {spec.name!r} ({spec.ref}) are not available here: {reason}\n"
        "Fix it in one of three ways:\n"
        f"  1. on a machine with internet run `course-utils fetch-weights {spec.name}` "
        "(it fills the cache there);\n"
        f"  2. copy that cache directory here and set {CACHE_ENV}=/path/to/cache (now: {cache_dir()});\n"
        f"  3. or work offline with tiny random models: set {TINY_ENV}=1 or pass tiny=True."
    )



def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def verify_file(path: Path, sha256: str | None) -> None:
    """Check ``path`` against ``sha256`` (hashing once; a marker remembers size and mtime).

    Raises:
        ChecksumError: the file is truncated or damaged; the message says how to re-download it.
    """
    if not sha256:
        return
    marker = _verified_marker(path)
    stat = path.stat()
    stamp = f"{sha256} {stat.st_size} {stat.st_mtime_ns}"
    if marker.exists() and marker.read_text().strip() == stamp:
        return
    actual = _sha256(path)
    if actual != sha256:
        raise ChecksumError(
            f"{path} is damaged or incomplete: sha256 {actual[:16]}... != expected {sha256[:16]}... "
            f"({stat.st_size} bytes). Delete it and run `course-utils fetch-weights` again.")
    marker.write_text(stamp)


def download_url(url: str, dest: Path, sha256: str | None = None, progress: bool = True,
                 timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, resuming a previous partial download.

    Bytes go to ``dest.part`` (resumed with an HTTP Range request when it exists); the file is
    verified against ``sha256`` and only then renamed to ``dest``, so an interrupted download
    never leaves a file that looks complete.
    """
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        verify_file(dest, sha256)
        return dest
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "course_utils"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the part file is already complete
            response = None
        else:
            raise
    if response is not None:
        with response:
            resumed = response.status == 206
            if not resumed:
                have = 0
            total = response.headers.get("Content-Length")
            total = int(total) + have if total is not None else None
            with open(part, "ab" if resumed else "wb") as out, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress
            ) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
            got = part.stat().st_size
            if total is not None and got < total:
                # The connection dropped: keep the part file so that the next call resumes.
                raise ConnectionError(f"Download of {url} stopped at {got} of {total} bytes; run the same "
                                      "command again to resume.")
    if sha256:
        actual = _sha256(part)
        if actual != sha256:
            part.unlink()
            raise ChecksumError(f"Download of {url} does not match its sha256 ({actual[:16]}... != "
                                f"{sha256[:16]}...); the partial file was removed, run the command again.")
    os.replace(part, dest)
    if sha256:
        verify_file(dest, sha256)
    return dest


def _hf_cache() -> Path:
    return cache_dir() / "hf"


_META_FILES = ["*.json", "*.txt", "*.model", "*.jinja"]
_SAFETENSORS = "*.safetensors"
_TORCH_BIN = "pytorch_model*.bin"


def choose_weight_pattern(repo_files: list[str] | tuple[str, ...]) -> str:
    """Which weight files to download from a repository listing: safetensors if there are any, else the
    PyTorch ``pytorch_model*.bin`` files (loaded with ``weights_only=True``).

    Raises:
        WeightsUnavailableError: the repository holds neither (e.g. only TensorFlow / Flax weights).
    """
    names = [f.rsplit("/", 1)[-1] for f in repo_files]
    if any(fnmatch(n, _SAFETENSORS) for n in names):
        return _SAFETENSORS
    if any(fnmatch(n, _TORCH_BIN) for n in names):
        return _TORCH_BIN
    raise WeightsUnavailableError(f"The repository holds no PyTorch weight file (safetensors or "
                                  f"pytorch_model*.bin); its files: {', '.join(sorted(names)) or 'none'}.")


def weight_files_in(folder: Path) -> list[Path]:
    """The weight files of a downloaded snapshot: its safetensors, else its ``pytorch_model*.bin``."""
    for pattern in (_SAFETENSORS, _TORCH_BIN):
        found = sorted(p for p in Path(folder).glob(pattern) if p.is_file())
        if found:
            return found
    return []


def _repo_id(spec: ModelSpec) -> str:
    return spec.ref if spec.source == "hf" else f"timm/{spec.ref}"


def _repo_listing(spec: ModelSpec) -> list[str]:
    """The repository's files from the hub API, or (if the listing fails) the registry's record."""
    try:
        from huggingface_hub import HfApi

        return list(HfApi().list_repo_files(_repo_id(spec)))
    except Exception:  # noqa: BLE001 - the download below reports the real network error
        return list(spec.weight_files)


@contextlib.contextmanager
def _hub_progress(progress: bool) -> Iterator[None]:
    """Switch huggingface_hub's progress bars off for the duration when ``progress`` is False."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    if not progress and not was_disabled:
        disable_progress_bars()
    try:
        yield
    finally:
        if not progress and not was_disabled:
            enable_progress_bars()


def _hf_snapshot(spec: ModelSpec, download: bool = True, progress: bool = True) -> Path:
    """Return the local snapshot folder of an HF repo (with at least one weight file), downloading it
    into our cache if allowed (with progress bars unless ``progress`` is False).

    Raises:
        WeightsUnavailableError: not cached and not downloadable, or no weight file came down.
    """
    from huggingface_hub import snapshot_download

    repo = _repo_id(spec)
    local_error: Exception | None = None
    try:
        local = Path(snapshot_download(repo, cache_dir=_hf_cache(), local_files_only=True,
                                       allow_patterns=[*_META_FILES, _SAFETENSORS, _TORCH_BIN]))
        if weight_files_in(local):
            return local
        local_error = FileNotFoundError(f"no weight file in the cached snapshot {local}")
    except Exception as exc:  # not cached (LocalEntryNotFoundError) or incomplete
        local_error = exc
    if not download or os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true", "True"):
        raise _unavailable(spec, f"not in the cache ({local_error.__class__.__name__}: "
                                 f"{str(local_error).splitlines()[0][:400] if str(local_error) else ''}).")
    pattern = choose_weight_pattern(_repo_listing(spec))
    try:
        with _hub_progress(progress):
            folder = Path(snapshot_download(repo, cache_dir=_hf_cache(), allow_patterns=[*_META_FILES, pattern]))
    except Exception as exc:
        from ..gated import gated_message, is_access_refused

        if is_access_refused(exc):
            raise GatedModelError(gated_message(spec.name, repo, spec.licence, exc)) from None
        raise _unavailable(spec, f"download from the Hugging Face hub failed ({exc.__class__.__name__}: "
                                 f"{str(exc).splitlines()[0][:200] if str(exc) else ''}).") from exc
    if not weight_files_in(folder):
        raise _unavailable(spec, f"the download finished but no weight file ({pattern}) came down into {folder}; "
                                 f"the repository's files were: {', '.join(_repo_listing(spec))}.")
    return folder


def _local_weight_file(spec: ModelSpec, download: bool = True, progress: bool = True) -> Path:
    """Path of the (verified) weight file or snapshot folder for ``spec``, downloaded first if allowed.

    Raises:
        WeightsUnavailableError: not cached, and not downloadable (``download=False``, offline, refused).
        ChecksumError: a direct download does not match its sha256.
    """
    if spec.source == "url":
        dest = cache_dir() / "url" / spec.ref.rsplit("/", 1)[-1]
        if dest.exists():
            verify_file(dest, spec.sha256)
            return dest
        if not download:
            raise _unavailable(spec, f"{dest} is not in the cache.")
        try:
            return download_url(spec.ref, dest, spec.sha256, progress=progress)
        except ChecksumError:
            raise
        except OSError as exc:
            raise _unavailable(spec, f"download failed ({exc}).") from exc
    if spec.source == "timm":
        return weight_files_in(_hf_snapshot(spec, download, progress))[0]  # model.safetensors or pytorch_model.bin
    if spec.source == "hf":
        return _hf_snapshot(spec, download, progress)
    raise ValueError(f"Unknown source {spec.source!r} for {spec.name}.")


def fetch_weights(name: str, progress: bool = True) -> Path:
    """Download the weights of one registry model into the cache (no model is built).

    Args:
        name: Registry key.
        progress: Show download progress bars (tqdm for direct URLs, huggingface_hub's own for the hub).

    Returns:
        The weight file (direct URL, timm) or the snapshot folder (transformers).

    Raises:
        WeightsUnavailableError: the download failed or brought no weight file (the message says why).
        GatedModelError: the Hub refused a gated repository (the message names the licence page and the token).
        ChecksumError: a direct download does not match its sha256.
    """
    return _local_weight_file(get_spec(name), download=True, progress=progress)


def cached_files() -> list[tuple[Path, int]]:
    """Files in the cache with their sizes in bytes (for ``course-utils doctor``)."""
    root = cache_dir()
    if not root.exists():
        return []
    return sorted((p, p.stat().st_size) for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def describe_cache() -> dict[str, Any]:
    """Summary of the cache for ``doctor``: path, total bytes and per-file sizes."""
    files = cached_files()
    return {"path": str(cache_dir()), "total_bytes": sum(s for _, s in files),
            "files": [(str(p.relative_to(cache_dir())), s) for p, s in files]}

