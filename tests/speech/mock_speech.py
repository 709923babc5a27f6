"""An OpenAI-compatible speech server for tests: ``/v1/audio/transcriptions`` and ``/v1/audio/speech``.

It answers as OpenAI's API does (``{"text"}``; raw 24 kHz 16-bit PCM for
``response_format: pcm``), keeps every request it got, and fails on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse


@dataclass
class MockSpeech:
    transcript: str = "I moved the database to PostgreSQL."
    # When set, every request gets this status and an OpenAI-style error body.
    fail_status: int | None = None
    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    syntheses: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/audio/transcriptions")
        async def transcriptions(request: Request) -> Response:
            async with request.form() as form:
                upload = form["file"]
                assert not isinstance(upload, str)
                self.transcriptions.append(
                    {
                        **{k: v for k, v in form.items() if isinstance(v, str)},
                        "file": await upload.read(),
                        "authorization": request.headers.get("authorization"),
                    }
                )
            if self.fail_status:
                return _error(self.fail_status)
            return JSONResponse({"text": self.transcript})

        @app.post("/v1/audio/speech")
        async def speech(request: Request) -> Response:
            self.syntheses.append(await request.json())
            if self.fail_status:
                return _error(self.fail_status)
            # 0.1 s of a tone per word: the length says what was asked for.
            words = len(self.syntheses[-1]["input"].split())
            t = np.arange(int(2400 * words)) / 24_000
            pcm = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
            return Response(pcm, media_type="audio/pcm")

        return app


def _error(status: int) -> JSONResponse:
    return JSONResponse({"error": {"message": "mock failure", "type": "server_error"}}, status_code=status)
