"""OpenShift's `middleware.repository.openshift.options` acted on by the mirror:
`pullthrough: false` never contacts the upstream; `mirrorpullthrough: false` serves
upstream content without keeping a copy."""

import os
import time

from mirror_support import blob_url, hashed_get, stored_size, wait_for_empty_staging


def openshift(**options):
    return {"repository": [{"name": "openshift", "options": options}]}


def test_pullthrough_false_never_contacts_the_upstream(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("os/app", "v1")
    wharf = mirror_factory(proxy={"remoteurl": upstream.base}, middleware=openshift(pullthrough=False))

    manifest = wharf.client.get_manifest("os/app", "v1")
    assert manifest.status_code == 404, f"{manifest.status_code} {manifest.text}"
    blob = wharf.client.get_blob("os/app", next(iter(image.blobs)))
    assert blob.status_code == 404, blob.status_code
    time.sleep(0.5)
    reads = [line for line in upstream.log_text().splitlines() if '"GET ' in line or '"HEAD ' in line]
    assert [line for line in reads if "python-requests" not in line] == [], "Wharf contacted the upstream"


def test_mirrorpullthrough_false_serves_blobs_without_keeping_a_copy(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    data = os.urandom(3 * 1024 * 1024 + 1)
    digest = upstream.client.push_blob("os/stream", data)
    wharf = mirror_factory(
        proxy={"remoteurl": upstream.base},
        middleware=openshift(pullthrough=True, mirrorpullthrough=False, blobrepositorycachettl="10m"),
    )

    result = hashed_get(blob_url(wharf, "os/stream", digest))
    assert result["error"] is None, result["error"]
    assert (result["status"], result["size"], result["digest"]) == (200, len(data), digest)
    assert wait_for_empty_staging(wharf.root) == []
    time.sleep(0.5)
    assert stored_size(wharf.root, digest) is None, "mirrorpullthrough: false kept a copy"
