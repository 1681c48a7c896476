"""A scripted fake registry for test_hostile_upstreams.py: what a real registry cannot be made
to do on purpose (redirect to plain HTTP or to loopback, redirect forever, name a realm on another
host, serve a body that is not a manifest or does not match its digest).

Everything listens on 127.0.0.1. Each fake records every request it gets (method, path and the
`Authorization` header), so a test can count what reached it and prove where credentials went.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import ssl
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "upstream"))
from upstream_registry import mint_tls  # noqa: E402  (a CA + 127.0.0.1 certificate, as the tls-basic upstream uses)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def oci_manifest(config: bytes, layers: list[bytes]) -> bytes:
    """A valid OCI image manifest for `config` and `layers` (the blobs themselves are served separately)."""
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer), "size": len(layer)}
                   for layer in layers],
    }, separators=(",", ":")).encode()


class FakeRegistry:
    """`routes[path]` (the path without query) is `(status, headers, body)` or a function of the
    request handler returning one; `/v2/` answers 200 unless scripted. Unknown paths get 404."""

    def __init__(self, *, tls: bool = False):
        self.routes: dict = {"/v2/": (200, {"Content-Type": "application/json"}, b"{}")}
        self.seen: list[dict] = []
        self.lock = threading.Lock()
        self.tmp = tempfile.TemporaryDirectory(prefix="wharf-hostile-")
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self):
                path = self.path.split("?", 1)[0]
                with fake.lock:
                    fake.seen.append({"method": self.command, "path": path, "query": self.path[len(path):],
                                      "authorization": self.headers.get("Authorization")})
                route = fake.routes.get(path)
                if callable(route):
                    route = route(self)
                status, headers, body = route if route else (404, {"Content-Type": "application/json"},
                                                             b'{"errors":[{"code":"NAME_UNKNOWN","message":"fake"}]}')
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = answer

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.certs_dir = None
        if tls:
            tls_dir, self.certs_dir = mint_tls(self.tmp.name, self.port)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(f"{tls_dir}/server.crt", f"{tls_dir}/server.key")
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls else "http"
        self.base = f"{self.scheme}://{self.host}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests_to(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.seen if r["path"] == path]

    def authorizations(self) -> list[str]:
        with self.lock:
            return [r["authorization"] for r in self.seen if r["authorization"]]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.tmp.cleanup()


def redirect(to: str, status: int = 307) -> tuple:
    return (status, {"Location": to}, b"")


def blob_answer(body: bytes) -> tuple:
    return (200, {"Content-Type": "application/octet-stream", "Docker-Content-Digest": sha256(body)}, body)


def manifest_answer(body: bytes, media_type: str = OCI_MANIFEST, digest: str | None = None) -> tuple:
    return (200, {"Content-Type": media_type, "Docker-Content-Digest": digest or sha256(body)}, body)
