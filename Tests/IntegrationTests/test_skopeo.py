"""skopeo (containers/image) copies multi-arch images into and out of Wharf
with every digest preserved."""

import json

import pytest

from registry_client import DOCKER_LIST, OCI_INDEX, sha256_digest

TLS_OFF = ("--src-tls-verify=false", "--dest-tls-verify=false")


def copy_all(skopeo, source: str, destination: str):
    return skopeo("copy", "--all", "--preserve-digests", *TLS_OFF, source, destination)


def assert_same_image(client, repo, tag, image):
    top, manifests, blobs = client.walk(repo, tag)
    assert top == image.digest
    assert set(manifests) == set(image.all_manifests())
    for digest, body in image.all_manifests().items():
        assert manifests[digest] == body, f"manifest {digest} differs"
    assert set(blobs) == set(image.all_blobs())


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-manifest-list"])
def test_skopeo_copies_multiarch_into_wharf_and_back_out_with_identical_digests(
    skopeo, docker_registry_factory, wharf, docker, tmp_path
):
    source = docker_registry_factory()
    image = source.client.push_multiarch("src/multi", "v1", docker=docker)
    assert image.media_type == (DOCKER_LIST if docker else OCI_INDEX)

    copy_all(skopeo, f"docker://{source.host}/src/multi:v1", f"docker://{wharf.host}/mirror/multi:v1")
    assert_same_image(wharf.client, "mirror/multi", "v1", image)
    assert wharf.client.get_manifest("mirror/multi", "v1").headers["Content-Type"] == image.media_type

    sink = docker_registry_factory()
    copy_all(skopeo, f"docker://{wharf.host}/mirror/multi:v1", f"docker://{sink.host}/out/multi:v1")
    assert_same_image(sink.client, "out/multi", "v1", image)

    # and as a dir: layout (works for both media type families)
    out_dir = tmp_path / "dir-layout"
    copy_all(skopeo, f"docker://{wharf.host}/mirror/multi:v1", f"dir:{out_dir}")
    top = (out_dir / "manifest.json").read_bytes()
    assert sha256_digest(top) == image.digest
    for blob_digest in image.all_blobs():
        assert (out_dir / blob_digest.split(":", 1)[1]).exists(), blob_digest


def test_skopeo_copies_oci_index_to_oci_layout(skopeo, wharf, tmp_path):
    image = wharf.client.push_multiarch("lib/oci", "v1")
    layout = tmp_path / "layout"
    copy_all(skopeo, f"docker://{wharf.host}/lib/oci:v1", f"oci:{layout}:v1")
    index = json.loads((layout / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [image.digest]
    for digest, body in {**image.all_manifests(), **image.all_blobs()}.items():
        stored = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
        assert stored.read_bytes() == body, digest


def test_skopeo_inspect_and_list_tags_against_wharf(skopeo, wharf):
    image = wharf.client.push_multiarch("lib/inspect", "v1")
    wharf.client.push_manifest_ok("lib/inspect", "v2", image.body, OCI_INDEX)
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{wharf.host}/lib/inspect:v1")
    assert raw.stdout.encode() == image.body
    tags = skopeo("list-tags", "--tls-verify=false", f"docker://{wharf.host}/lib/inspect")
    assert json.loads(tags.stdout)["Tags"] == ["v1", "v2"]
