"""A webhook listener for the notification tests: a small HTTP server on 127.0.0.1 that
records every POST (headers and JSON body) and answers as told.

Modes: `ok` answers 200; `fail=N` answers 500 to the first N posts, then 200; `hang` accepts
the connection and never answers; `delay=S` answers 200 after S seconds.
"""

from __future__ import annotations

import http.server
import json
import threading
import time


class EventListener:
    def __init__(self, *, fail: int = 0, hang: bool = False, delay: float = 0.0):
        self.posts: list[dict] = []
        self.fail = fail
        self.hang = hang
        self.delay = delay
        self._lock = threading.Lock()
        self._stop = threading.Event()
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with listener._lock:
                    listener.posts.append({
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "all_headers": [(k.lower(), v) for k, v in self.headers.items()],
                        "body": body,
                        "at": time.monotonic(),
                    })
                    attempt = len(listener.posts)
                if listener.hang:
                    listener._stop.wait(120)
                    return
                if listener.delay:
                    time.sleep(listener.delay)
                status = 500 if attempt <= listener.fail else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/events"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> list[dict]:
        """Every event of every post, in arrival order (retried posts appear again)."""
        out = []
        with self._lock:
            posts = list(self.posts)
        for post in posts:
            out.extend(json.loads(post["body"])["events"])
        return out

    def accepted_events(self) -> list[dict]:
        """Events of the posts that were answered 200 (those after the first `fail`)."""
        with self._lock:
            posts = list(self.posts[self.fail:])
        return [event for post in posts for event in json.loads(post["body"])["events"]]

    def wait_for(self, predicate, *, count: int = 1, timeout: float = 15.0) -> list[dict]:
        """Waits until `count` accepted events satisfy `predicate`; returns those events."""
        deadline = time.monotonic() + timeout
        while True:
            found = [event for event in self.accepted_events() if predicate(event)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


def is_event(action: str, repository: str, digest: str | None = None, media_type: str | None = None):
    def check(event: dict) -> bool:
        target = event.get("target", {})
        return (event.get("action") == action and target.get("repository") == repository
                and (digest is None or target.get("digest") == digest)
                and (media_type is None or target.get("mediaType") == media_type))
    return check
