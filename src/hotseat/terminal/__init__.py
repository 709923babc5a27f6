"""The terminal commands: ``hotseat interview``, ``hotseat sessions`` and ``hotseat export`` (docs/cli.md).

- ``output``: what the terminal shows (Rich in a terminal, plain text in a pipe).
- ``prompt``: reading answers (prompt_toolkit in a terminal, one line each in a pipe).
- ``interview``: the interview loop: moves, streaming, Ctrl-C, reconnection notices.
- ``commands``: the Typer commands and the connection to a server or the in-process one.
"""
