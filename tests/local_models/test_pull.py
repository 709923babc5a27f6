"""`hotseat models pull`: huggingface_hub's real download against a local mirror of the Hub."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hub_mirror import Mirror, hub_mirror

from hotseat.errors import Internal, Unavailable, UpstreamError
from hotseat.llm.gguf import default_model_path
from hotseat.local_models.catalogue import find, models_dir
from hotseat.local_models.pull import pull
from hotseat.local_models.selection import local_model_file

BUNDLED = default_model_path()
CONTENT = BUNDLED.read_bytes()
SHA = hashlib.sha256(CONTENT).hexdigest()
# A catalogue entry for the bundled SmolLM2 file, as if it were on the Hub.
SMALL = dataclasses.replace(
    find("qwen2.5-1.5b"),
    name="test-small",
    repo_id="test/Small-GGUF",
    filename=BUNDLED.name,
    size_bytes=len(CONTENT),
    sha256=SHA,
)
KEY = f"{SMALL.repo_id}/{SMALL.filename}"


def _left_in(data_dir: Path) -> list[str]:
    """Files a start could load: everything directly in the models directory."""
    directory = models_dir(data_dir)
    return sorted(p.name for p in directory.iterdir() if p.is_file()) if directory.exists() else []


def test_pull_downloads_verifies_and_stores_under_the_data_dir(tmp_path: Path) -> None:
    """A pull fetches the file by the Hub's URL layout, checks its SHA-256, keeps it in data_dir/models."""
    with hub_mirror(Mirror({KEY: CONTENT}, {KEY: SHA})) as mirror:
        path = pull(SMALL, tmp_path, endpoint=mirror.endpoint)
    assert path == tmp_path / "models" / BUNDLED.name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA
    assert _left_in(tmp_path) == [BUNDLED.name]
    assert ("GET", f"/{SMALL.repo_id}/resolve/main/{SMALL.filename}", None) in mirror.requests


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path: Path) -> None:
    """The connection drops after 10 MB: the pull asks for the rest with a Range, not the whole file."""
    cut = 10 * 1024 * 1024
    with hub_mirror(Mirror({KEY: CONTENT}, {KEY: SHA}, cut_first_get_after=cut)) as mirror:
        path = pull(SMALL, tmp_path, endpoint=mirror.endpoint)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA
    ranges = [r for method, _, r in mirror.requests if method == "GET"]
    assert ranges == [None, f"bytes={cut}-"]
    assert mirror.sent_bytes == len(CONTENT)


def test_a_file_whose_checksum_differs_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    """The mirror claims the pinned SHA-256 but serves other bytes: refused after download, no file left."""
    tampered = CONTENT[:-1] + bytes([CONTENT[-1] ^ 1])
    with hub_mirror(Mirror({KEY: tampered}, {KEY: SHA})) as mirror, pytest.raises(UpstreamError) as caught:
        pull(SMALL, tmp_path, endpoint=mirror.endpoint)
    assert "SHA-256" in caught.value.message
    assert _left_in(tmp_path) == []
    assert not list(models_dir(tmp_path).rglob("*"))  # the staging directory is gone too


def test_a_hub_listing_another_checksum_is_refused_before_downloading(tmp_path: Path) -> None:
    """The Hub's LFS etag differs from the pin: refused on the HEAD request, no GET at all."""
    with hub_mirror(Mirror({KEY: CONTENT}, {KEY: "0" * 64})) as mirror, pytest.raises(UpstreamError):
        pull(SMALL, tmp_path, endpoint=mirror.endpoint)
    assert [method for method, _, _ in mirror.requests] == ["HEAD"]
    assert _left_in(tmp_path) == []


def test_no_network_is_unavailable_and_leaves_nothing(tmp_path: Path) -> None:
    """Nothing listens at the endpoint: Unavailable at once, no file a start would load."""
    with pytest.raises(Unavailable) as caught:
        pull(SMALL, tmp_path, endpoint="http://127.0.0.1:9")
    assert "Cannot reach" in caught.value.message
    assert _left_in(tmp_path) == []


def test_a_pulled_model_is_selected_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOTSEAT_LOCAL_MODEL=NAME loads data_dir/models/<file>; a path works too; unpulled names say how."""
    real = find("qwen2.5-1.5b")
    with pytest.raises(Internal, match=r"hotseat models pull qwen2\.5-1\.5b"):
        local_model_file("qwen2.5-1.5b", tmp_path)
    target = models_dir(tmp_path) / real.filename
    target.parent.mkdir(parents=True)
    target.write_bytes(b"GGUF")
    assert local_model_file("qwen2.5-1.5b", tmp_path) == target
    assert local_model_file(str(BUNDLED), tmp_path) == BUNDLED
    assert local_model_file("smollm2-135m", tmp_path) is None
    with pytest.raises(Internal, match="neither a catalogue model"):
        local_model_file("no-such-model", tmp_path)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotseat", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


def test_cli_pull_without_network_is_one_line_and_fails(tmp_path: Path) -> None:
    """`hotseat models pull` with the Hub unreachable prints one line and exits 1."""
    result = _cli(
        ["models", "pull", "qwen2.5-1.5b"],
        {
            "HF_ENDPOINT": "http://127.0.0.1:9",
            "HF_HOME": str(tmp_path / "hf"),
            "HOTSEAT_DATA_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and not result.stdout, (lines, result.stdout)
    assert lines[0].startswith("Cannot pull qwen2.5-1.5b: Cannot reach http://127.0.0.1:9/")
    assert _left_in(tmp_path) == []


def test_cli_pull_refuses_a_file_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    """Through HF_ENDPOINT the mirror serves SmolLM2 bytes as qwen2.5-1.5b: the CLI refuses them, exit 1."""
    real = find("qwen2.5-1.5b")
    key = f"{real.repo_id}/{real.filename}"
    with hub_mirror(Mirror({key: CONTENT}, {key: real.sha256})) as mirror:
        result = _cli(
            ["models", "pull", "qwen2.5-1.5b"],
            {
                "HF_ENDPOINT": mirror.endpoint,
                "HF_HOME": str(tmp_path / "hf"),
                "HOTSEAT_DATA_DIR": str(tmp_path),
            },
        )
    assert result.returncode == 1, result.stdout
    assert "Refused qwen2.5-1.5b-instruct-q4_k_m.gguf" in result.stderr
    assert _left_in(tmp_path) == []


def test_cli_list_marks_the_live_model(tmp_path: Path) -> None:
    """`hotseat models list` shows every entry with size and licence, the live one marked."""
    result = _cli(
        ["models", "list"], {"HOTSEAT_DATA_DIR": str(tmp_path), "HOTSEAT_LOCAL_MODEL": "llama3.2-1b"}
    )
    assert result.returncode == 0, result.stderr
    live = [line for line in result.stdout.splitlines() if "(live" in line]
    assert len(live) == 1 and "llama3.2-1b" in live[0] and "808 MB" in live[0]
    assert "Llama 3.2 Community License" in result.stdout and "Apache-2.0" in result.stdout


def test_serve_with_a_model_not_pulled_yet_says_how_in_one_line(tmp_path: Path) -> None:
    """`HOTSEAT_LOCAL_MODEL=qwen2.5-1.5b hotseat serve` before the pull: one line naming the fix, exit 2."""
    result = _cli(
        ["serve", "--port", "0"], {"HOTSEAT_DATA_DIR": str(tmp_path), "HOTSEAT_LOCAL_MODEL": "qwen2.5-1.5b"}
    )
    assert result.returncode == 2
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines[-1].startswith("Cannot start: HOTSEAT_LOCAL_MODEL=qwen2.5-1.5b is not downloaded yet")
    assert "hotseat models pull qwen2.5-1.5b" in lines[-1]


def test_the_factory_loads_the_model_the_setting_names(tmp_path: Path) -> None:
    """HOTSEAT_LOCAL_MODEL by name (a pulled file) or by path reaches the local backend; health names it."""
    from hotseat.config import Settings
    from hotseat.llm.factory import make_backend
    from hotseat.local_models.live import describe

    real = find("qwen2.5-1.5b")
    pulled = models_dir(tmp_path) / real.filename
    pulled.parent.mkdir(parents=True)
    pulled.symlink_to(BUNDLED)
    by_name = make_backend(Settings(data_dir=tmp_path, local_model="qwen2.5-1.5b"))
    by_path = make_backend(Settings(data_dir=tmp_path, local_model=str(BUNDLED)))
    assert getattr(by_name, "model_path", None) == pulled
    assert getattr(by_path, "model_path", None) == BUNDLED
    assert describe(by_name.name, by_name.model) == {"model_title": real.title, "model_advice": None}
