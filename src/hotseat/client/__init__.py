"""A client of hotseat's public wire protocol (docs/protocol.md), used by the terminal commands.

- ``identity``: who the client is to each server (the owner cookie or an API key), kept on disk.
- ``api``: the HTTP calls under ``/api``, errors rebuilt as ``HotseatError``.
- ``follow``: one session's WebSocket, reconnecting and resuming by seq with no gap and no repeat.
- ``local``: an in-process server for when no ``--server`` is given.
"""
