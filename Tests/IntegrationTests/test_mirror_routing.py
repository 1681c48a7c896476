"""Routing to upstream registries without a default: containerd's `?ns=<registry>` and a
`/v2/<registry>/<repository>` path prefix (podman registries.conf mirrors) reach the same
upstream and share stored blobs."""

import os
import time

from mirror_support import access_lines, stored_size, wait_for_blob, wait_for_lines
from registry_client import error_codes, sha256_digest

def no_default(*upstreams):
    """A mirror without a default registry that lists `upstreams` (on loopback, so they must be
    listed: an unlisted registry may only be reached on a public address)."""
    return {"upstreams": [{"registry": u.host} for u in upstreams]}


def assert_manifest(response, image):
    assert response.status_code == 200, f"{response.status_code} {response.text}"
    assert response.content == image.body
    assert response.headers["Docker-Content-Digest"] == image.digest


def test_ns_query_with_bare_path_reaches_that_upstream_and_stores_under_its_host(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    wharf = mirror_factory(mirror=no_default(upstream))
    ns = f"?ns={upstream.host}"

    assert_manifest(wharf.client.get_manifest("team/app", "v1" + ns), image)
    assert_manifest(wharf.client.get_manifest("team/app", image.digest + ns), image)
    for digest, body in image.blobs.items():
        blob = wharf.client.get(f"/v2/team/app/blobs/{digest}{ns}")
        assert blob.status_code == 200 and blob.content == body, digest
    stored_as = upstream.host.replace(":", "_") + "/team/app"
    assert (wharf.root / "docker/registry/v2/repositories" / stored_as).is_dir(), stored_as

    without = wharf.client.get_manifest("team/app", "v1")  # no ns, no default: nothing to pull from
    assert without.status_code == 404, without.text


def test_path_prefix_with_host_and_port_reaches_that_upstream(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    wharf = mirror_factory(mirror=no_default(upstream))
    for prefix in (upstream.host, upstream.host.replace(":", "_")):
        repo = f"{prefix}/team/app"
        assert_manifest(wharf.client.get_manifest(repo, "v1"), image)
        assert_manifest(wharf.client.get_manifest(repo, image.digest), image)
        for digest, body in image.blobs.items():
            blob = wharf.client.get_blob(repo, digest)
            assert blob.status_code == 200 and blob.content == body, f"{repo}: {digest}"


def test_ns_route_and_path_prefix_route_share_stored_blobs(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    shared = os.urandom(2 * 1024 * 1024)
    digest = upstream.client.push_blob("left/app", shared)
    assert upstream.client.push_blob("right/app", shared) == digest  # the same blob in a second repository
    wharf = mirror_factory(mirror=no_default(upstream))
    read_log = upstream.log_text

    first = wharf.client.get(f"/v2/left/app/blobs/{digest}?ns={upstream.host}")
    assert first.status_code == 200 and first.content == shared
    assert wait_for_blob(wharf.root, digest, len(shared)) == len(shared)
    assert len(wait_for_lines(read_log, "GET", f"/v2/left/app/blobs/{digest}", 1)) == 1

    same_repo = wharf.client.get_blob(f"{upstream.host}/left/app", digest)
    assert same_repo.status_code == 200 and sha256_digest(same_repo.content) == digest

    other_repo = wharf.client.get_blob(f"{upstream.host}/right/app", digest)
    assert other_repo.status_code == 200 and sha256_digest(other_repo.content) == digest
    assert wait_for_lines(read_log, "HEAD", f"/v2/right/app/blobs/{digest}", 1), \
        "serving through right/app needs right/app's upstream to confirm the blob (a HEAD)"
    time.sleep(0.5)
    log = read_log()
    assert len(access_lines(log, "GET", f"/v2/left/app/blobs/{digest}")) == 1
    assert access_lines(log, "GET", f"/v2/right/app/blobs/{digest}") == []
    assert stored_size(wharf.root, digest) == len(shared)


def test_unlisted_registry_is_refused_when_allowunlisted_is_false(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    upstream.client.push_image("team/app", "v1")
    wharf = mirror_factory(mirror={"allowunlisted": False})
    response = wharf.client.get_manifest("team/app", f"v1?ns={upstream.host}")
    print(f"unlisted registry with allowunlisted false: {response.status_code} {response.text}")
    assert response.status_code == 403, f"{response.status_code} {response.text}"
    assert error_codes(response) == ["DENIED"], response.text
    assert upstream.host in response.json()["errors"][0]["message"]
    time.sleep(0.3)
    assert access_lines(upstream.log_text(), "GET", "/v2/team/app/manifests/v1") == []
    assert access_lines(upstream.log_text(), "HEAD", "/v2/team/app/manifests/v1") == []
