"""Manifests through the pull-through mirror: by tag then by digest, served stale when the
upstream is gone, and upstream errors mapped to OCI errors that name the upstream."""

import time

import pytest

from registry_client import error_codes, sha256_digest

TLS_OFF = ("--src-tls-verify=false",)
TAG_TTL = "1s"
ANSWER_WITHIN = 30.0


def messages(response) -> str:
    try:
        return " ".join(str(e.get("message", "")) for e in response.json()["errors"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def test_manifest_by_tag_then_by_digest_equals_upstream(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_multiarch("app/multi", "v1")
    wharf = mirror_factory(proxy={"remoteurl": upstream.base})

    by_tag = wharf.client.get_manifest("app/multi", "v1")
    assert by_tag.status_code == 200, by_tag.text
    assert by_tag.content == image.body
    assert by_tag.headers["Docker-Content-Digest"] == image.digest
    assert by_tag.headers["Content-Type"] == image.media_type
    for digest, body in image.all_manifests().items():
        by_digest = wharf.client.get_manifest("app/multi", digest)
        assert by_digest.status_code == 200, f"{digest}: {by_digest.status_code} {by_digest.text}"
        assert by_digest.content == body
    head = wharf.client.head("/v2/app/multi/manifests/v1", headers={"Accept": image.media_type})
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == image.digest
    assert head.headers["Content-Length"] == str(len(image.body))


def test_images_pulled_before_still_pull_by_tag_and_digest_after_upstream_dies(
    skopeo, docker_registry_factory, mirror_factory, tmp_path
):
    upstream = docker_registry_factory()
    oci = upstream.client.push_multiarch("stale/oci", "v1")
    docker = upstream.client.push_multiarch("stale/docker", "v1", docker=True)
    upstream.client.push_image("stale/oci", "never-pulled")
    wharf = mirror_factory(proxy={"remoteurl": upstream.base}, mirror={"tagttl": TAG_TTL})
    images = {"stale/oci": oci, "stale/docker": docker}

    for repo in images:
        warm = tmp_path / "warm" / repo
        warm.parent.mkdir(parents=True, exist_ok=True)
        skopeo("copy", "--all", *TLS_OFF, f"docker://{wharf.host}/{repo}:v1", f"dir:{warm}")

    upstream.process.kill()
    upstream.process.wait(timeout=10)
    time.sleep(1.5)  # past the tag TTL: the next tag lookup revalidates and finds no upstream

    for repo, image in images.items():
        for reference in (":v1", f"@{image.digest}"):
            out = tmp_path / "cold" / repo / reference.strip(":@").replace(":", "-")
            out.parent.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            skopeo("copy", "--all", *TLS_OFF, f"docker://{wharf.host}/{repo}{reference}", f"dir:{out}")
            assert time.monotonic() - started < ANSWER_WITHIN
            assert sha256_digest((out / "manifest.json").read_bytes()) == image.digest, f"{repo}{reference}"
            for blob in image.all_blobs():
                assert (out / blob.split(":", 1)[1]).stat().st_size == len(image.all_blobs()[blob])

    started = time.monotonic()
    missing = wharf.client.get_manifest("stale/oci", "never-pulled")
    elapsed = time.monotonic() - started
    print(f"never-pulled tag, upstream gone: {missing.status_code} after {elapsed:.2f}s: {missing.text}")
    assert elapsed < ANSWER_WITHIN, f"answered after {elapsed:.1f}s"
    assert missing.status_code in (502, 504), f"{missing.status_code} {missing.text}"
    assert error_codes(missing) == ["UNAVAILABLE"], missing.text
    assert upstream.host in messages(missing), missing.text


def test_unknown_manifest_upstream_answers_404_manifest_unknown(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    upstream.client.push_image("known/app", "v1")
    wharf = mirror_factory(proxy={"remoteurl": upstream.base})
    for reference in ("no-such-tag", sha256_digest(b"no such manifest")):
        response = wharf.client.get_manifest("known/app", reference)
        assert response.status_code == 404, f"{reference}: {response.status_code} {response.text}"
        assert error_codes(response) == ["MANIFEST_UNKNOWN"], response.text


def test_upstream_over_https_with_basic_auth_serves_its_image(basic_upstream, mirror_factory):
    info = basic_upstream.info
    wharf = mirror_factory(mirror={
        "default": basic_upstream.host,
        "certsdirectory": info["certs_dir"],
        "upstreams": [{"registry": basic_upstream.host, "username": info["username"], "password": info["password"]}],
    })
    response = wharf.client.get_manifest("test/app", "v1")
    assert response.status_code == 200, response.text
    assert sha256_digest(response.content) == info["manifest_digest"]
    layer = wharf.client.get_blob("test/app", info["layer_digest"])
    assert layer.status_code == 200 and sha256_digest(layer.content) == info["layer_digest"]


@pytest.mark.parametrize("flavour", ["tls-basic", "token"])
def test_wrong_upstream_credentials_answer_401_unauthorized_naming_the_upstream(
    flavour, basic_upstream_or_token, mirror_factory
):
    upstream = basic_upstream_or_token(flavour)
    mirror = {
        "default": upstream.host,
        "upstreams": [{"registry": upstream.host, "username": upstream.info["username"], "password": "wrong-password"}],
    }
    if "certs_dir" in upstream.info:
        mirror["certsdirectory"] = upstream.info["certs_dir"]
    wharf = mirror_factory(mirror=mirror)
    for path in ("/v2/test/app/manifests/v1", f"/v2/test/app/blobs/{upstream.info['layer_digest']}"):
        response = wharf.client.get(path, headers={"Accept": upstream.info["manifest_media_type"]})
        print(f"{flavour} {path}: {response.status_code} {response.text}")
        assert response.status_code == 401, f"{path}: {response.status_code} {response.text}"
        assert error_codes(response) == ["UNAUTHORIZED"], response.text
        assert upstream.host in messages(response), response.text


@pytest.fixture
def basic_upstream_or_token(request):
    def pick(flavour):
        return request.getfixturevalue("basic_upstream" if flavour == "tls-basic" else "token_upstream")
    return pick
