"""Recordings are sniffed, decoded with a bound, and refused with clear errors when they cannot be answers."""

from __future__ import annotations

import numpy as np
import pytest
from audiofiles import encoded, tone, wav

from hotseat.errors import TooLarge, Unprocessable, UnsupportedType
from hotseat.speech import audio


@pytest.mark.parametrize(
    ("container", "codec"), [("webm", "libopus"), ("ogg", "libopus"), ("mp3", "libmp3lame"), ("ipod", "aac")]
)
def test_browser_formats_decode_to_16k_mono(container: str, codec: str) -> None:
    """WebM/Opus, Ogg/Opus, MP3 and M4A recordings decode to 16 kHz mono of the same length."""
    pcm = audio.decode(encoded(tone(1.5), container, codec), max_seconds=10)
    assert pcm.dtype == np.float32
    assert abs(pcm.size - 1.5 * audio.SAMPLE_RATE) < 0.1 * audio.SAMPLE_RATE


def test_wav_at_another_rate_is_resampled() -> None:
    """A 44.1 kHz WAV comes out at 16 kHz."""
    pcm = audio.decode(wav(tone(1.0, rate=44_100), rate=44_100), max_seconds=10)
    assert abs(pcm.size - audio.SAMPLE_RATE) < 200


def test_too_long_stops_decoding_with_too_large() -> None:
    """A recording past the limit is refused with the limit in the message."""
    with pytest.raises(TooLarge, match="longer than 2 seconds"):
        audio.decode(encoded(tone(3.0), "webm", "libopus"), max_seconds=2)


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"%PDF-1.7 not audio", UnsupportedType, "WAV, WebM/Opus"),
        (b"", Unprocessable, "empty"),
        (b"OggS" + bytes(200), Unprocessable, "could not be decoded"),
    ],
)
def test_not_a_recording(data: bytes, error: type[Exception], words: str) -> None:
    """Another kind of file, an empty one, and a damaged one each get their own error."""
    with pytest.raises(error, match=words):
        audio.decode(data, max_seconds=10)


def test_silence_and_clicks_are_refused() -> None:
    """Digital silence, a near-silent hiss and a 0.1 s click are not answers."""
    rng = np.random.default_rng(1)
    hiss = (rng.standard_normal(16_000) * 0.001).astype(np.float32)
    for samples, words in (
        (np.zeros(16_000, np.float32), "No sound"),
        (hiss, "No sound"),
        (tone(0.1), "short"),
    ):
        with pytest.raises(Unprocessable, match=words):
            audio.decode(wav(samples), max_seconds=10)


def test_streaming_wav_header_is_read_by_ffmpeg() -> None:
    """The open-ended WAV header of a spoken turn is a WAV that FFmpeg reads to the end of the data."""
    samples = tone(0.5, rate=22_050)
    stream = audio.streaming_wav_header(22_050) + audio.pcm16(samples)
    pcm = audio.decode(stream, max_seconds=10)
    assert abs(pcm.size - 0.5 * audio.SAMPLE_RATE) < 200
