"""Blobs through the pull-through mirror: one upstream fetch for many clients, ranges that
mirror the whole blob, HEAD without a fetch, and per-repository scoping."""

import os
import threading
import time

from mirror_support import (
    access_lines, blob_path, blob_url, hashed_get, staging_files, stored_size, wait_for_blob,
    wait_for_lines,
)
from registry_client import error_codes, sha256_digest

CLIENTS = 16
BIG = 256 * 1024 * 1024


def anonymous_mirror(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    return upstream, mirror_factory(proxy={"remoteurl": upstream.base})


def test_sixteen_clients_of_one_uncached_256mib_blob_cause_one_upstream_get(docker_registry_factory, mirror_factory):
    upstream, wharf = anonymous_mirror(docker_registry_factory, mirror_factory)
    data = os.urandom(BIG)
    digest = upstream.client.push_blob("big/blob", data)
    del data
    url = blob_url(wharf, "big/blob", digest)
    results = [None] * CLIENTS
    gate = threading.Barrier(CLIENTS)

    def fetch(i):
        gate.wait(timeout=30)
        results[i] = hashed_get(url, timeout=120)

    started = time.monotonic()
    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    elapsed = time.monotonic() - started
    print(f"{CLIENTS} clients x 256 MiB cold through Wharf: {elapsed:.1f}s")

    assert all(r is not None for r in results), "a client thread did not finish within 180 s"
    for i, r in enumerate(results):
        assert r["error"] is None, f"client {i}: {r['error']}"
        assert r["status"] == 200, f"client {i}: {r['status']} {r['head'][:300]!r}"
        assert r["size"] == BIG and r["digest"] == digest, f"client {i}: {r['size']} bytes, {r['digest']}"
    gets = wait_for_lines(upstream.log_text, "GET", f"/v2/big/blob/blobs/{digest}", 1)
    assert len(gets) == 1, f"{len(gets)} upstream GETs:\n" + "\n".join(gets)

    assert wait_for_blob(wharf.root, digest, BIG) == BIG
    assert staging_files(wharf.root) == []
    again = hashed_get(url)
    assert (again["status"], again["size"], again["digest"]) == (200, BIG, digest)
    time.sleep(0.5)
    assert len(access_lines(upstream.log_text(), "GET", f"/v2/big/blob/blobs/{digest}")) == 1


def test_two_byte_range_on_uncached_blob_answers_206_and_mirrors_the_whole_blob(docker_registry_factory, mirror_factory):
    upstream, wharf = anonymous_mirror(docker_registry_factory, mirror_factory)
    data = os.urandom(8 * 1024 * 1024 + 5)
    digest = upstream.client.push_blob("touch/blob", data)

    response = wharf.client.get_blob("touch/blob", digest, headers={"Range": "bytes=0-1"})
    assert response.status_code == 206, response.text
    assert response.content == data[:2]
    assert response.headers["Content-Range"] == f"bytes 0-1/{len(data)}"

    assert wait_for_blob(wharf.root, digest, len(data)) == len(data), "the touched blob was not committed whole"
    full = wharf.client.get_blob("touch/blob", digest)
    assert full.status_code == 200 and full.content == data


def test_range_inside_a_blob_still_being_fetched_returns_those_bytes(docker_registry_factory, mirror_factory, relay_factory):
    upstream = docker_registry_factory()
    data = os.urandom(6 * 1024 * 1024)
    digest = upstream.client.push_blob("slow/blob", data)
    relay = relay_factory(upstream.port, delay=0.04, chunk=64 * 1024)  # ~4 s for 6 MiB
    wharf = mirror_factory(proxy={"remoteurl": f"http://{relay.host}"})

    first = wharf.client.get_blob("slow/blob", digest, headers={"Range": "bytes=0-1"})
    assert first.status_code == 206 and first.content == data[:2]
    assert stored_size(wharf.root, digest) is None, "the fill was expected to still be running"

    start, end = 5 * 1024 * 1024 + 3, 5 * 1024 * 1024 + 4098
    inner = wharf.client.get_blob("slow/blob", digest, headers={"Range": f"bytes={start}-{end}"})
    assert inner.status_code == 206, inner.text
    assert inner.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    assert inner.content == data[start:end + 1]

    assert wait_for_blob(wharf.root, digest, len(data)) == len(data)
    assert len(relay.blob_gets(digest)) == 1, relay.blob_gets(digest)


def test_head_on_uncached_blob_answers_from_upstream_head_without_fetching(docker_registry_factory, mirror_factory):
    upstream, wharf = anonymous_mirror(docker_registry_factory, mirror_factory)
    data = os.urandom(300_000)
    digest = upstream.client.push_blob("head/blob", data)

    response = wharf.client.head(f"/v2/head/blob/blobs/{digest}")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Docker-Content-Digest"] == digest

    path = f"/v2/head/blob/blobs/{digest}"
    assert wait_for_lines(upstream.log_text, "HEAD", path, 1), "no upstream HEAD for the blob"
    time.sleep(0.5)
    assert access_lines(upstream.log_text(), "GET", path) == []
    assert stored_size(wharf.root, digest) is None
    assert staging_files(wharf.root) == []


def test_blob_pulled_through_one_repository_is_refused_through_another_whose_upstream_lacks_it(
    docker_registry_factory, mirror_factory
):
    upstream, wharf = anonymous_mirror(docker_registry_factory, mirror_factory)
    secret = os.urandom(50_000)
    digest = upstream.client.push_blob("team/a", secret)
    upstream.client.push_image("team/b", "v1")  # B exists upstream, without that blob

    pulled = wharf.client.get_blob("team/a", digest)
    assert pulled.status_code == 200 and pulled.content == secret
    assert wait_for_blob(wharf.root, digest, len(secret)) == len(secret)

    for method in ("GET", "HEAD"):
        refused = wharf.client.request(method, f"/v2/team/b/blobs/{digest}")
        assert refused.status_code == 404, f"{method} through team/b: {refused.status_code}"
        if method == "GET":
            assert error_codes(refused) == ["BLOB_UNKNOWN"], refused.text
    assert access_lines(upstream.log_text(), "GET", f"/v2/team/b/blobs/{digest}") == []


def test_bearer_upstream_private_layer_is_not_served_through_a_public_repository(token_upstream, mirror_factory):
    info = token_upstream.info
    pusher = token_upstream.pushing_client("private/app", "public/app")
    private = pusher.push_image("private/app", "v1")
    pusher.push_image("public/app", "v1")
    wharf = mirror_factory(mirror={
        "default": token_upstream.host,
        "upstreams": [{"registry": token_upstream.host, "username": info["username"], "password": info["password"]}],
    })

    layer = next(d for d in private.blobs if len(private.blobs[d]) > 1000)
    pulled = wharf.client.get_blob("private/app", layer)
    assert pulled.status_code == 200 and sha256_digest(pulled.content) == layer
    assert wait_for_blob(wharf.root, layer, len(private.blobs[layer])) == len(private.blobs[layer])

    refused = wharf.client.get_blob("public/app", layer)
    assert refused.status_code == 404, refused.status_code
    assert error_codes(refused) == ["BLOB_UNKNOWN"], refused.text
    head = wharf.client.head(f"/v2/public/app/blobs/{layer}")
    assert head.status_code == 404


def test_unknown_blob_upstream_answers_404_blob_unknown(docker_registry_factory, mirror_factory):
    upstream, wharf = anonymous_mirror(docker_registry_factory, mirror_factory)
    upstream.client.push_image("known/repo", "v1")
    missing = sha256_digest(b"never pushed anywhere " + os.urandom(8))
    for method in ("GET", "HEAD"):
        response = wharf.client.request(method, f"/v2/known/repo/blobs/{missing}")
        assert response.status_code == 404, f"{method}: {response.status_code} {response.text}"
        if method == "GET":
            assert error_codes(response) == ["BLOB_UNKNOWN"], response.text
    assert staging_files(wharf.root) == []


def test_a_blob_removed_from_the_store_by_hand_is_fetched_again(docker_registry_factory, mirror_factory):
    # An operator freeing space (or another tool) deletes a stored blob while Wharf runs: the
    # next GET must not be a 500 from a stale cache, but one new upstream fetch.
    upstream, wharf = anonymous_mirror(docker_registry_factory, mirror_factory)
    data = os.urandom(1024 * 1024 + 3)
    digest = upstream.client.push_blob("gone/blob", data)
    first = wharf.client.get_blob("gone/blob", digest)
    assert first.status_code == 200 and first.content == data
    assert wait_for_blob(wharf.root, digest, len(data)) == len(data)
    blob_path(wharf.root, digest).unlink()

    again = wharf.client.get_blob("gone/blob", digest)
    assert again.status_code == 200, again.text
    assert sha256_digest(again.content) == digest
    gets = wait_for_lines(upstream.log_text, "GET", f"/v2/gone/blob/blobs/{digest}", 2)
    assert len(gets) == 2, "\n".join(gets)
    assert wait_for_blob(wharf.root, digest, len(data)) == len(data), "the refetched blob was not stored again"
