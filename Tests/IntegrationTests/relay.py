"""A threaded TCP relay on 127.0.0.1 between Wharf and an upstream registry that can
misbehave on blob bodies, for the mirror's fault tests.

Each connection carries one request: the relay rewrites the request's `Connection` header
to `close`, so a response's body runs to the end of the connection and needs no framing.
Bytes that do not start like an HTTP request (a TLS ClientHello when Wharf tries HTTPS
first) pass through untouched.

Faults apply to the body of `GET .../blobs/...` responses with status 200 or 206:
- `cut_after = N`: the first such response is cut (both sockets closed) after N body
  bytes; later ones pass through.
- `corrupt = True`: one byte in every 64 KiB of body is flipped.
- `delay = seconds`: sleep that long before forwarding each `chunk` bytes of body.

`requests` lists what went through: dicts with method, path, range, status.
"""

from __future__ import annotations

import socket
import threading
import time

HEADER_LIMIT = 64 * 1024
IO_TIMEOUT = 120.0


class Relay:
    def __init__(self, upstream_port: int, *, cut_after: int | None = None, corrupt: bool = False,
                 delay: float = 0.0, chunk: int = 64 * 1024):
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.corrupt = corrupt
        self.delay = delay
        self.chunk = chunk
        self.requests: list[dict] = []
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, name="relay-accept", daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def blob_gets(self, digest: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["method"] == "GET" and r["path"].split("?")[0].endswith("/blobs/" + digest)]

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            _close(s)

    # -- plumbing ----------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name="relay-conn", daemon=True).start()

    def _track(self, *sockets) -> None:
        with self._lock:
            self._sockets.update(sockets)

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            client.settimeout(IO_TIMEOUT)
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=IO_TIMEOUT)
            self._track(client, upstream)
            first = client.recv(65536)
            if not first:
                return
            if not first[:1].isalpha():  # not HTTP: pass everything through both ways
                upstream.sendall(first)
                self._pipe_both(client, upstream)
                return
            head, rest = _read_head(client, first)
            record, request_bytes = _rewrite_request(head)
            with self._lock:
                self.requests.append(record)
            upstream.sendall(request_bytes + rest)
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            self._relay_response(upstream, client, record)
        except OSError:
            pass
        finally:
            _close(client)
            if upstream is not None:
                _close(upstream)

    def _pipe_both(self, client, upstream) -> None:
        threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
        _pump(upstream, client)

    def _relay_response(self, upstream, client, record) -> None:
        first = upstream.recv(65536)
        if not first:
            return
        head, body = _read_head(upstream, first)
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split(" ")
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        record["status"] = status
        client.sendall(head)
        faulty = record["method"] == "GET" and "/blobs/" in record["path"] and status in (200, 206)
        cut = None
        if faulty and self.cut_after is not None:
            with self._lock:
                if self.cuts == 0:
                    self.cuts = 1
                    cut = self.cut_after
        sent = 0
        pending = body
        while True:
            if not pending:
                pending = upstream.recv(self.chunk)
                if not pending:
                    return
            piece, pending = pending[: self.chunk], pending[self.chunk:]
            if faulty:
                if cut is not None and sent + len(piece) >= cut:
                    client.sendall(piece[: cut - sent])
                    record["cut_at"] = cut
                    return  # `finally` closes both sockets mid-body
                if self.corrupt:
                    piece = _flip(piece, sent)
                if self.delay:
                    time.sleep(self.delay)
            client.sendall(piece)
            sent += len(piece)


def _flip(piece: bytes, offset: int) -> bytes:
    """Flip the byte at every body offset p with p % 64 KiB == 7 (`offset`: where `piece` starts)."""
    data = bytearray(piece)
    step = 64 * 1024
    for position in range((7 - offset) % step, len(data), step):
        data[position] ^= 0xFF
    return bytes(data)


def _read_head(sock: socket.socket, first: bytes) -> tuple[bytes, bytes]:
    data = first
    while b"\r\n\r\n" not in data:
        if len(data) > HEADER_LIMIT:
            raise OSError("header too long")
        more = sock.recv(65536)
        if not more:
            raise OSError("connection closed inside the header")
        data += more
    end = data.index(b"\r\n\r\n") + 4
    return data[:end], data[end:]


def _rewrite_request(head: bytes) -> tuple[dict, bytes]:
    lines = head[:-4].split(b"\r\n")
    method, _, rest = lines[0].decode("latin-1").partition(" ")
    path = rest.rsplit(" ", 1)[0]
    record = {"method": method, "path": path, "range": None, "status": None}
    kept = [lines[0]]
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered in (b"connection", b"keep-alive"):
            continue
        if lowered == b"range":
            record["range"] = value.strip().decode("latin-1")
        kept.append(line)
    kept.append(b"Connection: close")
    return record, b"\r\n".join(kept) + b"\r\n\r\n"


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
