"""A streamed reply is cut into sentences as it arrives, each with the seqs it spans."""

from __future__ import annotations

from hotseat.speech.sentences import Sentence, SentenceSplitter, speakable


def split(deltas: list[str]) -> list[Sentence]:
    splitter = SentenceSplitter()
    found: list[Sentence] = []
    for seq, text in enumerate(deltas, start=1):
        found.extend(splitter.add(seq, text))
    found.extend(splitter.finish(len(deltas) + 1))
    return found


def test_a_sentence_is_out_as_soon_as_the_next_one_begins() -> None:
    """The first sentence is complete at the delta that starts the second, long before the turn ends."""
    splitter = SentenceSplitter()
    assert list(splitter.add(1, "Thanks for")) == []
    assert list(splitter.add(2, " that.")) == []
    assert list(splitter.add(3, " What")) == [Sentence("Thanks for that.", 1, 3)]
    assert list(splitter.add(4, " happened next?")) == []
    assert list(splitter.finish(5)) == [Sentence("What happened next?", 3, 5)]


def test_abbreviations_and_numbers_do_not_end_sentences() -> None:
    """ "Dr. Smith" and "3.5 seconds" stay inside their sentences."""
    sentences = split(["I met Dr.", " Smith there. It took", " 3.5 seconds. Then", " it failed."])
    assert [s.text for s in sentences] == [
        "I met Dr. Smith there.",
        "It took 3.5 seconds.",
        "Then it failed.",
    ]


def test_markdown_is_not_read_out() -> None:
    """Emphasis, code ticks, bullets and link targets are dropped from what is spoken."""
    text = "I see **Kafka** and `Redis` on your CV.\n\n- What about [gRPC](https://grpc.io)?"
    assert [s.text for s in split([text])] == ["I see Kafka and Redis on your CV.", "What about gRPC?"]
    assert speakable("## Summary") == "Summary"


def test_every_character_is_spoken_once() -> None:
    """However a reply is cut into deltas, the sentences hold all its words, in order, once."""
    reply = "Good. Tell me about the outage! Why did it happen? What did you change afterwards"
    for size in (1, 3, 7, 100):
        deltas = [reply[i : i + size] for i in range(0, len(reply), size)]
        assert " ".join(s.text for s in split(deltas)) == reply
