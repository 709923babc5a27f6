"""The curated GGUF chat models ``hotseat models list`` offers, and which file a setting names.

Every pullable entry is pinned by Hugging Face repository, file name, size and SHA-256; the pull
refuses a file whose SHA-256 differs. The checksums and sizes were taken from public records
(model registries and benchmark write-ups that quote the Hub's LFS pointers), each seen in more
than one independent source; they could not be checked against the Hub itself from where this
catalogue was written (docs/cli.md says so too).

Speed notes are estimates for a 2-core laptop CPU, not measurements: generating with llama.cpp is
bound by memory bandwidth, so tokens per second fall roughly with the file size; reading a long
prompt (the first turn, with a CV) costs far more than writing the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hotseat.errors import NotFound

EMBEDDED_NAME = "smollm2-135m"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# What `hotseat models pull` suggests first: the best interviewer here at a size most laptops hold.
RECOMMENDED = "qwen2.5-1.5b"


@dataclass(frozen=True, slots=True)
class CatalogueModel:
    """One curated model. ``repo_id`` is empty for the embedded one (nothing to download)."""

    name: str
    title: str
    repo_id: str
    filename: str
    size_bytes: int
    sha256: str
    licence: str
    languages: str
    speed: str
    revision: str = "main"

    @property
    def embedded(self) -> bool:
        return not self.repo_id

    def size_text(self) -> str:
        return (
            f"{self.size_bytes / 1e9:.2f} GB" if self.size_bytes >= 1e9 else f"{self.size_bytes / 1e6:.0f} MB"
        )


CATALOGUE: tuple[CatalogueModel, ...] = (
    CatalogueModel(
        name=EMBEDDED_NAME,
        title="SmolLM2 135M Instruct (Q4_1, embedded)",
        repo_id="",
        filename=EMBEDDED_FILE,
        size_bytes=98_362_432,
        sha256="",
        licence="Apache-2.0",
        languages="English",
        speed="Instant (about 20-50 tokens/s), but too small to phrase an interview well.",
    ),
    CatalogueModel(
        name="qwen2.5-1.5b",
        title="Qwen2.5 1.5B Instruct (Q4_K_M)",
        repo_id="Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        filename="qwen2.5-1.5b-instruct-q4_k_m.gguf",
        size_bytes=1_117_320_736,
        sha256="6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e",
        licence="Apache-2.0",
        languages="29+ languages, among them English, Chinese, French, Spanish, German, Japanese, Korean",
        speed="Estimate: 5-9 tokens/s; a long first prompt can take 20-40 s. Usable.",
    ),
    CatalogueModel(
        name="smollm2-1.7b",
        title="SmolLM2 1.7B Instruct (Q4_K_M)",
        repo_id="bartowski/SmolLM2-1.7B-Instruct-GGUF",
        filename="SmolLM2-1.7B-Instruct-Q4_K_M.gguf",
        size_bytes=1_055_609_824,
        sha256="77665ea4815999596525c636fbeb56ba8b080b46ae85efef4f0d986a139834d7",
        licence="Apache-2.0",
        languages="English",
        speed="Estimate: 5-9 tokens/s; a long first prompt can take 20-40 s. Usable.",
    ),
    CatalogueModel(
        name="llama3.2-1b",
        title="Llama 3.2 1B Instruct (Q4_K_M)",
        repo_id="bartowski/Llama-3.2-1B-Instruct-GGUF",
        filename="Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        size_bytes=807_694_464,
        sha256="6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83",
        licence="Llama 3.2 Community License (free use with attribution; Meta's acceptable use policy)",
        languages="English, German, French, Italian, Portuguese, Hindi, Spanish, Thai",
        speed="Estimate: 7-12 tokens/s; the fastest of the larger models.",
    ),
    CatalogueModel(
        name="llama3.2-3b",
        title="Llama 3.2 3B Instruct (Q4_K_M)",
        repo_id="bartowski/Llama-3.2-3B-Instruct-GGUF",
        filename="Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        size_bytes=2_019_377_696,
        sha256="6c1a2b41161032677be168d354123594c0e6e67d2b9227c84f296ad037c728ff",
        licence="Llama 3.2 Community License (free use with attribution; Meta's acceptable use policy)",
        languages="English, German, French, Italian, Portuguese, Hindi, Spanish, Thai",
        speed="Estimate: 3-5 tokens/s and a minute for a long first prompt: best words, slow.",
    ),
)


def lookup(name: str) -> CatalogueModel | None:
    """The catalogue entry called ``name`` (any case, spaces around), or None."""
    wanted = name.strip().lower()
    return next((model for model in CATALOGUE if model.name == wanted), None)


def known_names() -> str:
    return ", ".join(model.name for model in CATALOGUE)


def find(name: str) -> CatalogueModel:
    """The catalogue entry called ``name``; ``NotFound`` naming the known ones otherwise."""
    model = lookup(name)
    if model is not None:
        return model
    known = known_names()
    raise NotFound(f"No model called {name!r} in the catalogue; `hotseat models list` shows them ({known}).")


def models_dir(data_dir: Path) -> Path:
    """Where pulled models are kept: only complete, verified files ever land here."""
    return data_dir / "models"


def pulled_path(model: CatalogueModel, data_dir: Path) -> Path:
    return models_dir(data_dir) / model.filename


def by_file_stem(stem: str) -> CatalogueModel | None:
    """The catalogue entry whose GGUF file is ``stem`` + ``.gguf`` (what ``/api/health`` names)."""
    return next((model for model in CATALOGUE if Path(model.filename).stem == stem), None)
