"""What an operator reads and probes: the access log in each formatter, liveness and readiness."""

import json
import os
import re
import subprocess
import time

import pytest
import requests

from registry_client import sha256_digest


def wait_for_line(server, pattern, limit=5.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        lines = [line for line in server.log_text().splitlines() if re.search(pattern, line)]
        if lines:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"no log line matching {pattern!r}; log ends: {server.log_text()[-500:]!r}")


def test_every_request_gets_one_access_line_with_method_path_status_bytes_and_cache_result(wharf):
    data = b"access log body"
    digest = wharf.client.push_blob("ops/app", data)
    response = requests.get(f"{wharf.base}/v2/ops/app/blobs/{digest}", timeout=10)
    assert response.status_code == 200
    lines = wait_for_line(wharf, rf"http\.path=/v2/ops/app/blobs/{digest} ")
    assert len([line for line in lines if "http.method=GET" in line]) == 1
    line = next(line for line in lines if "http.method=GET" in line)
    assert "http.status=200" in line
    assert f"http.bytes={len(data)}" in line
    assert "cache.result=hit" in line
    assert re.search(r"duration_ms=[0-9.]+", line)
    missing = requests.get(f"{wharf.base}/v2/ops/app/manifests/nope", timeout=10)
    assert missing.status_code == 404
    assert "http.status=404" in wait_for_line(wharf, r"http\.path=/v2/ops/app/manifests/nope")[0]


def test_the_query_never_reaches_the_log(wharf):
    secret = "SIGNATURE-THAT-MUST-NOT-BE-LOGGED"
    requests.get(f"{wharf.base}/v2/ops/app/tags/list?Signature={secret}&Key-Pair-Id=K", timeout=10)
    requests.get(f"{wharf.base}/v2/", headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    wait_for_line(wharf, r"http\.path=/v2/ops/app/tags/list")
    assert secret not in wharf.log_text()


def test_json_formatter_writes_one_json_object_per_line(wharf_factory):
    wharf = wharf_factory(extra={"log": {"formatter": "json", "fields": {"service": "edge-7"}}})
    requests.get(f"{wharf.base}/v2/json/app/tags/list", timeout=10)
    wait_for_line(wharf, r'"http.path":"/v2/json/app/tags/list"')
    lines = wharf.log_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [r for r in records if r.get("msg") == "request" and r.get("http.path") == "/v2/json/app/tags/list"]
    assert len(access) == 1
    assert access[0]["http.status"] == "404" and access[0]["level"] == "info" and access[0]["service"] == "edge-7"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", access[0]["time"])


def test_logfmt_formatter_quotes_values_that_need_it(wharf_factory):
    wharf = wharf_factory(extra={"log": {"formatter": "logfmt"}})
    requests.get(f"{wharf.base}/v2/", timeout=10)
    line = wait_for_line(wharf, r"http\.path=/v2/ ")[0]
    assert line.startswith("time=") and " level=info msg=request " in line
    assert "http.status=200" in line


def test_access_log_can_be_disabled(wharf_factory):
    wharf = wharf_factory(extra={"log": {"accesslog": {"disabled": True}}})
    requests.get(f"{wharf.base}/v2/", timeout=10)
    time.sleep(0.3)
    assert "http.path=" not in wharf.log_text()


def test_healthz_answers_200_and_readyz_reports_storage(wharf):
    live = requests.get(f"{wharf.base}/healthz", timeout=10)
    assert live.status_code == 200 and live.text == "ok\n"
    ready = requests.get(f"{wharf.base}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "configuration": "loaded", "storage": "writable"}


@pytest.mark.skipif(os.geteuid() != 0, reason="remounting a tmpfs read-only needs root")
def test_readyz_is_503_when_storage_is_not_writable(wharf_factory, tmp_path):
    mountpoint = tmp_path / "store"
    mountpoint.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        wharf = wharf_factory(root=mountpoint)
        digest = wharf.client.push_blob("ops/ro", b"kept")
        subprocess.run(["mount", "-o", "remount,ro", str(mountpoint)], check=True)
        ready = requests.get(f"{wharf.base}/readyz", timeout=10)
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "not ready"
        assert requests.get(f"{wharf.base}/healthz", timeout=10).status_code == 200
        # Still serves what it holds.
        assert requests.get(f"{wharf.base}/v2/ops/ro/blobs/{digest}", timeout=10).content == b"kept"
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_mirror_access_lines_say_miss_then_hit_and_name_the_upstream(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    upstream.client.push_image("ops/mirrored", "v1")
    wharf = mirror_factory(proxy={"remoteurl": upstream.base})
    host = upstream.base.split("://", 1)[1]
    for _ in range(2):
        assert requests.get(f"{wharf.base}/v2/ops/mirrored/manifests/v1", timeout=10,
                            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).status_code == 200
    lines = wait_for_line(wharf, r"http\.path=/v2/ops/mirrored/manifests/v1 ")
    assert len(lines) == 2, lines
    # Each connection's task writes its own line once its response is out, so two requests in a
    # row may be logged in either order.
    misses = [line for line in lines if "cache.result=miss" in line]
    hits = [line for line in lines if "cache.result=hit" in line]
    assert len(misses) == 1 and len(hits) == 1, lines
    assert f"upstream={host}" in misses[0]
