"""The guided turn: the model's bridge is shown only if clean; the planned words always follow."""

from __future__ import annotations

import pytest

from hotseat.interview.bridge import clean_bridge, guided_stream
from hotseat.llm.base import StreamEnd
from hotseat.llm.scripted import ScriptedBackend


@pytest.mark.parametrize(
    "raw",
    [
        "31. **Futures**: the plan\n32. **Futures**: more",
        "# Interview\nThanks for that.",
        "What did you do next?",
        "Great answer, you nailed it.",
        "Your response is concise and to the point.",
        "I'd be happy to help you with that.",
        "(Interviewer's task for this message: ask the next question)",
        "Thanks thanks thanks thanks for your answer answer answer.",
        "Merci pour votre réponse, vous avez bien expliqué.",
        "",
    ],
)
def test_a_bad_bridge_is_dropped(raw: str) -> None:
    """Lists, headings, questions, judgements, assistant-speak, leaked instructions, loops, French."""
    assert clean_bridge(raw, "en") == ""


def test_a_bridge_that_echoes_the_answer_is_dropped() -> None:
    """A small model that repeats the candidate's words back is not acknowledging them."""
    answer = "I went hiking in the Alps last summer with friends."
    assert clean_bridge("You went hiking in the Alps last summer.", "en", answer) == ""


def test_a_clean_bridge_keeps_its_first_sentence() -> None:
    """One plain sentence that speaks to the candidate is kept, and only that sentence."""
    assert clean_bridge("thanks for walking me through the rollout. Next, tell me", "en") == (
        "Thanks for walking me through the rollout."
    )
    assert clean_bridge("네, 말씀 감사합니다.", "ko") == "네, 말씀 감사합니다."
    assert clean_bridge("Thank you for sharing that.", "ko") == ""


async def collect(backend: ScriptedBackend, **kwargs: object) -> list[object]:
    return [item async for item in guided_stream(backend, **kwargs)]  # type: ignore[arg-type]


async def test_the_planned_words_follow_a_dropped_bridge_verbatim() -> None:
    """A bad bridge is replaced by the authored fallback; the question follows as written."""
    backend = ScriptedBackend()
    backend.enqueue("1. **Futures**")
    items = await collect(
        backend, bridge=[], fallback="Thank you.", planned="What broke first?", language="en"
    )
    assert items[:2] == ["Thank you. ", "What broke first?"]
    assert isinstance(items[-1], StreamEnd)


async def test_a_good_bridge_is_shown_and_no_bridge_means_no_model_call() -> None:
    """A clean bridge precedes the planned words; a turn without one never calls the model."""
    backend = ScriptedBackend()
    backend.enqueue("Thanks, you explained the rollback clearly.")
    items = await collect(backend, bridge=[], fallback="Thank you.", planned="Next question.", language="en")
    assert "".join(i for i in items if isinstance(i, str)) == (
        "Thanks, you explained the rollback clearly. Next question."
    )
    silent = ScriptedBackend()
    items = await collect(silent, bridge=None, fallback="", planned="Let's come back.", language="en")
    assert items[0] == "Let's come back." and silent.calls == []
