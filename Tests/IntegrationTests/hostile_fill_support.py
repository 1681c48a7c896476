"""A fake upstream registry that misbehaves on purpose (test_hostile_fills.py), for what a
real registry cannot be made to do: trickle a blob, send an endless body, answer a resume
(`Range`) with a 200 of other bytes or with a lying `Content-Range`, send huge token, tag
list or error bodies.

It runs in the test process (a threaded HTTP/1.1 server on 127.0.0.1) and records every
request, so tests count what reached the upstream. Each blob has a `behaviour`, a function
`(handler, blob, attempt, range_start) -> None` that writes the whole response; `attempt`
counts the GETs of that blob so far (0 for the first).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import threading
import time


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Blob:
    def __init__(self, data: bytes, behaviour):
        self.data = data
        self.digest = digest_of(data)
        self.behaviour = behaviour
        self.gets = 0
        #: bytes of body the behaviour managed to send, per GET
        self.sent: list[int] = []


class HostileUpstream:
    """start() -> self; host is "127.0.0.1:<port>"; add_blob(repo, data, behaviour) -> digest."""

    def __init__(self, *, token_size: int | None = None, tag_pages: list[int] | None = None, error_size: int | None = None):
        self.blobs: dict[str, Blob] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        #: When set, /v2/ asks for a Bearer token and the token server answers `token_size` bytes.
        self.token_size = token_size
        #: Tag list pages: each page holds tags summing to about this many bytes.
        self.tag_pages = tag_pages or []
        #: When set, unknown blobs are answered 404 with an error body this large.
        self.error_size = error_size
        #: Manifests by "<repo>:<reference>": (media type, body).
        self.manifests: dict[str, tuple[str, bytes]] = {}
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                upstream._serve(self, head=True)

            def do_GET(self):
                upstream._serve(self, head=False)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "HostileUpstream":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_blob(self, data: bytes, behaviour) -> str:
        blob = Blob(data, behaviour)
        self.blobs[blob.digest] = blob
        return blob.digest

    def add_image(self, repo: str, tag: str, config: bytes, layer_digest: str, layer_size: int) -> bytes:
        """An OCI image manifest under `repo:tag` (and by digest) whose one layer is declared
        `layer_size` bytes; the config blob is served honestly. Returns the manifest's bytes."""
        config_digest = self.add_blob(config, lambda h, blob, attempt, start: (
            start_body(h, 200, [("Content-Length", str(len(blob.data)))]), send(h, blob, blob.data)))
        body = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
        }).encode()
        media_type = "application/vnd.oci.image.manifest.v1+json"
        self.manifests[f"{repo}:{tag}"] = (media_type, body)
        self.manifests[f"{repo}:{digest_of(body)}"] = (media_type, body)
        return body

    def blob_gets(self, digest: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["method"] == "GET" and r["path"].endswith("/blobs/" + digest)]

    def token_gets(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"].startswith("/token")]

    # -- serving ---------------------------------------------------------------

    def _serve(self, h, head: bool) -> None:
        path = h.path.split("?", 1)[0]
        with self.lock:
            self.requests.append({"method": h.command, "path": path, "range": h.headers.get("Range"),
                                  "authorization": h.headers.get("Authorization")})
        try:
            if path.startswith("/token"):
                token = "t" * max(1, (self.token_size or 16) - 20)
                return reply(h, 200, json.dumps({"token": token, "expires_in": 300}).encode(), "application/json")
            if path == "/v2/" or path == "/v2":
                if self.token_size is not None and not h.headers.get("Authorization"):
                    return self._challenge(h)
                return reply(h, 200, b"{}", "application/json")
            if self.token_size is not None and not h.headers.get("Authorization"):
                return self._challenge(h)
            if path.endswith("/tags/list"):
                return self._tags(h)
            if "/manifests/" in path:
                repo, reference = path[len("/v2/"):].split("/manifests/", 1)
                found = self.manifests.get(f"{repo}:{reference}")
                if found is None:
                    return reply(h, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}', "application/json")
                media_type, body = found
                return reply(h, 200, b"" if head else body, media_type, length=len(body),
                             extra=[("Docker-Content-Digest", digest_of(body))])
            if "/blobs/" in path:
                digest = path.rsplit("/", 1)[1]
                blob = self.blobs.get(digest)
                if blob is None:
                    if self.error_size:
                        body = json.dumps({"errors": [{"code": "BLOB_UNKNOWN", "message": "x" * self.error_size}]}).encode()
                        return reply(h, 404, body, "application/json")
                    return reply(h, 404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}', "application/json")
                if head:
                    return reply(h, 200, b"", "application/octet-stream", length=len(blob.data), extra=[("Docker-Content-Digest", blob.digest)])
                with self.lock:
                    attempt = blob.gets
                    blob.gets += 1
                start = parse_range(h.headers.get("Range"))
                blob.behaviour(h, blob, attempt, start)
                return
            reply(h, 404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}', "application/json")
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            h.close_connection = True

    def _challenge(self, h) -> None:
        realm = f"http://{self.host}/token"
        reply(h, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}', "application/json",
              extra=[("WWW-Authenticate", f'Bearer realm="{realm}",service="hostile"')])

    def _tags(self, h) -> None:
        query = h.path.split("?", 1)[1] if "?" in h.path else ""
        page = int(query.split("page=", 1)[1].split("&")[0]) if "page=" in query else 0
        size = self.tag_pages[page] if page < len(self.tag_pages) else 0
        tags = [f"t{page}-{i:0100d}" for i in range(max(1, size // 110))]
        extra = []
        if page + 1 < len(self.tag_pages):
            repo = h.path.split("/v2/", 1)[1].rsplit("/tags/list", 1)[0]
            extra.append(("Link", f'</v2/{repo}/tags/list?page={page + 1}>; rel="next"'))
        reply(h, 200, json.dumps({"name": "x", "tags": tags}).encode(), "application/json", extra=extra)


def parse_range(value: str | None) -> int:
    if not value or not value.startswith("bytes="):
        return 0
    return int(value[len("bytes="):].split("-", 1)[0] or 0)


def reply(h, status: int, body: bytes, content_type: str, *, length: int | None = None, extra=()) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body) if length is None else length))
    h.send_header("Docker-Distribution-API-Version", "registry/2.0")
    for name, value in extra:
        h.send_header(name, value)
    h.end_headers()
    if body and h.command != "HEAD":
        h.wfile.write(body)


def start_body(h, status: int, headers) -> None:
    h.send_response(status)
    h.send_header("Content-Type", "application/octet-stream")
    for name, value in headers:
        h.send_header(name, value)
    h.end_headers()


def send(h, blob: Blob, data: bytes, *, rate: float | None = None, piece: int = 64 * 1024) -> int:
    """Writes `data` (at `rate` bytes per second when given); returns the bytes sent."""
    sent = 0
    record = len(blob.sent)
    blob.sent.append(0)
    try:
        while sent < len(data):
            chunk = data[sent:sent + (piece if rate is None else max(1, int(rate / 10)))]
            h.wfile.write(chunk)
            h.wfile.flush()
            sent += len(chunk)
            blob.sent[record] = sent
            if rate is not None:
                time.sleep(len(chunk) / rate)
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass
    return sent


def cut(h) -> None:
    """Drops the connection without finishing the response."""
    h.close_connection = True
    try:
        h.wfile.flush()
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def chunked(h, blob: Blob, data_source, *, stop_after: int | None = None) -> int:
    """Writes a chunked body from `data_source()` pieces until it returns b"" (then ends the
    body) or the client goes away; `stop_after`: cut (no final chunk) after that many bytes."""
    sent = 0
    record = len(blob.sent)
    blob.sent.append(0)
    try:
        while True:
            piece = data_source()
            if stop_after is not None and sent + len(piece) > stop_after:
                piece = piece[: stop_after - sent]
            if not piece:
                break
            h.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            h.wfile.flush()
            sent += len(piece)
            blob.sent[record] = sent
            if stop_after is not None and sent >= stop_after:
                cut(h)
                return sent
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass
    return sent


def pieces_of(data: bytes, size: int = 64 * 1024):
    position = [0]

    def next_piece() -> bytes:
        piece = data[position[0]:position[0] + size]
        position[0] += len(piece)
        return piece

    return next_piece


def random_pieces(size: int = 64 * 1024):
    block = os.urandom(size)
    return lambda: block
