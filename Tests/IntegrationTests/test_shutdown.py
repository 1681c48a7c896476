"""Graceful shutdown: SIGTERM closes the listening socket at once, lets requests under way and
blob fills finish within `http.draintimeout`, then cancels what is left; a cancelled fill
leaves nothing behind that a restart would trust, and the restart fetches the blob again."""

import hashlib
import os
import signal
import socket
import threading
import time

from conftest import LOOPBACK, free_port, registry_config
from mirror_support import (
    blob_url, hashed_get, session, sha256_file, staging_files, stored_size, yaml_text,
)
from registry_client import blob_path, sha256_digest

BIG = 48 * 1024 * 1024 + 11


def start(wharf_factory, root, drain, extra=None, port=None):
    port = port or free_port()
    config = registry_config(root, port, extra={"http": {"draintimeout": drain}})
    for key, value in (extra or {}).items():
        config[key] = value
    return wharf_factory(root, config_text=yaml_text(config), port=port)


def refused(port: int, within: float = 5.0) -> bool:
    """True once a new TCP connection to the port is refused."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                pass
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def test_sigterm_lets_a_slow_download_finish_and_refuses_new_connections(wharf_factory, tmp_path):
    wharf = start(wharf_factory, tmp_path / "store", "30s")
    data = os.urandom(BIG)
    digest = wharf.client.push_blob("slow/blob", data)

    hasher = hashlib.sha256()
    received = 0
    with session().get(f"{wharf.base}/v2/slow/blob/blobs/{digest}", stream=True, timeout=60) as response:
        assert response.status_code == 200
        chunks = response.iter_content(chunk_size=1 << 20)
        for _ in range(2):
            piece = next(chunks)
            hasher.update(piece)
            received += len(piece)
        signalled = time.monotonic()
        wharf.process.send_signal(signal.SIGTERM)
        assert refused(wharf.port), "a new connection was still accepted after SIGTERM"
        assert wharf.running(), "Wharf exited with a download under way"
        # Slow on purpose: the download outlasts the signal by seconds.
        for piece in chunks:
            hasher.update(piece)
            received += len(piece)
            time.sleep(0.05)
    assert received == BIG
    assert "sha256:" + hasher.hexdigest() == digest
    assert time.monotonic() - signalled > 1.0, "the download did not outlast the signal: the test proves nothing"
    assert wharf.process.wait(timeout=20) == 0
    assert "draining" in wharf.log_text()


def test_a_connection_closed_after_its_response_still_delivers_the_whole_body(wharf_factory, tmp_path):
    # The same rule as the drain's: a connection closes only once its response has left
    # (NIO drops queued writes on close, which once cut large `Connection: close` downloads short).
    wharf = start(wharf_factory, tmp_path / "store", "30s")
    data = os.urandom(BIG)
    digest = wharf.client.push_blob("close/blob", data)
    hasher = hashlib.sha256()
    received = 0
    with session().get(f"{wharf.base}/v2/close/blob/blobs/{digest}", headers={"Connection": "close"},
                       stream=True, timeout=60) as response:
        assert response.status_code == 200 and response.headers.get("Connection") == "close"
        for index, piece in enumerate(response.iter_content(chunk_size=1 << 20)):
            hasher.update(piece)
            received += len(piece)
            if index < 20:
                time.sleep(0.02)
    assert (received, "sha256:" + hasher.hexdigest()) == (BIG, digest)


def test_sigterm_waits_for_a_fill_whose_client_left(docker_registry, relay_factory, wharf_factory, tmp_path):
    data = os.urandom(8 * 1024 * 1024 + 3)
    digest = docker_registry.client.push_blob("touch/blob", data)
    relay = relay_factory(docker_registry.port, delay=0.02)  # about 2.5 s for the blob
    root = tmp_path / "store"
    wharf = start(wharf_factory, root, "30s", extra={"proxy": {"remoteurl": f"http://{relay.host}"}})

    # Touching two bytes starts the whole fill; the client is gone at once.
    touched = session().get(blob_url(wharf, "touch/blob", digest), headers={"Range": "bytes=0-1"}, timeout=30)
    assert touched.status_code == 206 and touched.content == data[:2]
    wharf.process.send_signal(signal.SIGTERM)
    assert wharf.process.wait(timeout=25) == 0
    # The fill finished within the drain and was committed whole.
    assert stored_size(root, digest) == len(data)
    assert sha256_file(blob_path(root, digest)) == digest
    assert staging_files(root) == []


def test_sigterm_past_the_deadline_cancels_a_fill_and_a_restart_fetches_it_again(
    docker_registry, relay_factory, wharf_factory, tmp_path
):
    data = os.urandom(8 * 1024 * 1024 + 5)
    digest = docker_registry.client.push_blob("late/blob", data)
    relay = relay_factory(docker_registry.port, delay=0.25)  # about 32 s: far past the deadline
    root = tmp_path / "store"
    port = free_port()
    proxy = {"proxy": {"remoteurl": f"http://{relay.host}"}}
    wharf = start(wharf_factory, root, "2s", extra=proxy, port=port)

    result = {}
    reader = threading.Thread(target=lambda: result.update(hashed_get(blob_url(wharf, "late/blob", digest), timeout=60)))
    reader.start()
    deadline = time.monotonic() + 15
    while not relay.blob_gets(digest) or not staging_files(root):
        assert time.monotonic() < deadline, "the fill never started"
        time.sleep(0.05)
    time.sleep(0.5)
    signalled = time.monotonic()
    wharf.process.send_signal(signal.SIGTERM)
    assert wharf.process.wait(timeout=20) == 0
    stopped_after = time.monotonic() - signalled
    assert 1.5 < stopped_after < 10, f"stopped {stopped_after:.1f}s after SIGTERM with a 2s drain timeout"
    reader.join(timeout=30)

    # The client saw a failure, never a short body that looks whole.
    assert result["error"] is not None or result["size"] < len(data), result
    # Nothing was committed, and no staging data is left for anyone to trust.
    assert stored_size(root, digest) is None
    assert staging_files(root) == []
    assert "cancelled by shutdown" in wharf.log_text()

    # The restart fetches the blob again, whole.
    relay.delay = 0
    gets_before = len(relay.blob_gets(digest))
    again = start(wharf_factory, root, "2s", extra=proxy, port=port)
    fetched = hashed_get(blob_url(again, "late/blob", digest))
    assert (fetched["status"], fetched["size"], fetched["digest"]) == (200, len(data), digest)
    assert len(relay.blob_gets(digest)) > gets_before, "the restart served the blob without fetching it"
    deadline = time.monotonic() + 15
    while stored_size(root, digest) != len(data) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sha256_file(blob_path(root, digest)) == digest
