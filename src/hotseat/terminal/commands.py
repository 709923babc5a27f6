"""The client commands: ``interview``, ``sessions list|show|delete`` and ``export`` (docs/cli.md).

Each talks to ``--server URL`` over the public protocol, or without it to an in-process server
started with the operator's settings (``hotseat.client.local``). Every failure a person can fix
(a missing file, a server that cannot be reached, a refused key, an unknown session) is one line
on stderr and exit code 1; no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import typer
from rich.table import Table

from hotseat.client.api import Api
from hotseat.client.files import write_atomically
from hotseat.client.follow import Follower
from hotseat.client.identity import Credentials, IdentityStore
from hotseat.client.local import local_server
from hotseat.errors import BadRequest, HotseatError
from hotseat.terminal.interview import EXIT_LEFT, Interview, command_hint
from hotseat.terminal.output import Output
from hotseat.terminal.prompt import LinePrompter, Prompter, TerminalPrompter

sessions_app = typer.Typer(help="List, show and delete your interviews.", no_args_is_help=True)

Server = Annotated[
    str | None,
    typer.Option(
        "--server", metavar="URL", help="A hotseat server, e.g. http://host:8000. Default: a built-in one."
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", metavar="KEY", help="An API key of the server; kept for later commands."),
]
SessionId = Annotated[str, typer.Argument(metavar="SESSION", help="The session id (hotseat sessions list).")]


def run(command: Callable[[Output], Coroutine[Any, Any, int]]) -> None:
    """Run an async command; a ``HotseatError`` becomes one line and exit 1."""
    out = Output()
    code: int
    try:
        code = asyncio.run(command(out))
    except HotseatError as error:
        out.error(error.message)
        code = 1
    except KeyboardInterrupt:
        code = EXIT_LEFT
    raise typer.Exit(code)


@contextlib.asynccontextmanager
async def connected(server: str | None, api_key: str | None) -> AsyncIterator[Api]:
    """An ``Api`` for the server (or a built-in one), as the identity kept for it."""
    store = IdentityStore()
    with contextlib.ExitStack() as stack:
        if server is None:
            local = stack.enter_context(local_server())
            base_url, key = local.base_url, local.identity_key
        else:
            base_url = key = server_url(server)
        credentials = Credentials(api_key=api_key) if api_key else store.load(key)

        def keep_cookie(cookie: str) -> None:
            store.save(key, Credentials(cookie=cookie))

        api = Api(base_url, credentials, on_cookie=keep_cookie)
        try:
            await api.health()  # reachable, and the key is accepted: only then keep the key
            if api_key:
                store.save(key, credentials)
            yield api
        finally:
            await api.aclose()


def server_url(server: str) -> str:
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest(f"--server must be an http:// or https:// URL, not {server!r}.")
    return server.rstrip("/")


def read_job(job: str) -> str:
    if job == "-":
        return sys.stdin.read()
    try:
        return Path(job).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise BadRequest(f"Cannot read the job description {job!r}: {reason}.") from None


def interview(
    server: Server = None,
    api_key: ApiKey = None,
    pack: Annotated[
        str | None,
        typer.Option(
            help="The pack (hotseat packs list). Default: cv-deep-dive with --cv, else general-behavioural."
        ),
    ] = None,
    cv: Annotated[Path | None, typer.Option(help="Your CV: PDF, DOCX, TXT or Markdown.")] = None,
    job: Annotated[
        str | None, typer.Option(metavar="FILE|-", help="A job description to aim at; - reads stdin.")
    ] = None,
    language: Annotated[str | None, typer.Option(help="Interview language, e.g. en or ko.")] = None,
    resume: Annotated[
        str | None, typer.Option(metavar="SESSION", help="Continue an unfinished interview.")
    ] = None,
) -> None:
    """Have an interview in the terminal: the interviewer's words stream as they are written."""

    async def command(out: Output) -> int:
        if resume is not None and (pack or cv or job or language):
            raise BadRequest(
                "--resume continues an interview as it was: leave out --pack, --cv, --job, --language."
            )
        if cv is not None and not cv.is_file():
            raise BadRequest(f"No CV file at {str(cv)!r}.")
        job_text = read_job(job) if job is not None else None
        async with connected(server, api_key) as api:
            if resume is not None:
                session_id, first = await resumed(api, out, resume, server)
                if session_id is None:
                    return 0
            else:
                session_id, first = await started(api, out, pack, cv, job_text, language)
            prompter: Prompter = LinePrompter() if out.plain else TerminalPrompter()
            async with Follower(api, session_id, first) as follower:
                return await Interview(api, follower, out, prompter, server).run(first)

    run(command)


async def started(
    api: Api, out: Output, pack: str | None, cv: Path | None, job: str | None, language: str | None
) -> tuple[str, str]:
    body: dict[str, Any] = {"pack": pack or ("cv-deep-dive" if cv else "general-behavioural")}
    if cv is not None:
        uploaded = await api.upload_cv(cv)
        pages = f", {uploaded['pages']} pages" if uploaded.get("pages") else ""
        cut = " (cut to fit)" if uploaded.get("truncated") else ""
        out.info(f"Read your CV {uploaded['filename']}: {uploaded['chars']} characters{pages}{cut}.")
        body["cv_id"] = uploaded["id"]
    if job:
        body["job_description"] = job
    if language:
        body["language"] = language
    session = await api.create_session(body)
    model = f", model {api.model}" if api.model else ""
    out.info(f"Interview {session['id']} ({session['pack']}, {session['language']}{model}). /help for help.")
    return str(session["id"]), str(session["turn_id"])


async def resumed(
    api: Api, out: Output, session_id: str, server: str | None
) -> tuple[str | None, str | None]:
    """Show the transcript so far; the turn still streaming, if any, streams next."""
    session = await api.session(session_id)
    out.transcript(session["turns"])
    if session["status"] == "finished":
        out.info(f"This interview is finished. Its report: {command_hint('export', session_id, server)}")
        return None, None
    streaming = [t["id"] for t in session["turns"] if t["status"] == "streaming"]
    return session_id, (streaming[-1] if streaming else None)


@sessions_app.command("list")
def sessions_list(server: Server = None, api_key: ApiKey = None) -> None:
    """Your interviews on the server, newest first."""

    async def command(out: Output) -> int:
        async with connected(server, api_key) as api:
            sessions = await api.sessions()
        if not sessions:
            out.info("No interviews yet: start one with hotseat interview.")
        elif out.plain:
            for s in sessions:
                out.line("\t".join([s["id"], s["status"], s["pack"], s["created_at"]]))
        else:
            table = Table("Session", "Status", "Pack", "Started")
            for s in sessions:
                table.add_row(
                    s["id"], s["status"], s.get("title") or s["pack"], s["created_at"][:16].replace("T", " ")
                )
            out.out.print(table)
        return 0

    run(command)


@sessions_app.command("show")
def sessions_show(session_id: SessionId, server: Server = None, api_key: ApiKey = None) -> None:
    """One interview's transcript."""

    async def command(out: Output) -> int:
        async with connected(server, api_key) as api:
            session = await api.session(session_id)
        out.info(f"Interview {session['id']} ({session['pack']}, {session['status']})")
        out.transcript(session["turns"])
        return 0

    run(command)


@sessions_app.command("delete")
def sessions_delete(session_id: SessionId, server: Server = None, api_key: ApiKey = None) -> None:
    """Delete an interview, its transcript and its assessments."""

    async def command(out: Output) -> int:
        async with connected(server, api_key) as api:
            await api.delete_session(session_id)
        out.info(f"Deleted interview {session_id}.")
        return 0

    run(command)


def export(
    session_id: SessionId,
    server: Server = None,
    api_key: ApiKey = None,
    fmt: Annotated[Literal["md", "json"], typer.Option("--format", help="Markdown or JSON.")] = "md",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", metavar="FILE", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """The interview's report, as the server exports it (Markdown or JSON)."""

    async def command(out: Output) -> int:
        async with connected(server, api_key) as api:
            content = await api.export(session_id, fmt)
        if output is not None:
            write_atomically(output, content)
            out.info(f"Wrote the report to {output}.")
        elif fmt == "md" and not out.plain:
            out.markdown(content.decode("utf-8"))
        else:
            sys.stdout.buffer.write(content)
            sys.stdout.flush()
        return 0

    run(command)
