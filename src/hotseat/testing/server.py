"""Run a real uvicorn server on a free port in a background thread (tests, benchmarks).

The class lives in ``hotseat.serving``, since the terminal client runs its in-process server the
same way; the tests import it from here.
"""

from hotseat.serving import ServerThread

__all__ = ["ServerThread"]
