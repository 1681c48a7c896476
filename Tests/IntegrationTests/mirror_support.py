"""Helpers for the pull-through mirror tests (test_mirror_*.py): Wharf configs with a
`mirror:` / `proxy:` section, counting what reached an upstream from its access log,
streaming downloads hashed on the fly, the store's files, and a Bearer-token upstream
(Tests/IntegrationTests/upstream/upstream_registry.py, flavours `token` and `tls-basic`).

Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from registry_client import Registry, blob_path

HERE = Path(__file__).resolve().parent
UPSTREAM_SCRIPT = HERE / "upstream" / "upstream_registry.py"
STAGING = Path("_wharf") / "staging"


# -- config ---------------------------------------------------------------

def _scalar(item) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (int, float)):
        return str(item)
    return json.dumps(str(item))  # a JSON string is a valid double-quoted YAML scalar


def yaml_text(value, indent: int = 0) -> str:
    """Block YAML for nested dicts, lists of dicts and scalars."""
    pad = "  " * indent
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:")
            lines.append(yaml_text(item, indent + 1))
        elif isinstance(item, list):
            lines.append(f"{pad}{key}:")
            for entry in item:
                if isinstance(entry, dict):
                    body = yaml_text(entry, indent + 2).splitlines()
                    lines.append(f"{pad}  - " + body[0].lstrip())
                    lines.extend(body[1:])
                else:
                    lines.append(f"{pad}  - {_scalar(entry)}")
        else:
            lines.append(f"{pad}{key}: {_scalar(item)}")
    return "\n".join(line for line in lines if line)


# -- upstream access log --------------------------------------------------

def access_lines(log_text: str, method: str, path: str) -> list[str]:
    """Apache combined log lines for `METHOD path` (with or without a query string)."""
    pattern = re.compile(r'"' + re.escape(method) + " " + re.escape(path) + r'[ ?]')
    return [line for line in log_text.splitlines() if pattern.search(line)]


def status_of(line: str) -> int:
    match = re.search(r'HTTP/[0-9.]+" (\d{3}) ', line)
    return int(match.group(1)) if match else 0


def wait_for_lines(read_log, method: str, path: str, at_least: int, timeout: float = 10.0) -> list[str]:
    """The access log writes a line when a response ends: poll a little for it."""
    deadline = time.monotonic() + timeout
    while True:
        lines = access_lines(read_log(), method, path)
        if len(lines) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


# -- downloads ------------------------------------------------------------

def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def hashed_get(url: str, *, headers=None, timeout: float = 120.0, chunk: int = 1 << 20) -> dict:
    """GET `url`, hashing the body as it streams. Returns status, headers, size, digest,
    the first 64 KiB of the body, and `error` (the exception text) if reading failed."""
    out = {"status": None, "headers": {}, "size": 0, "digest": None, "head": b"", "error": None}
    hasher = hashlib.sha256()
    try:
        with session().get(url, headers=headers or {}, stream=True, timeout=timeout) as response:
            out["status"] = response.status_code
            out["headers"] = dict(response.headers)
            for piece in response.iter_content(chunk_size=chunk):
                if len(out["head"]) < 65536:
                    out["head"] += piece[: 65536 - len(out["head"])]
                hasher.update(piece)
                out["size"] += len(piece)
    except requests.RequestException as error:
        out["error"] = f"{type(error).__name__}: {error}"
    out["digest"] = "sha256:" + hasher.hexdigest()
    return out


# -- the store ------------------------------------------------------------

def stored_size(root, digest: str) -> int | None:
    path = blob_path(root, digest)
    return path.stat().st_size if path.exists() else None


def wait_for_blob(root, digest: str, size: int, timeout: float = 30.0) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored_size(root, digest) == size:
            return size
        time.sleep(0.1)
    return stored_size(root, digest)


def staging_files(root) -> list[str]:
    """Staging entries other than the `.keep` marker."""
    directory = Path(root) / STAGING
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if p.name != ".keep")


def wait_for_empty_staging(root, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = staging_files(root)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def hex_of(digest: str) -> str:
    return digest.split(":", 1)[1]


def sha256_file(path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            hasher.update(block)
    return "sha256:" + hasher.hexdigest()


# -- upstreams from upstream_registry.py -----------------------------------

class ScriptedUpstream:
    """docker-registry started by upstream_registry.py: `token` (plain HTTP, Bearer tokens from
    a token server that logs every request) or `tls-basic` (HTTPS, htpasswd). Seeded with
    test/app:v1. `info` is the JSON line the script prints."""

    name = "upstream"

    def __init__(self, flavour: str):
        self.flavour = flavour
        self.tmp = tempfile.TemporaryDirectory(prefix=f"wharf-mirror-{flavour}-")
        self.proc = subprocess.Popen(
            [sys.executable, str(UPSTREAM_SCRIPT), flavour, self.tmp.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            raise RuntimeError(f"upstream_registry.py {flavour} did not start (exit {self.proc.returncode})")
        self.info = json.loads(line)
        self.host = self.info["registry"]
        self.log_path = Path(self.info["workdir"]) / "registry.log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def token_requests(self) -> list[dict]:
        path = self.info.get("token_log")
        if not path or not os.path.exists(path):
            return []
        return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]

    def pushing_client(self, *repositories: str) -> Registry:
        """A Registry client for this (plain HTTP, token) upstream holding a push token for `repositories`."""
        assert self.flavour == "token", "only the token flavour is plain HTTP"
        basic = base64.b64encode(f"{self.info['username']}:{self.info['password']}".encode()).decode()
        scopes = [("scope", f"repository:{repo}:pull,push") for repo in repositories]
        response = session().get(
            self.info["realm"], params=[("service", "wharf-test-registry"), *scopes],
            headers={"Authorization": "Basic " + basic}, timeout=30,
        )
        response.raise_for_status()
        client = Registry(f"http://{self.host}")
        client.session.headers["Authorization"] = "Bearer " + response.json()["token"]
        return client

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.tmp.cleanup()


def blob_url(server, repo: str, digest: str, query: str = "") -> str:
    return f"{server.base}/v2/{repo}/blobs/{digest}{query}"
