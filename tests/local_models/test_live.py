"""What health says about the live model: a catalogue title, and advice only on the embedded 135M."""

from __future__ import annotations

from pathlib import Path

from hotseat.llm.gguf import DEFAULT_MODEL_FILE
from hotseat.local_models.catalogue import CATALOGUE, EMBEDDED_FILE
from hotseat.local_models.live import describe


def test_only_the_embedded_model_gets_the_advice() -> None:
    """A pulled catalogue model is named by title with no advice; the 135M default gets the advice."""
    embedded = describe("local", Path(EMBEDDED_FILE).stem)
    assert embedded["model_title"] == "SmolLM2 135M Instruct (Q4_1, embedded)"
    assert "hotseat models pull" in (embedded["model_advice"] or "")
    for model in CATALOGUE[1:]:
        assert describe("local", Path(model.filename).stem) == {
            "model_title": model.title,
            "model_advice": None,
        }
    assert describe("local", "my-own-model") == {"model_title": "my-own-model", "model_advice": None}
    assert describe("openai", "gpt-4o-mini") == {"model_title": "gpt-4o-mini", "model_advice": None}


def test_the_catalogue_and_the_loader_agree_on_the_embedded_file() -> None:
    """The embedded entry names the file llm.gguf loads by default."""
    assert DEFAULT_MODEL_FILE == EMBEDDED_FILE == CATALOGUE[0].filename
