"""A small HTTP server that answers like the Hugging Face Hub's file endpoints.

``HEAD`` and ``GET /{repo_id}/resolve/{revision}/{filename}`` with the headers huggingface_hub
reads (``X-Repo-Commit``, ``X-Linked-Etag``, ``X-Linked-Size``), ranges (``206``), and a switch
that cuts the first download off part-way, as a dropped connection would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Mirror:
    files: dict[str, bytes]  # "repo_id/filename" -> content
    etags: dict[str, str]  # "repo_id/filename" -> the sha256 the mirror claims
    cut_first_get_after: int | None = None
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    sent_bytes: int = 0
    endpoint: str = ""


@contextmanager
def hub_mirror(mirror: Mirror) -> Iterator[Mirror]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _key(self) -> str | None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return None
            return f"{parts[0]}/{parts[1]}/{'/'.join(parts[4:])}"

        def _headers(self, key: str) -> None:
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("X-Linked-Etag", f'"{mirror.etags[key]}"')
            self.send_header("X-Linked-Size", str(len(mirror.files[key])))
            self.send_header("ETag", f'"{mirror.etags[key]}"')
            self.send_header("Accept-Ranges", "bytes")

        def do_HEAD(self) -> None:
            mirror.requests.append(("HEAD", self.path, None))
            key = self._key()
            if key not in mirror.files:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self._headers(key)
            self.send_header("Content-Length", str(len(mirror.files[key])))
            self.end_headers()

        def do_GET(self) -> None:
            byte_range = self.headers.get("Range")
            mirror.requests.append(("GET", self.path, byte_range))
            key = self._key()
            if key not in mirror.files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = mirror.files[key]
            start = 0
            if byte_range:
                start = int(byte_range.removeprefix("bytes=").split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self._headers(key)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            chunk = body[start:]
            if mirror.cut_first_get_after is not None:
                chunk = chunk[: mirror.cut_first_get_after]
                mirror.cut_first_get_after = None
                self.wfile.write(chunk)
                mirror.sent_bytes += len(chunk)
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(chunk)
            mirror.sent_bytes += len(chunk)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    mirror.endpoint = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield mirror
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
