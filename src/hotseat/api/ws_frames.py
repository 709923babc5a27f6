"""Reading the client's WebSocket frames: JSON text, validated as ``api.schemas.ClientFrame``."""

from __future__ import annotations

from typing import overload

import orjson
from fastapi import WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from hotseat.api.errors import bad_frame
from hotseat.api.schemas import ClientFrame, client_frame, ref_of
from hotseat.api.ws_audio import AudioChannel, Taken
from hotseat.errors import BadRequest


class BadFrame(Exception):
    """A client frame that is binary, not JSON or invalid, and the ``ref`` to answer it with.

    The socket stays usable: the client gets ``error`` as an error frame.
    """

    def __init__(self, error: BadRequest, ref: str | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.ref = ref


@overload
async def receive_frame(websocket: WebSocket) -> ClientFrame | None: ...


@overload
async def receive_frame(websocket: WebSocket, audio: AudioChannel) -> ClientFrame | Taken | None: ...


async def receive_frame(
    websocket: WebSocket, audio: AudioChannel | None = None
) -> ClientFrame | Taken | None:
    """The client's next frame, or None once it has gone; ``BadFrame`` if it is not a valid one.

    With ``audio``, binary frames and the audio frame types go to it (``api.ws_audio``), which
    answers them itself: ``Taken`` comes back.
    """
    try:
        message = await websocket.receive()
    except WebSocketDisconnect:
        return None
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None:
        if audio is not None:  # binary frames carry recordings
            return await audio.binary(message.get("bytes") or b"")
        raise BadFrame(BadRequest("Binary frames are not supported; send JSON text frames."))
    try:
        data = orjson.loads(text)
    except ValueError as exc:
        raise BadFrame(bad_frame(exc)) from None
    if audio is not None and audio.handles(data):
        return await audio.frame(data)
    return validate_frame(data)


def validate_frame(data: object) -> ClientFrame:
    """``data`` as a client frame; ``BadFrame`` (with the frame's ref, if valid) if it is not one."""
    try:
        frame: ClientFrame = client_frame.validate_python(data)
    except ValidationError as exc:
        raise BadFrame(bad_frame(exc), ref_of(data)) from None
    return frame
