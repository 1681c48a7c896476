"""Fixtures that run Wharf and Debian's docker-registry (CNCF Distribution 2.8.2)
as real processes on free loopback ports, each with its own store directory.

The Wharf binary is $WHARF_BIN if set, else <repo>/.build/debug/wharf, where
<repo> is found from this file's location. When a test fails, the log of every
server it started is attached to the failure report.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from registry_client import Registry

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def wharf_binary() -> Path:
    configured = os.environ.get("WHARF_BIN")
    return Path(configured) if configured else REPO_ROOT / ".build" / "debug" / "wharf"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed on this machine")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def to_yaml(value, indent: int = 0) -> str:
    """Block-style YAML for nested dicts of scalars (enough for registry configs)."""
    lines = []
    pad = "  " * indent
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:")
            lines.append(to_yaml(item, indent + 1))
        elif isinstance(item, bool):
            lines.append(f"{pad}{key}: {'true' if item else 'false'}")
        elif isinstance(item, (int, float)):
            lines.append(f"{pad}{key}: {item}")
        else:
            lines.append(f'{pad}{key}: "{item}"')
    return "\n".join(line for line in lines if line)


def merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, item in extra.items():
        if isinstance(item, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], item)
        else:
            out[key] = item
    return out


def registry_config(root: Path, port: int, *, delete: bool = True, readonly: bool = False, extra=None) -> dict:
    storage = {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": delete}}
    if readonly:
        storage["maintenance"] = {"readonly": {"enabled": True}}
    config = {
        "version": 0.1,
        "log": {"level": "info"},
        "http": {"addr": f"{LOOPBACK}:{port}"},
        "storage": storage,
    }
    return merge(config, extra or {})


class PortInUse(RuntimeError):
    """The chosen free port was taken by someone else before the server bound it."""


class ServerProcess:
    """One registry process; its output goes to a log file."""

    def __init__(self, name: str, argv: list[str], port: int, root: Path, log_path: Path, env=None):
        self.name = name
        self.argv = argv
        self.port = port
        self.root = root
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen | None = None
        self.client = Registry(f"http://{LOOPBACK}:{port}")

    @property
    def base(self) -> str:
        return self.client.base

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, wait: bool = True) -> "ServerProcess":
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        finally:
            log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if "address already in use" in self.log_text().lower():
                    raise PortInUse(f"{self.name}: port {self.port} was taken")
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} before it was ready:\n{self.log_text()}"
                )
            try:
                response = requests.get(self.base + "/v2/", timeout=2)
                if response.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer GET /v2/ within {timeout}s:\n{self.log_text()}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if not self.running():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def _servers_of(node) -> list:
    if not hasattr(node, "_registry_servers"):
        node._registry_servers = []
    return node._registry_servers


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        for server in getattr(item, "_registry_servers", []):
            text = server.log_text()
            if len(text) > 20000:
                text = "...\n" + text[-20000:]
            report.sections.append((f"{server.name} log ({server.log_path})", text))


@pytest.fixture
def wharf_factory(request, tmp_path):
    """start(root=None, *, delete=True, readonly=False, extra=None, env=None,
    config_text=None, port=None, wait=True) -> ServerProcess running Wharf."""
    binary = wharf_binary()
    if not binary.exists():
        pytest.skip(f"Wharf binary not found at {binary} (set WHARF_BIN or build with `swift build`)")
    started = []

    def start(root=None, *, delete=True, readonly=False, extra=None, env=None, config_text=None, port=None, wait=True):
        for attempt in range(3):
            try:
                return launch(root, delete, readonly, extra, env, config_text, port, wait)
            except PortInUse:
                if port is not None or config_text is not None or attempt == 2:
                    raise

    def launch(root, delete, readonly, extra, env, config_text, port, wait):
        name = f"wharf-{len(started) + 1}"
        root = Path(root) if root else tmp_path / f"{name}-store"
        root.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        config_path = tmp_path / f"{name}.yml"
        if config_text is None:
            config_text = to_yaml(registry_config(root, port, delete=delete, readonly=readonly, extra=extra))
        config_path.write_text(config_text + "\n")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        full_env.update(env or {})
        server = ServerProcess(
            name, [str(binary), "serve", "--config", str(config_path)], port, root,
            tmp_path / f"{name}.log", env=full_env,
        )
        server.config_path = config_path
        started.append(server)
        _servers_of(request.node).append(server)
        return server.start(wait=wait)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def wharf(wharf_factory) -> ServerProcess:
    """A fresh Wharf with an empty store and deletes enabled."""
    return wharf_factory()


@pytest.fixture
def docker_registry_factory(request, tmp_path):
    """start(root=None, *, port=None) -> ServerProcess running Debian's
    docker-registry with the filesystem driver on `root`."""
    binary = require_tool("docker-registry")
    started = []

    def start(root=None, *, port=None, delete=True):
        for attempt in range(3):
            try:
                return launch(root, port, delete)
            except PortInUse:
                if port is not None or attempt == 2:
                    raise

    def launch(root, port, delete):
        name = f"docker-registry-{len(started) + 1}"
        root = Path(root) if root else tmp_path / f"{name}-store"
        root.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        config = registry_config(
            root, port, delete=delete,
            extra={"http": {"secret": uuid.uuid4().hex}, "log": {"accesslog": {"disabled": False}}},
        )
        config_path = tmp_path / f"{name}.yml"
        config_path.write_text(to_yaml(config) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        server = ServerProcess(
            name, [binary, "serve", str(config_path)], port, root, tmp_path / f"{name}.log", env=env,
        )
        started.append(server)
        _servers_of(request.node).append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def docker_registry(docker_registry_factory) -> ServerProcess:
    return docker_registry_factory()


@pytest.fixture
def skopeo():
    """run(*args) -> CompletedProcess of skopeo with TLS off both ways; fails the
    test with skopeo's output when it exits non-zero."""
    binary = require_tool("skopeo")

    def run(*args, check=True, timeout=300):
        argv = [binary, "--insecure-policy", *args]
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env["NO_PROXY"] = "*"
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    return run


# -- pull-through mirror (test_mirror_*.py) ------------------------------------


@pytest.fixture
def mirror_factory(wharf_factory, tmp_path):
    """start(*, proxy=None, mirror=None, middleware=None, root=None, sections=None, env=None) -> Wharf
    whose config carries Distribution's `proxy:` (e.g. {"remoteurl": "http://127.0.0.1:5000"}),
    Wharf's `mirror:` (lists allowed, e.g. upstreams) and `middleware:` sections as given, plus any
    other top-level `sections` (e.g. {"policy": {...}}) and `REGISTRY_*` variables in `env`."""
    from mirror_support import yaml_text

    counter = [0]

    def start(*, proxy=None, mirror=None, middleware=None, root=None, sections=None, env=None):
        counter[0] += 1
        store = Path(root) if root else tmp_path / f"mirror-{counter[0]}-store"
        for attempt in range(3):
            port = free_port()
            config = registry_config(store, port)
            for key, section in (("proxy", proxy), ("mirror", mirror), ("middleware", middleware), *(sections or {}).items()):
                if section is not None:
                    config[key] = section
            try:
                return wharf_factory(store, config_text=yaml_text(config), port=port, env=env)
            except PortInUse:
                if attempt == 2:
                    raise

    return start


def _scripted_upstream(request, flavour):
    from mirror_support import ScriptedUpstream

    require_tool("docker-registry")
    upstream = ScriptedUpstream(flavour)
    upstream.name = f"upstream-{flavour}"
    _servers_of(request.node).append(upstream)
    return upstream


@pytest.fixture
def token_upstream(request):
    """docker-registry behind a Bearer token server (upstream/upstream_registry.py `token`),
    seeded with test/app:v1; `.token_requests()` lists what the token server was asked."""
    upstream = _scripted_upstream(request, "token")
    yield upstream
    upstream.stop()


@pytest.fixture
def basic_upstream(request):
    """docker-registry over HTTPS with htpasswd Basic auth (`tls-basic`); its CA is under
    `.info["certs_dir"]`/127.0.0.1:PORT/ca.crt."""
    upstream = _scripted_upstream(request, "tls-basic")
    yield upstream
    upstream.stop()


@pytest.fixture
def relay_factory():
    """start(upstream_port, cut_after=, corrupt=, delay=, chunk=) -> relay.Relay on 127.0.0.1."""
    from relay import Relay

    relays = []

    def start(upstream_port, **faults):
        relay = Relay(upstream_port, **faults)
        relays.append(relay)
        return relay

    yield start
    for relay in relays:
        relay.stop()
