"""What ``/api/health`` and the start page say about the live model, and the advice on the 135M."""

from __future__ import annotations

from hotseat.local_models.catalogue import RECOMMENDED, by_file_stem

ADVICE = (
    "The interviewer runs on SmolLM2 135M, a very small model: its questions and follow-ups are "
    "often clumsy. A larger model interviews far better. With a network, run "
    f"hotseat models pull {RECOMMENDED} (1.1 GB), then start the server again with "
    f"HOTSEAT_LOCAL_MODEL={RECOMMENDED} (hotseat models list shows the others)."
)


def describe(backend: str, model: str) -> dict[str, str | None]:
    """``model_title`` (a person's name for the live model) and ``model_advice`` (or ``None``).

    ``model`` is what the backend reports: for ``local``, the GGUF file name without ``.gguf``.
    """
    if backend != "local":
        return {"model_title": model, "model_advice": None}
    entry = by_file_stem(model)
    if entry is None:
        return {"model_title": model, "model_advice": None}
    return {"model_title": entry.title, "model_advice": ADVICE if entry.embedded else None}
