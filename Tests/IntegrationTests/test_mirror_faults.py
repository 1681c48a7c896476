"""Upstream faults during a blob fill, injected by a relay (relay.py) between Wharf and a
docker-registry upstream: a connection cut mid-blob is resumed with a Range request and
ends in one verified commit; corrupted bytes are never committed and never reach a client
as a body that looks complete."""

import os
import threading
import time

from mirror_support import (
    access_lines, blob_url, hashed_get, stored_size, status_of, wait_for_blob,
    wait_for_empty_staging, wait_for_lines,
)

SIZE = 8 * 1024 * 1024 + 77
CUT_AFTER = 3 * 1024 * 1024 + 5


def mirror_behind_relay(docker_registry_factory, mirror_factory, relay_factory, repo, **faults):
    upstream = docker_registry_factory()
    data = os.urandom(SIZE)
    digest = upstream.client.push_blob(repo, data)
    relay = relay_factory(upstream.port, **faults)
    wharf = mirror_factory(proxy={"remoteurl": f"http://{relay.host}"})
    return upstream, relay, wharf, data, digest


def test_connection_cut_mid_blob_is_resumed_with_range_and_committed_once(
    docker_registry_factory, mirror_factory, relay_factory
):
    upstream, relay, wharf, data, digest = mirror_behind_relay(
        docker_registry_factory, mirror_factory, relay_factory, "cut/blob", cut_after=CUT_AFTER)

    result = hashed_get(blob_url(wharf, "cut/blob", digest))
    assert result["error"] is None, result["error"]
    assert result["status"] == 200
    assert (result["size"], result["digest"]) == (SIZE, digest)

    gets = relay.blob_gets(digest)
    assert relay.cuts == 1 and gets and gets[0].get("cut_at") == CUT_AFTER, gets
    assert len(gets) >= 2, f"no second upstream GET after the cut: {gets}"
    resumed = gets[1]
    assert resumed["range"] is not None and resumed["range"].startswith("bytes="), resumed
    start = int(resumed["range"][len("bytes="):].split("-")[0])
    assert 0 < start <= CUT_AFTER, f"resumed from {start}, cut at {CUT_AFTER}"
    assert resumed["status"] == 206, resumed

    lines = wait_for_lines(upstream.log_text, "GET", f"/v2/cut/blob/blobs/{digest}", 2)
    assert len(lines) >= 2, lines
    assert any(status_of(line) == 206 for line in lines), lines

    assert wait_for_blob(wharf.root, digest, SIZE) == SIZE
    assert wait_for_empty_staging(wharf.root) == []
    again = hashed_get(blob_url(wharf, "cut/blob", digest))
    assert (again["status"], again["size"], again["digest"]) == (200, SIZE, digest)
    assert len(relay.blob_gets(digest)) == len(gets), "a committed blob was fetched again"


def test_corrupted_upstream_bytes_are_never_committed_nor_served_as_complete(
    docker_registry_factory, mirror_factory, relay_factory
):
    upstream, relay, wharf, data, digest = mirror_behind_relay(
        docker_registry_factory, mirror_factory, relay_factory, "bad/blob", corrupt=True)

    result = hashed_get(blob_url(wharf, "bad/blob", digest))
    assert relay.blob_gets(digest), "the relay saw no blob GET: the fault was never injected"
    assert wait_for_empty_staging(wharf.root) == [], "staging data left behind after a digest mismatch"
    time.sleep(0.5)
    assert stored_size(wharf.root, digest) is None, "a corrupt blob was committed"

    assert result["digest"] != digest, "the relay corrupted nothing the client saw"
    failed_visibly = result["error"] is not None or result["status"] not in (200, 206) or result["size"] < SIZE
    assert failed_visibly, (
        f"the client got {result['size']} of {SIZE} bytes hashing to {result['digest']} with status "
        f"{result['status']}, Content-Length {result['headers'].get('Content-Length')} and no error: "
        "a wrong body that looks complete"
    )


def test_corrupt_fill_fails_every_reader_attached_to_it(docker_registry_factory, mirror_factory, relay_factory):
    upstream, relay, wharf, data, digest = mirror_behind_relay(
        docker_registry_factory, mirror_factory, relay_factory, "bad/many", corrupt=True, delay=0.01)

    results = [None] * 4

    def fetch(i):
        results[i] = hashed_get(blob_url(wharf, "bad/many", digest), timeout=60)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert len(access_lines(upstream.log_text(), "GET", f"/v2/bad/many/blobs/{digest}")) >= 1
    assert wait_for_empty_staging(wharf.root) == []
    assert stored_size(wharf.root, digest) is None
    for i, r in enumerate(results):
        assert r is not None, f"reader {i} did not finish"
        assert r["error"] is not None or r["status"] not in (200, 206) or r["size"] < SIZE, \
            f"reader {i}: {r['size']} of {SIZE} bytes, {r['digest']}, status {r['status']}, no error"
