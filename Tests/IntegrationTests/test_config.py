"""`wharf check-config` and REGISTRY_* environment overrides (distribution's
configuration/parser.go rule: REGISTRY_ + path joined by `_`)."""

import os
import signal
import subprocess
import time

import pytest
import requests

from conftest import LOOPBACK, free_port, wharf_binary
from registry_client import blob_path, error_codes

VALID = """\
version: 0.1
log:
  level: info
http:
  addr: 127.0.0.1:5000
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
"""


@pytest.fixture
def check_config(tmp_path):
    binary = wharf_binary()
    if not binary.exists():
        pytest.skip(f"Wharf binary not found at {binary}")

    def run(text: str, env=None):
        path = tmp_path / "check.yml"
        path.write_text(text)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        full_env.update(env or {})
        return subprocess.run(
            [str(binary), "check-config", str(path)],
            capture_output=True, text=True, timeout=30, env=full_env,
        )

    return run


def test_check_config_accepts_valid_file(check_config, tmp_path):
    result = check_config(VALID.format(root=tmp_path / "store"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_config_accepts_readonly_maintenance_section(check_config, tmp_path):
    text = VALID.format(root=tmp_path) + "  maintenance:\n    readonly:\n      enabled: true\n"
    result = check_config(text)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "text, key",
    [
        (VALID.replace("  addr: 127.0.0.1:5000", "  addrr: 127.0.0.1:5000"), "http.addrr"),
        (VALID.replace("log:\n  level: info", "log:\n  level: info\n  colour: blue"), "log.colour"),
        (VALID + "bogus: 1\n", "bogus"),
        (VALID.replace("    enabled: true", "    enabled: maybe"), "storage.delete.enabled"),
        (VALID.replace("  level: info", "  level: loud"), "log.level"),
        (VALID.replace("version: 0.1", "version: 7"), "version"),
    ],
    ids=["unknown-http-key", "unknown-log-key", "unknown-top-key", "bad-bool", "bad-level", "bad-version"],
)
def test_check_config_rejects_bad_key_or_value_naming_the_key(check_config, tmp_path, text, key):
    result = check_config(text.replace("{root}", str(tmp_path)))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert key in output, output


def test_check_config_rejects_unparseable_yaml(check_config):
    result = check_config("version: 0.1\nhttp: [unclosed\n")
    assert result.returncode != 0


def test_check_config_rejects_missing_storage(check_config):
    result = check_config("version: 0.1\nhttp:\n  addr: 127.0.0.1:5000\n")
    # Distribution: only `version` and `storage` are required (reference section 7)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "storage" in result.stdout + result.stderr


def test_check_config_missing_file_fails(tmp_path):
    binary = wharf_binary()
    if not binary.exists():
        pytest.skip(f"Wharf binary not found at {binary}")
    result = subprocess.run(
        [str(binary), "check-config", str(tmp_path / "absent.yml")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0


def test_env_http_addr_overrides_file_addr(wharf_factory):
    file_port, env_port = free_port(), free_port()
    server = wharf_factory(port=env_port, extra={"http": {"addr": f"{LOOPBACK}:{file_port}"}},
                           env={"REGISTRY_HTTP_ADDR": f"{LOOPBACK}:{env_port}"})
    assert server.client.get("/v2/").status_code == 200  # answered on the env port
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{LOOPBACK}:{file_port}/v2/", timeout=2)


def test_env_rootdirectory_overrides_file_rootdirectory(wharf_factory, tmp_path):
    env_root = tmp_path / "env-root"
    env_root.mkdir()
    server = wharf_factory(env={"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(env_root)})
    digest = server.client.push_blob("cfg/env", b"where am i")
    assert blob_path(env_root, digest).read_bytes() == b"where am i"
    assert not blob_path(server.root, digest).exists()


def test_env_readonly_override_makes_writes_405(wharf_factory):
    server = wharf_factory(env={"REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "true"})
    response = server.client.start_upload("cfg/ro")
    assert response.status_code == 405
    assert "UNSUPPORTED" in error_codes(response)


def test_env_delete_override_enables_deletes(wharf_factory):
    server = wharf_factory(delete=False, env={"REGISTRY_STORAGE_DELETE_ENABLED": "true"})
    digest = server.client.push_blob("cfg/del", b"delete me")
    assert server.client.delete(f"/v2/cfg/del/blobs/{digest}").status_code == 202


def test_serve_with_invalid_config_exits_non_zero(wharf_factory):
    server = wharf_factory(config_text="version: 0.1\nhttp:\n  addrr: x\nstorage:\n  filesystem:\n    rootdirectory: /tmp\n",
                           wait=False)
    try:
        code = server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("wharf serve kept running with an invalid config")
    assert code != 0
    assert "http.addrr" in server.log_text()


def test_sigterm_stops_server_promptly(wharf):
    wharf.client.push_blob("cfg/term", b"x")
    started = time.monotonic()
    wharf.process.send_signal(signal.SIGTERM)
    try:
        code = wharf.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("wharf did not exit within 10 s of SIGTERM")
    # graceful exit (0) or default signal disposition; anything else is a crash
    assert code in (0, -signal.SIGTERM), f"exit status {code} after SIGTERM; log ends: {wharf.log_text()[-300:]!r}"
    assert time.monotonic() - started < 5
