"""Wharf and Distribution (docker-registry 2.8.2) read each other's
filesystem store (Distribution's layout, reference section 7.4)."""

import os

import pytest

from registry_client import sha256_digest

TLS_OFF = ("--src-tls-verify=false", "--dest-tls-verify=false")


def push_fixture_images(client):
    """Several repositories, tag shapes and media types."""
    images = {
        ("lib/oci-multi", "v1"): client.push_multiarch("lib/oci-multi", "v1"),
        ("lib/docker-multi", "v1"): client.push_multiarch("lib/docker-multi", "v1", docker=True),
        ("lib/single", "1.0"): client.push_image("lib/single", "1.0", docker=True),
        ("deep/nested/repo", "latest"): client.push_image("deep/nested/repo", "latest"),
    }
    # a second tag on an existing manifest, and a moved tag
    single = images[("lib/single", "1.0")]
    client.push_manifest_ok("lib/single", "stable", single.body, single.media_type)
    images[("lib/single", "stable")] = single
    client.push_image("lib/single", "moving")
    images[("lib/single", "moving")] = client.push_image("lib/single", "moving", docker=True)
    return images


def assert_serves_identically(client, images):
    for (repo, tag), image in images.items():
        top, manifests, blobs = client.walk(repo, tag)
        assert top == image.digest, f"{repo}:{tag}"
        assert manifests == image.all_manifests(), f"{repo}:{tag}"
        assert blobs == image.all_blobs(), f"{repo}:{tag}"
        for digest, data in image.all_blobs().items():
            head = client.head(f"/v2/{repo}/blobs/{digest}")
            assert head.status_code == 200
            assert head.headers["Content-Length"] == str(len(data))
            assert head.headers["Docker-Content-Digest"] == digest
        got = client.get_manifest(repo, tag)
        assert got.headers["Content-Type"] == image.media_type
        assert got.headers["Docker-Content-Digest"] == image.digest
    by_repo = {}
    for repo, tag in images:
        by_repo.setdefault(repo, set()).add(tag)
    for repo, tags in by_repo.items():
        assert set(client.tags(repo)) == tags, repo
    catalog = client.get("/v2/_catalog").json()["repositories"]
    assert catalog == sorted(by_repo)


def assert_serves_identically_except_catalog(client, images):
    """Like assert_serves_identically, but the catalog also holds lib/mounted."""
    for (repo, tag), image in images.items():
        top, manifests, blobs = client.walk(repo, tag)
        assert top == image.digest, f"{repo}:{tag}"
        assert manifests == image.all_manifests()
        assert blobs == image.all_blobs()
    catalog = client.get("/v2/_catalog").json()["repositories"]
    assert set(catalog) >= {repo for repo, _ in images}


def test_wharf_serves_store_written_by_docker_registry(docker_registry_factory, wharf_factory, skopeo, tmp_path):
    root = tmp_path / "distribution-store"
    writer = docker_registry_factory(root)
    images = push_fixture_images(writer.client)
    extra_blob = os.urandom(3000)
    extra_digest = writer.client.push_blob("lib/single", extra_blob)
    writer.stop()

    wharf = wharf_factory(root)
    assert_serves_identically(wharf.client, images)
    assert wharf.client.get_blob("lib/single", extra_digest).content == extra_blob
    ranged = wharf.client.get_blob("lib/single", extra_digest, headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == extra_blob[10:20]

    sink = docker_registry_factory()
    for repo, tag in [("lib/oci-multi", "v1"), ("lib/docker-multi", "v1")]:
        skopeo("copy", "--all", "--preserve-digests", *TLS_OFF,
               f"docker://{wharf.host}/{repo}:{tag}", f"docker://{sink.host}/{repo}:{tag}")
        top, manifests, blobs = sink.client.walk(repo, tag)
        assert top == images[(repo, tag)].digest
        assert manifests == images[(repo, tag)].all_manifests()
        assert blobs == images[(repo, tag)].all_blobs()


def test_docker_registry_serves_store_written_by_wharf(docker_registry_factory, wharf_factory, skopeo, tmp_path):
    root = tmp_path / "wharf-store"
    writer = wharf_factory(root)
    images = push_fixture_images(writer.client)
    # also exercise a chunked upload and a mount, whose on-disk results must be ordinary
    data = os.urandom(10_000)
    location = writer.client.absolute(writer.client.start_upload("lib/single").headers["Location"])
    patched = writer.client.patch(location, data=data, headers={"Content-Range": f"0-{len(data) - 1}",
                                                                "Content-Type": "application/octet-stream"})
    assert patched.status_code == 202, patched.text
    location = writer.client.absolute(patched.headers["Location"])
    put = writer.client.put(location + ("&" if "?" in location else "?") + "digest=" + sha256_digest(data))
    assert put.status_code == 201, put.text
    mounted = writer.client.post(f"/v2/lib/mounted/blobs/uploads/?mount={sha256_digest(data)}&from=lib/single")
    assert mounted.status_code == 201, mounted.text
    writer.stop()

    distribution = docker_registry_factory(root)
    assert_serves_identically_except_catalog(distribution.client, images)
    for repo in ("lib/single", "lib/mounted"):
        fetched = distribution.client.get_blob(repo, sha256_digest(data))
        assert fetched.status_code == 200, repo
        assert fetched.content == data

    sink = docker_registry_factory()
    for repo, tag in [("lib/oci-multi", "v1"), ("lib/docker-multi", "v1"), ("deep/nested/repo", "latest")]:
        skopeo("copy", "--all", "--preserve-digests", *TLS_OFF,
               f"docker://{distribution.host}/{repo}:{tag}", f"docker://{sink.host}/{repo}:{tag}")
        top, manifests, blobs = sink.client.walk(repo, tag)
        assert top == images[(repo, tag)].digest
        assert manifests == images[(repo, tag)].all_manifests()
        assert blobs == images[(repo, tag)].all_blobs()


@pytest.mark.parametrize("first", ["docker-registry", "wharf"])
def test_both_servers_write_into_one_store_and_each_reads_all(docker_registry_factory, wharf_factory, tmp_path, first):
    root = tmp_path / "shared"
    order = [docker_registry_factory, wharf_factory] if first == "docker-registry" else [wharf_factory, docker_registry_factory]
    pushed = {}
    for index, factory in enumerate(order):
        server = factory(root)
        pushed[(f"mix/r{index}", "v1")] = server.client.push_multiarch(f"mix/r{index}", "v1", docker=index == 0)
        server.stop()
    for factory in order:
        server = factory(root)
        for (repo, tag), image in pushed.items():
            top, manifests, blobs = server.client.walk(repo, tag)
            assert top == image.digest
            assert manifests == image.all_manifests()
        server.stop()


@pytest.mark.parametrize("deleter", ["wharf", "docker-registry"])
def test_deletes_made_by_one_server_are_honoured_by_the_other(docker_registry_factory, wharf_factory, tmp_path, deleter):
    root = tmp_path / "deletes"
    factories = {"wharf": wharf_factory, "docker-registry": docker_registry_factory}
    reader_name = "docker-registry" if deleter == "wharf" else "wharf"
    writer = factories[deleter](root)
    client = writer.client
    doomed = client.push_image("del/app", "doomed")
    client.push_manifest_ok("del/app", "alias", doomed.body, doomed.media_type)
    untagged = client.push_image("del/app", "untag-me")
    kept = client.push_image("del/app", "kept")
    blob = os.urandom(500)
    blob_digest = client.push_blob("del/app", blob)
    assert client.delete(f"/v2/del/app/manifests/{doomed.digest}").status_code == 202
    assert client.delete(f"/v2/del/app/blobs/{blob_digest}").status_code == 202
    if deleter == "wharf":  # Distribution 2.8 does not implement tag deletion
        assert client.delete("/v2/del/app/manifests/untag-me").status_code == 202
    writer.stop()

    reader = factories[reader_name](root).client
    for reference in ("doomed", "alias", doomed.digest):
        assert reader.get_manifest("del/app", reference).status_code == 404, reference
    assert reader.get_blob("del/app", blob_digest).status_code == 404
    assert reader.get_manifest("del/app", "kept").content == kept.body
    expected_tags = {"kept"} if deleter == "wharf" else {"kept", "untag-me"}
    assert set(reader.tags("del/app")) == expected_tags
    assert reader.get_manifest("del/app", untagged.digest).content == untagged.body


def test_wharf_writes_distribution_filesystem_layout(wharf):
    """Reference section 7.4: the files Distribution reads, with exact contents."""
    client = wharf.client
    image = client.push_image("lay/out", "v1", layers=1)
    client.push_manifest_ok("lay/out", "v2", image.body, image.media_type)
    v2 = wharf.root / "docker" / "registry" / "v2"
    repo = v2 / "repositories" / "lay" / "out"
    for digest, data in {**image.all_blobs(), image.digest: image.body}.items():
        algorithm, hex_part = digest.split(":")
        assert (v2 / "blobs" / algorithm / hex_part[:2] / hex_part / "data").read_bytes() == data
    for digest in image.all_blobs():
        algorithm, hex_part = digest.split(":")
        assert (repo / "_layers" / algorithm / hex_part / "link").read_text() == digest
    algorithm, hex_part = image.digest.split(":")
    assert (repo / "_manifests" / "revisions" / algorithm / hex_part / "link").read_text() == image.digest
    for tag in ("v1", "v2"):
        tag_dir = repo / "_manifests" / "tags" / tag
        assert (tag_dir / "current" / "link").read_text() == image.digest
        assert (tag_dir / "index" / algorithm / hex_part / "link").read_text() == image.digest
    leftovers = list((repo / "_uploads").iterdir()) if (repo / "_uploads").exists() else []
    assert leftovers == [], f"finished uploads left behind: {leftovers}"
