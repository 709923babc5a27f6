"""The report's advice: assessment points rewritten as words to the candidate."""

from __future__ import annotations

import pytest

from hotseat.interview.wording import for_candidate


@pytest.mark.parametrize(
    ("point", "advice"),
    [
        ("Identifies the race between two requests.", "Identify the race between two requests."),
        (
            "Pitches the level of detail to the listener and stays consistent with the CV.",
            "Pitch the level of detail to the listener and stay consistent with the CV.",
        ),
        (
            "Names a real mistake and what they would change, not just their own view.",
            "Name a real mistake and what you would change, not just your own view.",
        ),
        ("Starts from the consumers and their use cases.", "Start from the consumers and their use cases."),
        ("Ties the schema and indexes to reads.", "Tie the schema and indexes to reads."),
        ("Good structure overall.", "Good structure overall."),
    ],
)
def test_a_point_becomes_advice(point: str, advice: str) -> None:
    """The first verb and known second verbs become imperatives, "they" becomes "you"; nouns stay."""
    assert for_candidate(point) == advice
