"""skopeo pulls multi-arch images through Wharf's pull-through mirror, from an anonymous
docker-registry upstream and from a Bearer-token upstream, with every digest identical to
the upstream's."""

import json

import pytest

from mirror_support import hex_of, sha256_file
from registry_client import DOCKER_LIST, OCI_INDEX, sha256_digest

TLS_OFF = ("--src-tls-verify=false", "--dest-tls-verify=false")
MAX_TOKEN_REQUESTS = 4


def copy_to_dir(skopeo, source, out_dir):
    skopeo("copy", "--all", "--preserve-digests", *TLS_OFF, source, f"dir:{out_dir}")


def assert_dir_layout_holds(out_dir, image):
    """A `skopeo copy --all` dir: layout: manifest.json is the top manifest, each child is
    <hex>.manifest.json, each blob <hex>; all byte-identical to what was pushed upstream."""
    assert sha256_digest((out_dir / "manifest.json").read_bytes()) == image.digest
    for child in image.children:
        child_file = out_dir / f"{hex_of(child.digest)}.manifest.json"
        assert child_file.read_bytes() == child.body, child.digest
    for digest in image.all_blobs():
        assert sha256_file(out_dir / hex_of(digest)) == digest


def assert_walk_matches(client, repo, reference, image):
    top, manifests, blobs = client.walk(repo, reference)
    assert top == image.digest
    assert set(manifests) == set(image.all_manifests())
    assert set(blobs) == set(image.all_blobs())


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-manifest-list"])
def test_skopeo_copy_through_mirror_of_anonymous_upstream_keeps_every_digest(
    skopeo, docker_registry_factory, mirror_factory, docker, tmp_path
):
    upstream = docker_registry_factory()
    image = upstream.client.push_multiarch("src/multi", "v1", docker=docker)
    assert image.media_type == (DOCKER_LIST if docker else OCI_INDEX)
    wharf = mirror_factory(proxy={"remoteurl": upstream.base})

    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{wharf.host}/src/multi:v1")
    assert raw.stdout.encode() == image.body
    for child in image.children:
        child_raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{wharf.host}/src/multi@{child.digest}")
        assert child_raw.stdout.encode() == child.body

    out_dir = tmp_path / "by-tag"
    copy_to_dir(skopeo, f"docker://{wharf.host}/src/multi:v1", out_dir)
    assert_dir_layout_holds(out_dir, image)

    by_digest = tmp_path / "by-digest"
    copy_to_dir(skopeo, f"docker://{wharf.host}/src/multi@{image.digest}", by_digest)
    assert_dir_layout_holds(by_digest, image)

    # Stored under the upstream's own name, and served from there with the same digests.
    assert (wharf.root / "docker/registry/v2/repositories/src/multi").is_dir()
    assert_walk_matches(wharf.client, "src/multi", "v1", image)
    assert wharf.client.get_manifest("src/multi", "v1").headers["Content-Type"] == image.media_type


def test_skopeo_inspect_through_mirror_reports_upstream_digest(skopeo, docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("single/app", "v1")
    wharf = mirror_factory(proxy={"remoteurl": upstream.base})
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{wharf.host}/single/app:v1").stdout)
    assert inspected["Digest"] == image.digest
    assert inspected["Layers"] == [layer["digest"] for layer in json.loads(image.body)["layers"]]


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-manifest-list"])
def test_skopeo_copy_through_mirror_of_bearer_upstream_keeps_digests_with_few_token_requests(
    skopeo, token_upstream, mirror_factory, docker, tmp_path
):
    pusher = token_upstream.pushing_client("priv/multi")
    image = pusher.push_multiarch("priv/multi", "v1", docker=docker)
    before = len(token_upstream.token_requests())
    info = token_upstream.info
    wharf = mirror_factory(mirror={
        "default": token_upstream.host,
        "upstreams": [{"registry": token_upstream.host, "username": info["username"], "password": info["password"]}],
    })

    out_dir = tmp_path / "bearer"
    copy_to_dir(skopeo, f"docker://{wharf.host}/priv/multi:v1", out_dir)
    assert_dir_layout_holds(out_dir, image)
    assert_walk_matches(wharf.client, "priv/multi", "v1", image)

    asked = token_upstream.token_requests()[before:]
    print(f"token requests made by Wharf for one multi-arch copy: {len(asked)}: {asked}")
    assert asked, "Wharf never asked the token server: did it reach the upstream at all?"
    assert all(entry["user"] == info["username"] for entry in asked), asked
    assert all(any("repository:priv/multi:pull" in s for s in entry["scope"]) for entry in asked), asked
    assert len(asked) <= MAX_TOKEN_REQUESTS, f"{len(asked)} token requests: {asked}"
