"""Helpers for the metrics and request-limit tests: Wharf configs with an `openshift:`
section, and a Prometheus text-format scrape read into numbers.

Everything talks to 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import requests

from conftest import PortInUse, free_port, registry_config
from mirror_support import yaml_text

METRICS_PATH = "/extensions/v2/metrics"
SECRET = "scrape-secret-3f1c"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # loopback only, never an environment proxy
    return s


def metrics_section(secret: str = SECRET) -> dict:
    return {"metrics": {"enabled": True, "secret": secret}}


def start_wharf(wharf_factory, tmp_path: Path, name: str, **sections):
    """Wharf with the given top-level sections (`openshift`, `proxy`, `middleware`, ...)."""
    store = tmp_path / f"{name}-store"
    for attempt in range(3):
        port = free_port()
        config = registry_config(store, port)
        config.update(sections)
        try:
            return wharf_factory(store, config_text=yaml_text(config), port=port)
        except PortInUse:
            if attempt == 2:
                raise


def scrape(server, secret: str = SECRET) -> dict:
    """{(name, frozenset of label pairs): value} from the metrics endpoint."""
    response = session().get(server.base + METRICS_PATH, headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert response.status_code == 200, (response.status_code, response.text)
    return parse(response.text)


def parse(text: str) -> dict:
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name, labels, value = match.groups()
        pairs = frozenset(LABEL.findall(labels or ""))
        samples[(name, pairs)] = float(value)
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The sum of every series of `name` whose labels include `labels` (0 if none)."""
    wanted = set(labels.items())
    return sum(v for (n, pairs), v in samples.items() if n == name and wanted <= set(pairs))


def series(samples: dict, name: str) -> list[dict]:
    return [dict(pairs) for (n, pairs) in samples if n == name]


def wait_for_value(server, name: str, expected: float, timeout: float = 10.0, **labels) -> dict:
    """Scrapes until `name{labels}` equals `expected`: a request is counted once its response
    was written, a moment after the client has read it. Returns the last scrape."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(server)
        if value(samples, name, **labels) == expected or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)
