"""A misheard term is written the candidate's way; ordinary words beside it are left alone."""

from __future__ import annotations

import pytest

from hotseat.speech.correct import correct_terms

TERMS = [
    "PostgreSQL",
    "GraphQL",
    "Redis",
    "idempotency",
    "Celery",
    "dashboards",
    "Prometheus",
    "Kafka",
    "gRPC",
]


@pytest.mark.parametrize(
    ("heard", "written"),
    [
        ("we stored it in poster SQL.", "we stored it in PostgreSQL."),
        ("The GrafQL schema", "The GraphQL schema"),
        ("an itempotency key", "an idempotency key"),
        ("Promethe is scraped every pod", "Prometheus scraped every pod"),
        ("use GRPC now", "use gRPC now"),
        ("the cache and readies cut", "the cache and Redis cut"),
    ],
)
def test_near_misses_are_corrected(heard: str, written: str) -> None:
    """Terms heard in pieces, misspelt or in the wrong case come out as the hint spells them."""
    assert correct_terms(heard, TERMS) == written


@pytest.mark.parametrize(
    "heard",
    [
        "my salary was fine",
        "the dashboard is new",
        "a graph of the data",
        "Kafka is fine",
        "I wrote a post to SQL",
    ],
)
def test_ordinary_words_stay(heard: str) -> None:
    """Words that only sound like a term, a singular beside its plural, and words next to a term stay."""
    assert correct_terms(heard, TERMS) == heard
