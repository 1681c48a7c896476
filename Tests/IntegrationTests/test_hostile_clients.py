"""Hostile clients (issue 12, items 1, 8 and 11 in part): numbers a client sends are checked
and never kill the process, configuration values that overflow or keys Wharf would not honour
stop start-up naming the key, what a 201 acknowledges is on disk (synced) first, a completion
cannot race a streaming PATCH, a push repairs a damaged stored blob, and
`storage.maintenance.uploadpurging` removes abandoned uploads."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import LOOPBACK, ServerProcess, free_port, registry_config, to_yaml, wharf_binary
from registry_client import blob_path, canonical_json, descriptor, error_codes, sha256_digest

REPO = "team/hostile"
OCTET = {"Content-Type": "application/octet-stream"}
INT64_MAX = 9223372036854775807
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def assert_error(response, status, code):
    assert response.status_code == status, f"HTTP {response.status_code}, expected {status}: {response.text[:300]!r}"
    assert code in error_codes(response), f"expected {code} in {response.text!r}"


def with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + "digest=" + digest


def open_session(client, repo=REPO) -> str:
    response = client.start_upload(repo)
    assert response.status_code == 202, response.text
    return client.absolute(response.headers["Location"])


def assert_alive(server):
    assert server.running(), f"Wharf died:\n{server.log_text()[-3000:]}"
    assert requests.get(server.base + "/v2/", timeout=10).status_code == 200


def run_until_exit(argv, *, cwd=None, env=None, timeout=20) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    full_env.update(env or {})
    return subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


# -- item 1: no request kills the process ------------------------------------------------


@pytest.mark.parametrize("content_range", [f"0-{INT64_MAX}", "0-99999999999999999999999", f"bytes 0-{INT64_MAX}/*"])
def test_patch_with_a_content_range_no_upload_can_have_is_416_and_wharf_lives(wharf, content_range):
    location = open_session(wharf.client)
    response = wharf.client.patch(location, data=b"0123456789",
                                  headers={**OCTET, "Content-Range": content_range, "Content-Length": "10"})
    assert_error(response, 416, "RANGE_INVALID")
    assert_alive(wharf)
    # The session is still usable.
    status = wharf.client.get(location)
    assert status.status_code == 204 and status.headers["Range"] == "0-0"


@pytest.mark.parametrize("content_range", ["+0-9", "0-+9", "-1-9", "9-0", "a-b", "0-"])
def test_patch_with_a_malformed_content_range_is_416(wharf, content_range):
    location = open_session(wharf.client)
    response = wharf.client.patch(location, data=b"0123456789", headers={**OCTET, "Content-Range": content_range})
    assert_error(response, 416, "RANGE_INVALID")
    assert_alive(wharf)


@pytest.mark.parametrize("header, status, body", [
    (f"bytes=0-{INT64_MAX}", 206, slice(0, 100)),
    ("bytes=0-99999999999999999999999", 206, slice(0, 100)),
    (f"bytes=-{INT64_MAX}", 206, slice(0, 100)),
    ("bytes=-99999999999999999999999", 206, slice(0, 100)),
    (f"bytes={INT64_MAX}-", 416, None),
    ("bytes=99999999999999999999999-", 416, None),
    (f"bytes={INT64_MAX - 1}-{INT64_MAX}", 416, None),
    ("bytes=-", 416, None),
])
def test_range_values_near_and_past_int64_max_have_a_defined_answer(wharf, header, status, body):
    data = os.urandom(100)
    digest = wharf.client.push_blob(REPO, data)
    response = wharf.client.get(f"/v2/{REPO}/blobs/{digest}", headers={"Range": header})
    assert response.status_code == status, response.text[:200]
    if body is not None:
        assert response.content == data[body]
        assert response.headers["Content-Range"] == f"bytes {body.start}-{body.stop - 1}/100"
    assert_alive(wharf)


def push_small_image(client, repo=REPO, tag="v1") -> str:
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    client.push_blob(repo, config)
    manifest = canonical_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": descriptor("application/vnd.oci.image.config.v1+json", config), "layers": []})
    return client.push_manifest_ok(repo, tag, manifest, OCI_MANIFEST)


@pytest.mark.parametrize("n", ["-1", "abc", "99999999999999999999999", "1e3", "+5", "0x10"])
def test_invalid_n_is_400_pagination_number_invalid(wharf, n):
    push_small_image(wharf.client)
    for path in (f"/v2/{REPO}/tags/list", "/v2/_catalog"):
        assert_error(wharf.client.get(f"{path}?n={n}"), 400, "PAGINATION_NUMBER_INVALID")
    assert_alive(wharf)


def test_an_n_as_large_as_int_allows_is_a_defined_answer(wharf):
    push_small_image(wharf.client)
    # The catalog's page is bounded (catalog.maxentries); a tag list's is not.
    assert_error(wharf.client.get(f"/v2/_catalog?n={INT64_MAX}"), 400, "PAGINATION_NUMBER_INVALID")
    response = wharf.client.get(f"/v2/{REPO}/tags/list?n={INT64_MAX}")
    assert response.status_code == 200 and response.json()["tags"] == ["v1"], response.text
    assert_alive(wharf)


@pytest.mark.parametrize("section, key", [
    ({"mirror": {"cache": {"ttl": "3000000000h"}}}, "mirror.cache.ttl"),
    ({"proxy": {"remoteurl": "https://registry-1.docker.io", "ttl": "3000000000h"}}, "proxy.ttl"),
    ({"http": {"draintimeout": "99999999999999999999999s"}}, "http.draintimeout"),
    ({"mirror": {"cache": {"maxsize": "99999999999999999999T"}}}, "mirror.cache.maxsize"),
    ({"mirror": {"maxconcurrentfills": "99999999999999999999999"}}, "mirror.maxconcurrentfills"),
    ({"storage": {"maintenance": {"uploadpurging": {"age": "3000000000h"}}}}, "storage.maintenance.uploadpurging.age"),
])
def test_overflowing_configuration_values_stop_start_up_naming_the_key(tmp_path, section, key):
    binary = wharf_binary()
    if not binary.exists():
        pytest.skip(f"Wharf binary not found at {binary}")
    config = registry_config(tmp_path / "store", free_port(), extra=section)
    path = tmp_path / "wharf.yml"
    path.write_text(to_yaml(config) + "\n")
    result = run_until_exit([str(binary), "serve", "--config", str(path)])
    output = result.stdout + result.stderr
    # A trap dies of a signal (negative return code) with no key in its message.
    assert result.returncode > 0, f"exit {result.returncode}:\n{output[-2000:]}"
    assert key in output, output[-2000:]


def test_a_relative_rootdirectory_that_cannot_be_made_is_a_start_up_error(tmp_path):
    """The embedded default (`./wharf-data`) run where it cannot be created: /sys refuses mkdir
    (EPERM) even to root, the errno that used to reach a `precondition`."""
    binary = wharf_binary()
    if not binary.exists():
        pytest.skip(f"Wharf binary not found at {binary}")
    probe = Path("/sys/wharf-data")
    try:
        probe.mkdir()
        probe.rmdir()
        pytest.skip("/sys is writable here")
    except FileExistsError:
        pytest.skip("/sys/wharf-data exists")
    except OSError:
        pass
    result = run_until_exit([str(binary), "serve"], cwd="/sys", env={"REGISTRY_HTTP_ADDR": f"{LOOPBACK}:{free_port()}"})
    output = result.stdout + result.stderr
    assert result.returncode > 0, f"exit {result.returncode}:\n{output[-2000:]}"
    assert "storage.filesystem.rootdirectory" in output and "./wharf-data" in output, output[-2000:]
    assert "Fatal error" not in output and "precondition" not in output.lower(), output[-2000:]


# -- item 11 (part): no setting is silently ignored --------------------------------------------


@pytest.mark.parametrize("section, key", [
    ({"http": {"tls": {"letsencrypt": {"email": "ops@example.com", "cachefile": "/tmp/le"}}}}, "http.tls.letsencrypt"),
    ({"http": {"tls": {"certificate": "/c.pem", "key": "/k.pem", "ciphersuites": "TLS_AES_128_GCM_SHA256"}}}, "http.tls.ciphersuites"),
    ({"log": {"hooks": {"type": "mail"}}}, "log.hooks"),
    ({"proxy": {"remoteurl": "https://registry-1.docker.io", "exec": {"command": "helper"}}}, "proxy.exec"),
    ({"validation": {"manifests": {"urls": {"allow": "^https://"}}}}, "validation.manifests"),
])
def test_keys_wharf_would_not_honour_stop_start_up_naming_the_key(tmp_path, section, key):
    binary = wharf_binary()
    if not binary.exists():
        pytest.skip(f"Wharf binary not found at {binary}")
    config = registry_config(tmp_path / "store", free_port(), extra=section)
    path = tmp_path / "wharf.yml"
    path.write_text(to_yaml(config) + "\n")
    result = run_until_exit([str(binary), "serve", "--config", str(path)])
    output = result.stdout + result.stderr
    assert result.returncode > 0, f"started with {key}:\n{output[-2000:]}"
    assert key in output, output[-2000:]


def test_enforcequota_true_stops_start_up_since_no_quota_is_enforced(tmp_path):
    binary = wharf_binary()
    if not binary.exists():
        pytest.skip(f"Wharf binary not found at {binary}")
    config = registry_config(tmp_path / "store", free_port())
    path = tmp_path / "wharf.yml"
    path.write_text(to_yaml(config) + "\nmiddleware:\n  repository:\n    - name: openshift\n      options:\n        enforcequota: true\n")
    result = run_until_exit([str(binary), "serve", "--config", str(path)])
    output = result.stdout + result.stderr
    assert result.returncode > 0, f"started with enforcequota: true:\n{output[-2000:]}"
    assert "enforcequota: true is not supported" in output, output[-2000:]


def upload_dirs(root: Path, repo=REPO) -> set[str]:
    uploads = root / "docker/registry/v2/repositories" / repo / "_uploads"
    return {p.name for p in uploads.iterdir()} if uploads.exists() else set()


def backdate(root: Path, upload_id: str, repo=REPO, when="2020-01-01T00:00:00Z"):
    (root / "docker/registry/v2/repositories" / repo / "_uploads" / upload_id / "startedat").write_text(when)


def wait_for(condition, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_upload_purging_removes_abandoned_uploads_every_interval(wharf_factory, tmp_path):
    root = tmp_path / "store"
    wharf = wharf_factory(root, extra={"storage": {"maintenance": {"uploadpurging": {
        "enabled": True, "age": "1h", "interval": "1s", "dryrun": False}}}})
    old = open_session(wharf.client)
    fresh = open_session(wharf.client)
    old_id, fresh_id = old.rsplit("/", 1)[1], fresh.rsplit("/", 1)[1]
    wharf.client.patch(old, data=b"abandoned", headers=OCTET)
    backdate(root, old_id)
    assert wait_for(lambda: old_id not in upload_dirs(root)), "the abandoned upload was not purged"
    assert_error(wharf.client.get(old), 404, "BLOB_UPLOAD_UNKNOWN")
    # Uploads younger than `age` are kept, and so are other repositories' blobs.
    time.sleep(1.5)
    assert fresh_id in upload_dirs(root)
    assert wharf.client.get(fresh).status_code == 204
    data = os.urandom(64)
    done = wharf.client.put(with_digest(fresh, sha256_digest(data)), data=data, headers=OCTET)
    assert done.status_code == 201, done.text
    assert "upload purge removed abandoned uploads" in wharf.log_text()


def test_upload_purging_runs_at_start_up_with_distributions_defaults(wharf_factory, tmp_path):
    root = tmp_path / "store"
    first = wharf_factory(root)
    old_id = open_session(first.client).rsplit("/", 1)[1]
    recent_id = open_session(first.client).rsplit("/", 1)[1]
    first.stop()
    # Older than the default age (168h); the other one is 100h old, younger than it.
    backdate(root, old_id)
    backdate(root, recent_id, when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 100 * 3600)))
    second = wharf_factory(root)
    assert wait_for(lambda: old_id not in upload_dirs(root)), "not purged at start-up"
    assert recent_id in upload_dirs(root)
    assert second.client.get(f"/v2/{REPO}/blobs/uploads/{recent_id}").status_code == 204


def test_upload_purging_dry_run_and_disabled_remove_nothing(wharf_factory, tmp_path):
    for name, purging in (("dry", {"age": "1h", "interval": "1s", "dryrun": True}),
                          ("off", {"enabled": False, "age": "1h", "interval": "1s"})):
        root = tmp_path / f"store-{name}"
        wharf = wharf_factory(root, extra={"storage": {"maintenance": {"uploadpurging": purging}}})
        upload_id = open_session(wharf.client).rsplit("/", 1)[1]
        backdate(root, upload_id)
        time.sleep(2.5)
        assert upload_id in upload_dirs(root), name
        if name == "dry":
            assert wait_for(lambda: "dry run" in wharf.log_text()), wharf.log_text()[-2000:]
        wharf.stop()


# -- item 8: nothing acknowledged is lost -------------------------------------------------------


def test_a_completion_while_a_patch_streams_is_refused_and_the_patch_cannot_reach_a_blob(wharf):
    location = open_session(wharf.client)
    data = os.urandom(200_000)
    first, rest = data[:100_000], data[100_000:]
    path = location.split(wharf.base, 1)[1]
    with socket.create_connection((LOOPBACK, wharf.port), timeout=10) as conn:
        conn.sendall((f"PATCH {path} HTTP/1.1\r\nHost: {wharf.host}\r\nContent-Type: application/octet-stream\r\n"
                      f"Content-Length: {len(data)}\r\n\r\n").encode() + first)
        # Wait until the first half is in the upload, so a completion would find it.
        assert wait_for(lambda: wharf.client.get(location).headers.get("Range") == f"0-{len(first) - 1}"), \
            wharf.client.get(location).headers
        refused = wharf.client.put(with_digest(location, sha256_digest(first)))
        assert_error(refused, 400, "BLOB_UPLOAD_INVALID")
        conn.sendall(rest)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 202"), reply[:300]
    assert f"Range: 0-{len(data) - 1}".lower().encode() in reply.lower(), reply[:300]
    # Nothing was published from the half, and the whole completes as usual.
    assert wharf.client.head(f"/v2/{REPO}/blobs/{sha256_digest(first)}").status_code == 404
    done = wharf.client.put(with_digest(location, sha256_digest(data)))
    assert done.status_code == 201, done.text
    assert blob_path(wharf.root, sha256_digest(data)).read_bytes() == data
    assert_alive(wharf)


@pytest.mark.parametrize("how", ["monolithic-post", "session-put", "chunked"])
def test_pushing_a_blob_whose_stored_copy_is_damaged_repairs_it(wharf, how):
    data = os.urandom(50_000)
    digest = wharf.client.push_blob(REPO, data)
    stored = blob_path(wharf.root, digest)
    stored.write_bytes(data[:1000])  # damaged: the wrong size for its digest
    if how == "monolithic-post":
        response = wharf.client.post(f"/v2/{REPO}/blobs/uploads/?digest={digest}", data=data, headers=OCTET)
    elif how == "session-put":
        response = wharf.client.put(with_digest(open_session(wharf.client), digest), data=data, headers=OCTET)
    else:
        location = open_session(wharf.client)
        patched = wharf.client.patch(location, data=data[:20_000],
                                     headers={**OCTET, "Content-Range": "0-19999", "Content-Length": "20000"})
        assert patched.status_code == 202, patched.text
        response = wharf.client.put(with_digest(wharf.client.absolute(patched.headers["Location"]), digest),
                                    data=data[20_000:], headers=OCTET)
    assert response.status_code == 201, response.text
    assert stored.read_bytes() == data
    fetched = wharf.client.get_blob(REPO, digest)
    assert fetched.status_code == 200 and fetched.content == data


def test_pushing_a_manifest_whose_stored_copy_is_damaged_repairs_it(wharf):
    digest = push_small_image(wharf.client)
    manifest = wharf.client.get_manifest(REPO, digest).content
    stored = blob_path(wharf.root, digest)
    stored.write_bytes(manifest[:10])
    again = wharf.client.push_manifest(REPO, "v1", manifest, OCI_MANIFEST)
    assert again.status_code == 201, again.text
    assert stored.read_bytes() == manifest


class Traced:
    """A Wharf under `strace`, recording the syscalls that make data durable and the responses."""

    def __init__(self, tmp_path: Path):
        strace = shutil.which("strace")
        binary = wharf_binary()
        if strace is None or not binary.exists():
            pytest.skip("strace or the Wharf binary is missing")
        self.root = tmp_path / "store"
        self.root.mkdir()
        self.trace = tmp_path / "strace.txt"
        port = free_port()
        config = tmp_path / "wharf.yml"
        config.write_text(to_yaml(registry_config(self.root, port)) + "\n")
        argv = [strace, "-f", "-qq", "-y", "-s", "40", "-o", str(self.trace),
                "-e", "trace=fsync,fdatasync,rename,renameat,renameat2,write,writev,sendmsg,sendto",
                str(binary), "serve", "--config", str(config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.server = ServerProcess("wharf-strace", argv, port, self.root, tmp_path / "wharf-strace.log", env=env)
        self.server.start()

    def lines(self) -> list[str]:
        return self.trace.read_text(errors="replace").splitlines()

    def syscalls_before_201(self, mark: int) -> list[str]:
        """The traced lines after `mark` up to the first response line carrying a 201."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = self.lines()[mark:]
            for index, line in enumerate(lines):
                if "HTTP/1.1 201" in line:
                    return lines[:index]
            time.sleep(0.1)
        raise AssertionError("no 201 in the trace:\n" + "\n".join(self.lines()[mark:][-50:]))


def synced(lines: list[str], call: str, path_part: str) -> bool:
    """`call` on a descriptor whose path (strace -y) contains `path_part`, not failed."""
    return any(f"{call}(" in line and path_part in line and ("= 0" in line or "unfinished" in line) for line in lines)


def test_pushed_blobs_and_manifests_are_synced_before_the_201(tmp_path):
    traced = Traced(tmp_path)
    client = traced.server.client
    blobs = "docker/registry/v2/blobs/sha256/"
    try:
        # A monolithic POST.
        layer = os.urandom(30_000)
        layer_digest = sha256_digest(layer)
        layer_hex = layer_digest.split(":")[1]
        mark = len(traced.lines())
        response = client.post(f"/v2/{REPO}/blobs/uploads/?digest={layer_digest}", data=layer, headers=OCTET)
        assert response.status_code == 201, response.text
        before = traced.syscalls_before_201(mark)
        assert synced(before, "fdatasync", "/_uploads/"), "\n".join(before)
        assert synced(before, "fsync", f"{blobs}{layer_hex[:2]}/{layer_hex}>"), "\n".join(before)
        assert synced(before, "fsync", f"/_layers/sha256/{layer_hex}>"), "\n".join(before)

        # A session completed by PUT, and a mount.
        config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
        config_digest = sha256_digest(config)
        location = open_session(client)
        mark = len(traced.lines())
        assert client.put(with_digest(location, config_digest), data=config, headers=OCTET).status_code == 201
        before = traced.syscalls_before_201(mark)
        assert synced(before, "fdatasync", "/_uploads/"), "\n".join(before)
        assert synced(before, "fsync", f"{blobs}{config_digest.split(':')[1][:2]}/"), "\n".join(before)
        mark = len(traced.lines())
        mounted = client.post(f"/v2/other/repo/blobs/uploads/?mount={layer_digest}&from={REPO}")
        assert mounted.status_code == 201, mounted.text
        before = traced.syscalls_before_201(mark)
        assert synced(before, "fdatasync", f"/other/repo/_layers/sha256/{layer_hex}/link.tmp-"), "\n".join(before)
        assert synced(before, "fsync", f"/other/repo/_layers/sha256/{layer_hex}>"), "\n".join(before)

        # A manifest PUT: its bytes, its revision link and its tag links.
        manifest = canonical_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                   "config": descriptor("application/vnd.oci.image.config.v1+json", config),
                                   "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)]})
        manifest_hex = sha256_digest(manifest).split(":")[1]
        mark = len(traced.lines())
        assert client.push_manifest(REPO, "v1", manifest, OCI_MANIFEST).status_code == 201
        before = traced.syscalls_before_201(mark)
        assert synced(before, "fdatasync", f"{blobs}{manifest_hex[:2]}/{manifest_hex}/data.tmp-"), "\n".join(before)
        assert synced(before, "fsync", f"{blobs}{manifest_hex[:2]}/{manifest_hex}>"), "\n".join(before)
        assert synced(before, "fsync", f"/_manifests/revisions/sha256/{manifest_hex}>"), "\n".join(before)
        assert synced(before, "fsync", "/_manifests/tags/v1/current>"), "\n".join(before)
    finally:
        traced.server.stop()
