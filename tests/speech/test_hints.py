"""Recognition hints are the technical terms of the question, the job description and the CV."""

from __future__ import annotations

from dataclasses import dataclass

from hotseat.speech.hints import prompt, question_sources, select, terms

CV = """Jane Doe
Built the payments API in Go on PostgreSQL 15, with idempotency keys and Kafka consumers.
Ran Kubernetes on AWS (EKS, S3) with Terraform; CI/CD in GitHub Actions; cut p99 latency with Redis.
Responsible for the development of our Node.js and C++ services, and for stakeholder communication."""


def test_terms_are_the_technical_words() -> None:
    """Names, acronyms, versions, dotted and long rare words are kept; everyday prose is not."""
    found = terms(CV)
    for term in (
        "PostgreSQL",
        "idempotency",
        "Kafka",
        "Kubernetes",
        "AWS",
        "S3",
        "CI/CD",
        "p99",
        "Node.js",
        "C++",
    ):
        assert term in found
    for word in ("Built", "Responsible", "development", "stakeholder", "communication", "payments"):
        assert word not in found


def test_question_terms_come_first_and_the_list_is_capped() -> None:
    """The question's terms lead, duplicates appear once, and the joined hint fits the cap."""
    chosen = select(["How did you make the Kafka consumers idempotent?", CV], max_chars=60)
    assert chosen[:3] == ["Kafka", "consumers", "idempotent"]
    assert chosen.count("Kafka") == 1
    assert len(", ".join(chosen)) <= 60


def test_the_prompt_is_a_sentence_in_english_and_a_list_otherwise() -> None:
    """English gets a sentence naming the terms (read as what was just said); other languages a list."""
    assert prompt(["Kafka", "PostgreSQL"]) == "I worked with Kafka, PostgreSQL."
    assert prompt(["Kafka", "PostgreSQL"], "ko") == "Kafka, PostgreSQL"
    assert prompt([]) == ""


@dataclass
class Point:
    point: str


@dataclass
class Question:
    question: str
    assessment: tuple[object, ...]


def test_pack_points_as_strings_or_objects() -> None:
    """Assessment points may be plain strings or objects with a ``point`` text."""
    question = Question(
        "Describe a migration.", ("Uses a Feature flag", Point("Mentions the Strangler pattern"))
    )
    assert question_sources(question) == [
        "Describe a migration.",
        "Uses a Feature flag",
        "Mentions the Strangler pattern",
    ]
