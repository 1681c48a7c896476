"""Manifest push, pull, negotiation and delete (OCI Distribution v1.1.1 end-3,
end-7, end-9; distribution's registry/handlers/manifests.go for Accept)."""

import http.client
import json
import os

import pytest

from registry_client import (
    DOCKER_CONFIG,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    error_codes,
    sha256_digest,
)

REPO = "apps/web"
DOCKER_ONLY_ACCEPT = f"{DOCKER_MANIFEST}, {DOCKER_LIST}"


def assert_error(response, status, code):
    assert response.status_code == status, f"HTTP {response.status_code}, expected {status}: {response.text[:300]!r}"
    assert code in error_codes(response), f"expected {code} in {response.text!r}"


def assert_manifest_response(response, body, media_type):
    assert response.status_code == 200, response.text
    assert response.content == body
    assert response.headers["Content-Type"] == media_type
    assert response.headers["Docker-Content-Digest"] == sha256_digest(body)
    assert response.headers["Content-Length"] == str(len(body))


def small_oci_manifest(client, repo=REPO, **fields) -> bytes:
    config = json.dumps({"architecture": "amd64", "os": "linux", "nonce": os.urandom(8).hex()}).encode()
    client.push_blob(repo, config)
    layer = os.urandom(300)
    client.push_blob(repo, layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
    }
    manifest.update(fields)
    return json.dumps(manifest, indent=2).encode()


def test_put_by_tag_answers_201_with_digest_location(wharf):
    client = wharf.client
    body = small_oci_manifest(client)
    digest = sha256_digest(body)
    response = client.push_manifest(REPO, "v1", body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v2/{REPO}/manifests/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker"])
def test_get_and_head_by_tag_and_digest_return_stored_type_and_exact_bytes(wharf, docker):
    client = wharf.client
    image = client.push_image(REPO, "stable", docker=docker)
    for reference in ("stable", image.digest):
        assert_manifest_response(client.get_manifest(REPO, reference), image.body, image.media_type)
        head = client.head(f"/v2/{REPO}/manifests/{reference}", headers={"Accept": image.media_type})
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["Docker-Content-Digest"] == image.digest
        assert head.headers["Content-Length"] == str(len(image.body))
        assert head.headers["Content-Type"] == image.media_type


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-list"])
def test_multiarch_index_and_children_are_served_byte_exact(wharf, docker):
    client = wharf.client
    image = client.push_multiarch(REPO, "multi", docker=docker)
    assert_manifest_response(client.get_manifest(REPO, "multi"), image.body, image.media_type)
    top, manifests, blobs = client.walk(REPO, "multi")
    assert top == image.digest
    assert manifests == image.all_manifests()
    assert blobs == image.all_blobs()


def test_put_by_digest_answers_201_and_is_not_tagged(wharf):
    client = wharf.client
    body = small_oci_manifest(client)
    digest = sha256_digest(body)
    response = client.push_manifest(REPO, digest, body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v2/{REPO}/manifests/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    assert_manifest_response(client.get_manifest(REPO, digest), body, OCI_MANIFEST)


def test_put_by_digest_with_other_bytes_is_400_digest_invalid(wharf):
    client = wharf.client
    body = small_oci_manifest(client)
    wrong = sha256_digest(body + b" ")
    assert_error(client.push_manifest(REPO, wrong, body, OCI_MANIFEST), 400, "DIGEST_INVALID")
    assert_error(client.get_manifest(REPO, wrong), 404, "MANIFEST_UNKNOWN")
    assert_error(client.get_manifest(REPO, sha256_digest(body)), 404, "MANIFEST_UNKNOWN")


def test_retagging_moves_the_tag(wharf):
    client = wharf.client
    first = client.push_image(REPO, "latest")
    second = client.push_image(REPO, "latest")
    assert_manifest_response(client.get_manifest(REPO, "latest"), second.body, OCI_MANIFEST)
    assert_manifest_response(client.get_manifest(REPO, first.digest), first.body, OCI_MANIFEST)


def test_manifest_referencing_blob_missing_from_repository_is_400_manifest_blob_unknown(wharf):
    client = wharf.client
    config = b'{"architecture":"amd64","os":"linux"}'
    client.push_blob("apps/other", config)  # present in the store, but not in REPO
    layer = os.urandom(100)
    client.push_blob(REPO, layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
    }
    body = json.dumps(manifest).encode()
    assert_error(client.push_manifest(REPO, "broken", body, OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_error(client.get_manifest(REPO, "broken"), 404, "MANIFEST_UNKNOWN")


def test_manifest_referencing_unknown_layer_is_400_manifest_blob_unknown(wharf):
    client = wharf.client
    config = b'{"architecture":"amd64","os":"linux"}'
    client.push_blob(REPO, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, config),
        "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", os.urandom(10))],
    }
    body = json.dumps(manifest).encode()
    assert_error(client.push_manifest(REPO, "broken", body, DOCKER_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN")


def test_index_referencing_unknown_child_manifest_is_400_manifest_blob_unknown(wharf):
    client = wharf.client
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, b"not pushed", platform={"os": "linux", "architecture": "amd64"})],
    }
    body = json.dumps(index).encode()
    assert_error(client.push_manifest(REPO, "broken", body, OCI_INDEX), 400, "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b'{"schemaVersion": 2, "mediaType": 7}'])
def test_invalid_manifest_is_400_manifest_invalid(wharf, body):
    assert_error(wharf.client.push_manifest(REPO, "bad", body, OCI_MANIFEST), 400, "MANIFEST_INVALID")


def test_manifest_larger_than_4_mib_is_413(wharf):
    client = wharf.client
    body = small_oci_manifest(client, annotations={"padding": "x" * (4 * 1024 * 1024)})
    response = client.push_manifest(REPO, "huge", body, OCI_MANIFEST)
    assert response.status_code == 413, response.text[:500]
    assert_error(client.get_manifest(REPO, "huge"), 404, "MANIFEST_UNKNOWN")


def test_manifest_just_under_4_mib_is_accepted(wharf):
    client = wharf.client
    body = small_oci_manifest(client, annotations={"padding": ""})
    padding = 4 * 1024 * 1024 - len(body) - 1000
    body = small_oci_manifest(client, annotations={"padding": "y" * padding})
    assert len(body) < 4 * 1024 * 1024
    response = client.push_manifest(REPO, "big", body, OCI_MANIFEST)
    assert response.status_code == 201, response.text[:500]
    assert client.get_manifest(REPO, "big").content == body


def test_unknown_manifest_is_404_manifest_unknown_by_tag_and_digest(wharf):
    client = wharf.client
    client.push_image(REPO, "present")
    assert_error(client.get_manifest(REPO, "absent"), 404, "MANIFEST_UNKNOWN")
    assert_error(client.get_manifest(REPO, sha256_digest(b"absent")), 404, "MANIFEST_UNKNOWN")
    assert client.head(f"/v2/{REPO}/manifests/absent").status_code == 404


def test_manifest_digest_with_bad_encoding_is_400_digest_invalid(wharf):
    assert_error(wharf.client.get_manifest(REPO, "sha256:totallywrong"), 400, "DIGEST_INVALID")


@pytest.mark.parametrize("tag", ["-bad", ".bad", "x" * 129])
def test_invalid_tag_is_400_for_get_and_put(wharf, tag):
    client = wharf.client
    response = client.get_manifest(REPO, tag)
    assert response.status_code == 400, response.text
    assert error_codes(response), response.text
    body = small_oci_manifest(client)
    assert client.push_manifest(REPO, tag, body, OCI_MANIFEST).status_code == 400


def test_tag_of_128_characters_is_accepted(wharf):
    client = wharf.client
    tag = "a" + "b_.-" * 31 + "cde"
    assert len(tag) == 128
    body = small_oci_manifest(client)
    assert client.push_manifest(REPO, tag, body, OCI_MANIFEST).status_code == 201
    assert client.get_manifest(REPO, tag).content == body


def test_manifest_with_subject_answers_oci_subject_header_even_if_subject_is_missing(wharf):
    client = wharf.client
    client.push_blob(REPO, EMPTY_JSON)
    subject = {"mediaType": OCI_MANIFEST, "digest": sha256_digest(b"no such manifest"), "size": 16}
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom",
            "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
            "layers": [{"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2}],
            "subject": subject,
        }
    ).encode()
    response = client.push_manifest(REPO, sha256_digest(body), body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    assert response.headers["OCI-Subject"] == subject["digest"]


def test_delete_by_digest_answers_202_and_removes_its_tags(wharf):
    client = wharf.client
    image = client.push_image(REPO, "one")
    client.push_manifest_ok(REPO, "two", image.body, OCI_MANIFEST)
    keep = client.push_image(REPO, "keep")
    response = client.delete(f"/v2/{REPO}/manifests/{image.digest}")
    assert response.status_code == 202, response.text
    for reference in ("one", "two", image.digest):
        assert_error(client.get_manifest(REPO, reference), 404, "MANIFEST_UNKNOWN")
    assert client.tags(REPO) == ["keep"]
    assert client.get_manifest(REPO, keep.digest).status_code == 200


def test_delete_by_tag_answers_202_and_keeps_the_manifest(wharf):
    client = wharf.client
    image = client.push_image(REPO, "gone")
    client.push_manifest_ok(REPO, "stays", image.body, OCI_MANIFEST)
    response = client.delete(f"/v2/{REPO}/manifests/gone")
    assert response.status_code == 202, response.text
    assert_error(client.get_manifest(REPO, "gone"), 404, "MANIFEST_UNKNOWN")
    assert client.get_manifest(REPO, image.digest).content == image.body
    assert client.tags(REPO) == ["stays"]


def test_delete_unknown_manifest_is_404(wharf):
    client = wharf.client
    client.push_image(REPO, "present")
    assert_error(client.delete(f"/v2/{REPO}/manifests/{sha256_digest(b'x')}"), 404, "MANIFEST_UNKNOWN")


def test_delete_manifest_with_deletes_disabled_is_405_unsupported(wharf_factory):
    client = wharf_factory(delete=False).client
    image = client.push_image(REPO, "v1")
    assert_error(client.delete(f"/v2/{REPO}/manifests/{image.digest}"), 405, "UNSUPPORTED")
    assert client.get_manifest(REPO, "v1").status_code == 200


def test_readonly_store_refuses_manifest_put_with_405(wharf_factory, tmp_path):
    root = tmp_path / "ro"
    writer = wharf_factory(root)
    body = small_oci_manifest(writer.client)
    writer.stop()
    reader = wharf_factory(root, readonly=True)
    assert_error(reader.client.push_manifest(REPO, "v1", body, OCI_MANIFEST), 405, "UNSUPPORTED")


@pytest.mark.parametrize("accept", [None, "*/*"], ids=["no-accept", "star"])
@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker"])
def test_no_accept_or_wildcard_gets_stored_type(wharf, accept, docker):
    client = wharf.client
    image = client.push_multiarch(REPO, "v1", docker=docker)
    headers = {"Accept": accept}  # None drops requests' default "Accept: */*"
    for reference in ("v1", image.digest):
        response = client.get(f"/v2/{REPO}/manifests/{reference}", headers=headers)
        assert_manifest_response(response, image.body, image.media_type)


def test_oci_manifest_with_docker_only_accept_is_404_manifest_unknown(wharf):
    client = wharf.client
    image = client.push_image(REPO, "v1")
    for reference in ("v1", image.digest):
        assert_error(client.get_manifest(REPO, reference, accept=DOCKER_ONLY_ACCEPT), 404, "MANIFEST_UNKNOWN")


def test_oci_index_with_docker_only_accept_is_404_manifest_unknown(wharf):
    client = wharf.client
    image = client.push_multiarch(REPO, "v1")
    assert_error(client.get_manifest(REPO, "v1", accept=DOCKER_ONLY_ACCEPT), 404, "MANIFEST_UNKNOWN")


def test_accept_list_with_parameters_matches_stored_type(wharf):
    client = wharf.client
    image = client.push_image(REPO, "v1")
    response = client.get(
        f"/v2/{REPO}/manifests/v1",
        headers={"Accept": f"{DOCKER_MANIFEST}, {OCI_MANIFEST}; q=0.5"},
    )
    assert_manifest_response(response, image.body, OCI_MANIFEST)


def test_if_none_match_with_current_digest_is_304(wharf):
    client = wharf.client
    image = client.push_image(REPO, "v1")
    for reference in ("v1", image.digest):
        response = client.get(
            f"/v2/{REPO}/manifests/{reference}",
            headers={"Accept": OCI_MANIFEST, "If-None-Match": f'"{image.digest}"'},
        )
        assert response.status_code == 304
        assert response.content == b""
    stale = client.get(
        f"/v2/{REPO}/manifests/v1",
        headers={"Accept": OCI_MANIFEST, "If-None-Match": f'"{sha256_digest(b"old")}"'},
    )
    assert_manifest_response(stale, image.body, OCI_MANIFEST)


def test_manifest_of_one_repository_is_unknown_in_another(wharf):
    client = wharf.client
    image = client.push_image(REPO, "v1")
    client.push_image("apps/other", "v1")
    assert_error(client.get_manifest("apps/other", image.digest), 404, "MANIFEST_UNKNOWN")


def test_manifest_sent_with_chunked_encoding_is_accepted(wharf):
    client = wharf.client
    body = small_oci_manifest(client)
    response = client.put(
        f"/v2/{REPO}/manifests/chunked",
        data=iter([body[:100], body[100:]]),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    assert client.get_manifest(REPO, "chunked").content == body


def test_oversized_manifest_without_content_length_is_413(wharf):
    """The 4 MiB limit must hold for a chunked body too, not only for a declared length."""
    client = wharf.client
    body = small_oci_manifest(client, annotations={"padding": "z" * (5 * 1024 * 1024)})
    pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    response = client.put(
        f"/v2/{REPO}/manifests/huge", data=iter(pieces), headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 413, response.text[:300]
    assert_error(client.get_manifest(REPO, "huge"), 404, "MANIFEST_UNKNOWN")


# Distribution v3 (registry/handlers/manifests.go), reference section 3.3: a Docker
# manifest list fetched by tag without the list type in Accept is replaced by its
# linux/amd64 child; if that child is schema2 and schema2 is not accepted either,
# the answer is 400 MANIFEST_INVALID. By digest, the list is always served as is.


def test_docker_list_by_tag_without_list_in_accept_serves_linux_amd64_child(wharf):
    client = wharf.client
    image = client.push_multiarch(REPO, "v1", docker=True)
    amd64 = image.children[0]
    response = client.get_manifest(REPO, "v1", accept=DOCKER_MANIFEST)
    assert_manifest_response(response, amd64.body, DOCKER_MANIFEST)
    by_digest = client.get_manifest(REPO, image.digest, accept=DOCKER_MANIFEST)
    assert_manifest_response(by_digest, image.body, DOCKER_LIST)


def test_docker_list_by_tag_accepting_neither_list_nor_schema2_is_400_manifest_invalid(wharf):
    client = wharf.client
    client.push_multiarch(REPO, "v1", docker=True)
    response = client.get_manifest(REPO, "v1", accept=f"{OCI_MANIFEST}, {OCI_INDEX}")
    assert_error(response, 400, "MANIFEST_INVALID")


def test_repeated_accept_header_lines_are_all_honoured(wharf):
    """HTTP allows a header to repeat (RFC 9110 5.3); regctl sends one Accept line
    per media type, and containers/image may too. The last line alone must not decide."""
    client = wharf.client
    image = client.push_image(REPO, "v1")
    conn = http.client.HTTPConnection("127.0.0.1", wharf.port, timeout=10)
    try:
        conn.putrequest("GET", f"/v2/{REPO}/manifests/v1")
        conn.putheader("Accept", OCI_MANIFEST)
        conn.putheader("Accept", DOCKER_MANIFEST)
        conn.putheader("Accept", DOCKER_LIST)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 200, body[:300]
    assert body == image.body
    assert response.getheader("Content-Type") == OCI_MANIFEST


def test_manifest_requests_with_ns_query_parameter_resolve_normally(wharf):
    client = wharf.client
    image = client.push_image(REPO, "v1")
    head = client.head(f"/v2/{REPO}/manifests/v1?ns=docker.io", headers={"Accept": OCI_MANIFEST})
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == image.digest
    got = client.get(f"/v2/{REPO}/manifests/{image.digest}?ns=docker.io", headers={"Accept": OCI_MANIFEST})
    assert_manifest_response(got, image.body, OCI_MANIFEST)
