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
