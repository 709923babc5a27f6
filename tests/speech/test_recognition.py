"""Spoken answers full of technical words are heard right when the CV's terms are given as hints.

22 answers, spoken in the test by the embedded Piper voice and by espeak-ng
(a different, robotic voice), are transcribed by the embedded Whisper tiny.en
through ``Speech.transcribe`` (decode, checks, hints) with the terms of the
candidate's CV, and again without. Both word error rates are printed
(``pytest -s``). Every hinted term said must be in its transcript.

The issue's goal is a WER of at most 10 % with hints, and the test holds it:
9.6 % here, about one word of margin. Decoding is deterministic on a given CPU
(three runs, the same words); another CPU's vector units may round differently,
and a change that costs two words fails the test, as a worse recogniser would.
What remains are small words ("in" heard as "and", "used" as "use"), not terms.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import jiwer
import pytest
from audiofiles import espeak
from piper import PiperVoice, SynthesisConfig

from hotseat.speech import hints
from hotseat.speech.audio import wav_file
from hotseat.speech.stt import EmbeddedTranscriber
from hotseat.speech.tts import EmbeddedSynthesizer, default_voice_path
from hotseat.speech.voice import Speech

CV = """Jane Doe, Backend Engineer.
Payments platform at Acme: built the payments API on PostgreSQL with idempotency keys, consumed events
from Kafka, cached hot reads in Redis, and moved the services to Kubernetes with Terraform.
Search: ran Elasticsearch clusters, wrote the ingestion jobs in Airflow, and exposed them through GraphQL.
Platform: gRPC between services, OAuth for the public API, Prometheus and Grafana dashboards, alerts in
PagerDuty, background jobs on RabbitMQ and Celery, a Django admin, and a TypeScript front end.
"""

ANSWERS = [
    "I added an idempotency key to every payment request and stored it in PostgreSQL.",
    "We consumed the order events from Kafka and wrote them to PostgreSQL in batches.",
    "The cache in Redis cut the read load on the database by half.",
    "I moved all of our services to Kubernetes and described the clusters in Terraform.",
    "Our search ran on Elasticsearch, and the ingestion jobs were scheduled in Airflow.",
    "The mobile team asked for GraphQL, so I put it in front of the search service.",
    "Between the services we used gRPC, because the payloads were large and typed.",
    "The public API used OAuth, and every token had a short lifetime.",
    "I built the dashboards in Grafana on top of metrics from Prometheus.",
    "When an alert fired, PagerDuty woke the engineer on call.",
    "Slow work went to background jobs on RabbitMQ, run by Celery workers.",
    "The support staff used a Django admin to refund payments.",
    "I rewrote the front end in TypeScript so that the types matched the API.",
    "A retry with the same idempotency key returns the first result instead of charging twice.",
    "We partitioned the Kafka topic by customer so that events stayed in order.",
    "Terraform plans ran in the pipeline before anyone could change Kubernetes.",
    "The hardest bug was a deadlock in PostgreSQL between two payment updates.",
    "I set a time to live on every key in Redis so that stale prices expired.",
    "Prometheus scraped every pod, and the alerts went to PagerDuty.",
    "We replaced a nightly cron script with an Airflow pipeline that could retry.",
    "The GraphQL schema hid the Elasticsearch details from the clients.",
    "Celery retried failed jobs three times before they went to a dead letter queue.",
]

WORD = re.compile(r"[a-z0-9']+")


def normalise(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))


def missed_terms(reference: str, heard: str, terms: list[str]) -> list[str]:
    """The hinted terms said in ``reference`` that are not in ``heard`` (as words, any case)."""
    said = f" {normalise(reference)} "
    got = f" {normalise(heard)} "
    return [t for t in terms if f" {normalise(t)} " in said and f" {normalise(t)} " not in got]


@pytest.fixture(scope="module")
def speech() -> Speech:
    speech = Speech(EmbeddedTranscriber(), EmbeddedSynthesizer(), max_seconds=60, max_bytes=10 * 1024 * 1024)
    assert isinstance(speech.transcriber, EmbeddedTranscriber)
    speech.transcriber.warm()
    return speech


def recordings(directory: Path) -> list[bytes]:
    """Even answers in the Piper voice, odd ones in espeak-ng's; the same every run.

    Piper's voices add random variation (``noise_scale``); here it is off, so that the
    numbers below do not move between runs.
    """
    voice = PiperVoice.load(default_voice_path())
    steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    made = []
    for index, text in enumerate(ANSWERS):
        if index % 2 == 0:
            chunks = list(voice.synthesize(text, steady))
            made.append(wav_file(b"".join(c.audio_int16_bytes for c in chunks), chunks[0].sample_rate))
        else:
            made.append(espeak(text, directory))
    return made


async def test_hinted_terms_are_heard_and_wer_is_low(speech: Speech, tmp_path: Path) -> None:
    """With the CV's terms as hints: WER ≤ 10 % over 22 answers and every hinted term right."""
    terms = hints.terms(CV)
    assert {"PostgreSQL", "idempotency", "Kafka", "gRPC", "GraphQL", "PagerDuty"} <= set(terms)
    audio = recordings(tmp_path)
    results: dict[str, list[str]] = {}
    spoken = 0.0
    started = time.perf_counter()
    for label, vocabulary in (("with hints", [CV]), ("without hints", [])):
        transcripts = [await speech.transcribe(data, "en", vocabulary) for data in audio]
        results[label] = [t.text for t in transcripts]
        spoken += sum(t.seconds for t in transcripts)
    seconds = time.perf_counter() - started
    references = [normalise(text) for text in ANSWERS]
    rates = {label: jiwer.wer(references, [normalise(h) for h in heard]) for label, heard in results.items()}
    misses = {
        label: [m for ref, hyp in zip(ANSWERS, heard, strict=True) for m in missed_terms(ref, hyp, terms)]
        for label, heard in results.items()
    }
    print(
        f"\n{len(ANSWERS)} answers, {2 * len(ANSWERS)} transcriptions of {spoken:.0f} s of speech "
        f"in {seconds:.1f} s (real-time factor {seconds / spoken:.2f}, decoding included)"
    )
    for label in results:
        print(f"{label}: WER {rates[label]:.1%}, hinted terms missed: {misses[label]}")
    for reference, hinted, plain in zip(
        ANSWERS, results["with hints"], results["without hints"], strict=True
    ):
        if normalise(hinted) != normalise(reference) or normalise(plain) != normalise(reference):
            print(f"  said:    {reference}\n  hinted:  {hinted}\n  plain:   {plain}")
    assert misses["with hints"] == []
    assert rates["with hints"] <= 0.10
    assert rates["with hints"] <= 0.6 * rates["without hints"]
