"""Candidate audio in, PCM out: format sniffing, bounded decoding with PyAV, and the checks before STT.

Decoding uses PyAV (FFmpeg), the library faster-whisper's own ``decode_audio``
uses, the same way (demux, skip invalid packets, resample to 16 kHz mono). It
is not called directly because it decodes the whole file first: a few
megabytes of low-bitrate Opus are hours of audio, gigabytes of samples. Here
decoding stops as soon as the recording passes the duration limit.

Only the formats a browser or a phone records are opened (WAV, WebM, Ogg,
MP3, MP4/M4A), recognised by their first bytes, so FFmpeg's many other
demuxers never see client data.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from hotseat.errors import TooLarge, Unprocessable, UnsupportedType

if TYPE_CHECKING:
    import av

SAMPLE_RATE = 16_000  # what Whisper listens at
# Shorter than this is a click of the button, not an answer.
MIN_SECONDS = 0.3
# Quieter than this (RMS, dB below full scale) is silence: an unplugged or muted microphone.
SILENCE_DBFS = -50.0

Pcm = npt.NDArray[np.float32]

ACCEPTED = "WAV, WebM/Opus, Ogg, MP3 or MP4/M4A"


def sniff(data: bytes) -> str:
    """The container of ``data`` from its first bytes; ``UnsupportedType`` for anything else."""
    head = data[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head[4:8] == b"ftyp":
        return "mp4"
    if not data:
        raise Unprocessable("The recording is empty; record your answer again.")
    raise UnsupportedType(f"This is not a recording hotseat can read; send {ACCEPTED}.")


def decode(data: bytes, max_seconds: float) -> Pcm:
    """16 kHz mono float32 samples of the recording in ``data``.

    Raises ``UnsupportedType`` (not an accepted format), ``Unprocessable``
    (damaged, no audio track, too short, silent) or ``TooLarge`` (longer than
    ``max_seconds``).
    """
    import av  # imported on first use: FFmpeg's libraries are large

    container_format = sniff(data)
    limit = int(max_seconds * SAMPLE_RATE)
    parts: list[npt.NDArray[Any]] = []
    count = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise Unprocessable("The file has no sound in it; record your answer again.")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in _frames(container.demux(stream)):
                frame.pts = None  # as faster-whisper does: the resampler must not drop or pad by time
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    count += samples.size
                    if count > limit:
                        raise TooLarge(
                            f"The recording is longer than {max_seconds:.0f} seconds; "
                            "answer in shorter parts or type the rest."
                        )
                    parts.append(samples)
            parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    except av.error.FFmpegError:
        raise Unprocessable(
            f"The {container_format.upper()} recording could not be decoded; it may be damaged "
            "or cut short. Record your answer again."
        ) from None
    pcm = (np.concatenate(parts) if parts else np.zeros(0, np.int16)).astype(np.float32) / 32768.0
    check_audible(pcm)
    return pcm


def _frames(packets: Iterable[av.Packet[av.AudioStream]]) -> Iterator[av.AudioFrame]:
    """Decoded frames, skipping packets FFmpeg calls invalid (a recording cut mid-packet)."""
    import av

    for packet in packets:
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue
        yield from (frame for frame in frames if isinstance(frame, av.AudioFrame))


def check_audible(pcm: Pcm) -> None:
    """``Unprocessable`` for a recording too short or too quiet to hold an answer."""
    if pcm.size < MIN_SECONDS * SAMPLE_RATE:
        raise Unprocessable("The recording is too short to hold an answer; hold the button while you speak.")
    rms = float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64))))
    if rms == 0.0 or 20 * math.log10(rms) < SILENCE_DBFS:
        raise Unprocessable(
            "No sound was heard in the recording; check that the microphone is on and not muted."
        )


def pcm16(pcm: Pcm) -> bytes:
    """Float samples in [-1, 1] as 16-bit little-endian PCM."""
    return bytes((np.clip(pcm, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def wav_file(pcm: bytes, rate: int) -> bytes:
    """A complete mono 16-bit WAV file around ``pcm``."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


def streaming_wav_header(rate: int) -> bytes:
    """A mono 16-bit WAV header whose lengths say "unknown": the data follows as it is made.

    0xFFFFFFFF in the RIFF and data sizes is the usual mark of a stream of unknown length;
    FFmpeg and browsers read such a file until the connection ends.
    """
    unknown = 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + (b"data" + struct.pack("<I", unknown))
    )


def no_words() -> Unprocessable:
    """A recording with sound in it, but no words the recogniser could make out."""
    return Unprocessable(
        "No words could be made out in the recording; speak closer to the microphone, or type."
    )
