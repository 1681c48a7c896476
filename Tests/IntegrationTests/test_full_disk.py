"""A full disk is a defined outcome: 507 with an OCI error, nothing partial stored, and what was
stored before still served. The store lives on a 2 MiB tmpfs the test mounts (root only)."""

import os
import subprocess
import uuid

import pytest
import requests

from registry_client import error_codes, sha256_digest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path):
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def blob_file(root, digest):
    hex_ = digest.split(":", 1)[1]
    return root / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"


def upload_dirs(root, repo):
    uploads = root / "docker/registry/v2/repositories" / repo / "_uploads"
    return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []


def test_an_upload_that_fills_the_disk_gets_507_and_stores_nothing(wharf_factory, small_disk):
    wharf = wharf_factory(root=small_disk)
    kept = os.urandom(1024)
    kept_digest = wharf.client.push_blob("disk/app", kept)

    big = os.urandom(2 * 1024 * 1024 + 512 * 1024)  # more than the disk holds
    big_digest = sha256_digest(big)
    response = requests.post(f"{wharf.base}/v2/disk/app/blobs/uploads/?digest={big_digest}", data=big,
                             headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert response.status_code == 507, response.text
    assert error_codes(response) == ["UNAVAILABLE"], response.text
    assert "storage is full" in response.json()["errors"][0]["message"]
    assert not blob_file(small_disk, big_digest).exists()
    assert upload_dirs(small_disk, "disk/app") == []

    # What was stored before is still served, byte for byte.
    again = requests.get(f"{wharf.base}/v2/disk/app/blobs/{kept_digest}", timeout=10)
    assert again.status_code == 200 and again.content == kept
    assert wharf.client.get(f"/v2/").status_code == 200


def test_a_chunk_that_fills_the_disk_gets_507_and_the_session_can_be_cancelled(wharf_factory, small_disk):
    wharf = wharf_factory(root=small_disk)
    started = requests.post(f"{wharf.base}/v2/disk/chunks/blobs/uploads/", timeout=10)
    assert started.status_code == 202
    location = wharf.base + started.headers["Location"]
    chunk = os.urandom(2 * 1024 * 1024 + 512 * 1024)
    response = requests.patch(location, data=chunk, timeout=30, headers={
        "Content-Type": "application/octet-stream", "Content-Range": f"0-{len(chunk) - 1}"})
    assert response.status_code == 507, response.text
    assert error_codes(response) == ["UNAVAILABLE"]
    # The client gives up; the space comes back.
    cancelled = requests.delete(location, timeout=10)
    assert cancelled.status_code == 204
    assert upload_dirs(small_disk, "disk/chunks") == []
    assert wharf.client.push_blob("disk/chunks", b"fits again") == sha256_digest(b"fits again")
