"""HTTPS from `http.tls`, with a CA minted by certs/create-dev-certs: clients that trust the CA
pull and push, files go out intact without sendfile, and SIGHUP swaps the certificate."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from registry_client import sha256_digest

ROOT = Path(__file__).resolve().parents[2]


def mint(directory: Path) -> Path:
    subprocess.run([str(ROOT / "certs/create-dev-certs"), str(directory), "127.0.0.1", "localhost"],
                   check=True, capture_output=True, text=True)
    return directory


@pytest.fixture
def tls_wharf(wharf_factory, tmp_path):
    certs = mint(tmp_path / "certs")
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(certs / "server.crt", live / "server.crt")
    shutil.copy(certs / "server.key", live / "server.key")
    extra = {"http": {"tls": {"certificate": str(live / "server.crt"), "key": str(live / "server.key")}}}
    wharf = wharf_factory(extra=extra, wait=False)
    base = f"https://127.0.0.1:{wharf.port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(f"{base}/v2/", verify=str(certs / "ca.crt"), timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"HTTPS Wharf did not answer; log: {wharf.log_text()[-500:]}")
        time.sleep(0.1)
    return wharf, base, certs, live


def push(base, ca, repo, data):
    digest = sha256_digest(data)
    started = requests.post(f"{base}/v2/{repo}/blobs/uploads/", verify=ca, timeout=10)
    assert started.status_code == 202, started.text
    done = requests.put(f"{base}{started.headers['Location']}?digest={digest}", data=data, verify=ca, timeout=60,
                        headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text
    return digest


def test_https_serves_blobs_byte_exact_to_clients_that_trust_the_ca(tls_wharf):
    wharf, base, certs, _ = tls_wharf
    ca = str(certs / "ca.crt")
    data = os.urandom(3 * 1024 * 1024 + 17)  # large enough for the file path, not the small-blob cache
    digest = push(base, ca, "tls/app", data)
    whole = requests.get(f"{base}/v2/tls/app/blobs/{digest}", verify=ca, timeout=30)
    assert whole.status_code == 200 and whole.content == data
    part = requests.get(f"{base}/v2/tls/app/blobs/{digest}", headers={"Range": "bytes=1048570-2097160"}, verify=ca, timeout=30)
    assert part.status_code == 206 and part.content == data[1048570:2097161]
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/v2/", timeout=5)  # the system trust store does not know the dev CA
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{wharf.port}/v2/", timeout=5)


def test_skopeo_pushes_and_pulls_over_https_with_the_ca_in_a_cert_dir(tls_wharf, skopeo, tmp_path):
    wharf, base, certs, _ = tls_wharf
    cert_dir = tmp_path / "skopeo-certs"
    cert_dir.mkdir()
    shutil.copy(certs / "ca.crt", cert_dir / "ca.crt")
    layout = tmp_path / "layout"
    # An image made with the HTTP API, then copied out and back in over HTTPS.
    ca = str(certs / "ca.crt")
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    config_digest = push(base, ca, "tls/img", config)
    manifest = (b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":'
                b'{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"' + config_digest.encode()
                + b'","size":' + str(len(config)).encode() + b'},"layers":[]}')
    put = requests.put(f"{base}/v2/tls/img/manifests/v1", data=manifest, verify=ca, timeout=10,
                       headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert put.status_code == 201, put.text
    skopeo("copy", "--src-cert-dir", str(cert_dir), f"docker://127.0.0.1:{wharf.port}/tls/img:v1", f"oci:{layout}:v1")
    skopeo("copy", "--dest-cert-dir", str(cert_dir), f"oci:{layout}:v1", f"docker://127.0.0.1:{wharf.port}/tls/copy:v1")
    copied = requests.get(f"{base}/v2/tls/copy/manifests/v1", verify=ca, timeout=10,
                          headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert copied.status_code == 200 and copied.content == manifest


def test_sighup_reloads_the_certificate(tls_wharf, tmp_path):
    wharf, base, certs, live = tls_wharf
    renewed = mint(tmp_path / "renewed")  # a new CA and certificate
    shutil.copy(renewed / "server.crt", live / "server.crt")
    shutil.copy(renewed / "server.key", live / "server.key")
    wharf.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.get(f"{base}/v2/", verify=str(renewed / "ca.crt"), timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the renewed certificate was not served; log: {wharf.log_text()[-500:]}")
        time.sleep(0.1)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/v2/", verify=str(certs / "ca.crt"), timeout=5)
    assert "TLS certificate reloaded" in wharf.log_text()
    assert wharf.process.poll() is None


def test_a_certificate_renewed_on_disk_is_picked_up_without_a_signal(tls_wharf, tmp_path):
    wharf, base, certs, live = tls_wharf
    renewed = mint(tmp_path / "renewed-on-disk")
    time.sleep(1.1)  # a new modification time, whatever the filesystem's granularity
    shutil.copy(renewed / "server.key", live / "server.key")
    shutil.copy(renewed / "server.crt", live / "server.crt")
    deadline = time.monotonic() + 15
    while True:
        try:
            if requests.get(f"{base}/v2/", verify=str(renewed / "ca.crt"), timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the renewed certificate was not picked up; log: {wharf.log_text()[-500:]}")
        time.sleep(0.2)
    assert "after a change on disk" in wharf.log_text()


def test_podman_pulls_and_pushes_over_https_trusting_the_ca_and_refuses_without_it(tls_wharf, tmp_path):
    """podman reads the CA the way `certs/create-dev-certs` tells operators to lay it out
    (a directory holding `ca.crt`, as /etc/containers/certs.d/<host>/ does)."""
    import tempfile

    from conftest import require_tool
    from registry_client import Registry

    podman = require_tool("podman")
    wharf, base, certs, _ = tls_wharf
    cert_dir = tmp_path / "podman-certs"
    cert_dir.mkdir()
    shutil.copy(certs / "ca.crt", cert_dir / "ca.crt")
    client = Registry(base)
    client.session.verify = str(certs / "ca.crt")
    image = client.push_image("tls/podman", "v1")
    runroot = tempfile.mkdtemp(prefix="wharf-pm-")  # podman refuses a runroot path of 50 characters or more
    try:
        engine = [podman, "--root", str(tmp_path / "root"), "--runroot", runroot, "--storage-driver", "vfs",
                  "--tmpdir", str(tmp_path / "tmp"), "--events-backend", "file", "--cgroup-manager", "cgroupfs"]
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env.update(NO_PROXY="*", TMPDIR=str(tmp_path))
        reference = f"127.0.0.1:{wharf.port}/tls/podman:v1"

        def run(*args):
            return subprocess.run([*engine, *args], capture_output=True, text=True, timeout=180, env=env)

        untrusted = run("pull", reference)
        if untrusted.returncode != 0 and "storage" in untrusted.stderr.lower() and "cannot" in untrusted.stderr.lower():
            pytest.skip(f"podman cannot set up storage here: {untrusted.stderr.strip()[-400:]}")
        assert untrusted.returncode != 0 and "certificate" in untrusted.stderr.lower(), untrusted.stderr
        pulled = run("pull", "--cert-dir", str(cert_dir), reference)
        assert pulled.returncode == 0, pulled.stderr
        digest = run("image", "inspect", "--format", "{{.Digest}}", reference)
        assert digest.returncode == 0 and digest.stdout.strip() == image.digest, digest.stdout + digest.stderr

        pushed_reference = f"127.0.0.1:{wharf.port}/tls/pushed:v2"
        assert run("tag", reference, pushed_reference).returncode == 0
        pushed = run("push", "--cert-dir", str(cert_dir), pushed_reference)
        assert pushed.returncode == 0, pushed.stderr
        manifest = client.get("/v2/tls/pushed/manifests/v2", headers={"Accept": "application/vnd.oci.image.manifest.v1+json,"
                                                                       "application/vnd.docker.distribution.manifest.v2+json"})
        assert manifest.status_code == 200, manifest.text
        for layer in manifest.json()["layers"] + [manifest.json()["config"]]:
            blob = client.get(f"/v2/tls/pushed/blobs/{layer['digest']}")
            assert blob.status_code == 200 and sha256_digest(blob.content) == layer["digest"]
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
