"""Blob reads and deletes (OCI Distribution v1.1.1 end-1, end-2, end-10; RFC 9110
range requests as distribution serves them with Go's http.ServeContent)."""

import hashlib
import os

import pytest

from registry_client import EMPTY_JSON_DIGEST, blob_path, error_codes, sha256_digest

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
REPO = "library/blobs"


ROOTS = {}


def stored_root(client):
    return ROOTS[client.base]


@pytest.fixture
def stored(wharf):
    """A 1000-byte random blob pushed into REPO; returns (client, digest, bytes)."""
    data = os.urandom(1000)
    digest = wharf.client.push_blob(REPO, data)
    ROOTS[wharf.client.base] = wharf.root
    return wharf.client, digest, data


def assert_error(response, status, code):
    assert response.status_code == status, f"HTTP {response.status_code}, expected {status}: {response.text[:300]!r}"
    assert code in error_codes(response), f"expected {code} in {response.text!r}"
    assert response.headers.get(API_VERSION[0]) == API_VERSION[1]


def test_base_endpoint_answers_200_with_empty_json_object_and_api_version(wharf):
    response = wharf.client.get("/v2/")
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers[API_VERSION[0]] == API_VERSION[1]


def test_get_blob_returns_exact_bytes_with_digest_length_ranges_and_etag(stored):
    client, digest, data = stored
    response = client.get_blob(REPO, digest)
    assert response.status_code == 200
    assert response.content == data
    assert sha256_digest(response.content) == digest
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"] == f'"{digest}"'
    assert response.headers[API_VERSION[0]] == API_VERSION[1]


def test_head_blob_returns_headers_and_no_body(stored):
    client, digest, data = stored
    response = client.head(f"/v2/{REPO}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["ETag"] == f'"{digest}"'


@pytest.mark.parametrize(
    "header, start, end",
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-199", 100, 199),
        ("bytes=990-", 990, 999),
        ("bytes=-25", 975, 999),
        ("bytes=500-5000", 500, 999),  # last-pos past the end is clamped (RFC 9110 14.1.2)
        ("bytes=999-999", 999, 999),
    ],
)
def test_single_range_answers_206_with_content_range(stored, header, start, end):
    client, digest, data = stored
    response = client.get_blob(REPO, digest, headers={"Range": header})
    assert response.status_code == 206, response.text
    assert response.content == data[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
    assert response.headers["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=1000-1000"])
def test_unsatisfiable_range_answers_416_with_star_content_range(stored, header):
    client, digest, data = stored
    response = client.get_blob(REPO, digest, headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=9-3", "bytes=--1"])
def test_malformed_range_answers_416_with_star_content_range(stored, header):
    client, digest, data = stored
    response = client.get_blob(REPO, digest, headers={"Range": header})
    assert response.status_code == 416, f"{header}: {response.status_code}"
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"


def test_unknown_blob_is_404_blob_unknown_for_get_and_head(stored):
    client, _, _ = stored
    missing = sha256_digest(os.urandom(32))
    assert_error(client.get_blob(REPO, missing), 404, "BLOB_UNKNOWN")
    head = client.head(f"/v2/{REPO}/blobs/{missing}")
    assert head.status_code == 404
    assert head.content == b""


def test_blob_in_unknown_repository_is_404_blob_unknown(stored):
    client, digest, _ = stored
    assert_error(client.get_blob("never/pushed", digest), 404, "BLOB_UNKNOWN")


@pytest.mark.parametrize(
    "digest",
    ["sha256:zz", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha256:" + "a" * 65, "md5:"],
)
def test_malformed_digest_is_400_digest_invalid(wharf, digest):
    assert_error(wharf.client.get_blob(REPO, digest), 400, "DIGEST_INVALID")


@pytest.mark.parametrize("name", ["Bad_Name", "a//b", "UPPER/case", "trailing-", "a/-b", "a..b"])
def test_invalid_repository_name_is_400_name_invalid(wharf, name):
    response = wharf.client.get(f"/v2/{name}/blobs/{EMPTY_JSON_DIGEST}")
    assert_error(response, 400, "NAME_INVALID")


def test_blob_present_in_store_but_not_linked_into_repository_is_404(stored):
    client, digest, _ = stored
    other = client.get_blob("library/other", digest)
    assert_error(other, 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/library/other/blobs/{digest}").status_code == 404
    # and the owning repository still serves it
    assert client.get_blob(REPO, digest).status_code == 200


def test_delete_blob_answers_202_and_unlinks_only_that_repository(stored):
    client, digest, data = stored
    client.push_blob("library/second", data)
    response = client.delete(f"/v2/{REPO}/blobs/{digest}")
    assert response.status_code == 202, response.text
    assert response.headers[API_VERSION[0]] == API_VERSION[1]
    assert_error(client.get_blob(REPO, digest), 404, "BLOB_UNKNOWN")
    assert client.head(f"/v2/{REPO}/blobs/{digest}").status_code == 404
    kept = client.get_blob("library/second", digest)
    assert kept.status_code == 200
    assert kept.content == data
    assert blob_path(stored_root(client), digest).exists()  # data stays for garbage collection


def test_delete_unknown_blob_is_404_blob_unknown(wharf):
    missing = sha256_digest(os.urandom(8))
    assert_error(wharf.client.delete(f"/v2/{REPO}/blobs/{missing}"), 404, "BLOB_UNKNOWN")


def test_delete_blob_with_deletes_disabled_is_405_unsupported(wharf_factory):
    server = wharf_factory(delete=False)
    digest = server.client.push_blob(REPO, b"kept")
    assert_error(server.client.delete(f"/v2/{REPO}/blobs/{digest}"), 405, "UNSUPPORTED")
    assert server.client.get_blob(REPO, digest).content == b"kept"


def test_readonly_store_serves_blobs_but_refuses_uploads_with_405(wharf_factory, tmp_path):
    root = tmp_path / "shared-store"
    writer = wharf_factory(root)
    digest = writer.client.push_blob(REPO, b"read me")
    writer.stop()
    reader = wharf_factory(root, readonly=True)
    assert reader.client.get_blob(REPO, digest).content == b"read me"
    assert_error(reader.client.start_upload(REPO), 405, "UNSUPPORTED")
    assert_error(reader.client.delete(f"/v2/{REPO}/blobs/{digest}"), 405, "UNSUPPORTED")


def test_error_responses_carry_api_version_header_and_json_body(wharf):
    response = wharf.client.get_blob(REPO, sha256_digest(b"nope"))
    assert response.status_code == 404
    assert response.headers[API_VERSION[0]] == API_VERSION[1]
    body = response.json()
    assert isinstance(body["errors"], list) and body["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert "application/json" in response.headers["Content-Type"]


def test_large_blob_streams_in_and_out_byte_exact(wharf):
    """48 MiB pushed with a chunked request body, read back whole and by range."""
    client = wharf.client
    pieces = [os.urandom(1024 * 1024) for _ in range(48)]
    whole = hashlib.sha256()
    for piece in pieces:
        whole.update(piece)
    digest = "sha256:" + whole.hexdigest()
    started = client.start_upload(REPO)
    location = client.absolute(started.headers["Location"])
    done = client.put(
        location + ("&" if "?" in location else "?") + "digest=" + digest,
        data=iter(pieces),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text
    response = client.get_blob(REPO, digest, stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(48 * 1024 * 1024)
    received = hashlib.sha256()
    for block in response.iter_content(1024 * 1024):
        received.update(block)
    assert "sha256:" + received.hexdigest() == digest
    middle = client.get_blob(REPO, digest, headers={"Range": "bytes=20971000-20972000"})
    assert middle.status_code == 206
    assert middle.content == b"".join(pieces)[20971000:20972001]


def test_blob_file_removed_by_hand_answers_blob_unknown_not_an_error(wharf):
    """A stored blob whose file is deleted under a running Wharf is gone, not a 500 from a cache."""
    data = os.urandom(256 * 1024)
    digest = wharf.client.push_blob(REPO, data)
    assert wharf.client.get_blob(REPO, digest).content == data
    blob_path(wharf.root, digest).unlink()
    gone = wharf.client.get_blob(REPO, digest)
    assert gone.status_code == 404, gone.text
    assert error_codes(gone) == ["BLOB_UNKNOWN"]
    # pushed again, it is served again
    assert wharf.client.push_blob(REPO, data) == digest
    assert wharf.client.get_blob(REPO, digest).content == data


@pytest.mark.parametrize(
    "path",
    [
        "/v2/..%2F..%2Fetc/blobs/" + EMPTY_JSON_DIGEST,
        "/v2/a/%2E%2E/b/tags/list",
        "/v2/a/../../b/tags/list",
        "/v2/%2e%2e/_catalog",
    ],
)
def test_path_traversal_in_repository_name_is_rejected(wharf, path):
    response = wharf.client.get(path)
    assert response.status_code in (400, 404), f"{path}: {response.status_code} {response.text[:200]}"
    assert error_codes(response) or response.status_code == 404


def test_head_on_base_endpoint_is_200(wharf):
    response = wharf.client.head("/v2/")
    assert response.status_code == 200
    assert response.headers[API_VERSION[0]] == API_VERSION[1]


def test_mirror_namespace_query_parameter_is_ignored(stored):
    """containerd appends ?ns=<registry> to every request it sends to a mirror
    (reference section 4.1); a plain registry must still answer normally."""
    client, digest, data = stored
    response = client.get(f"/v2/{REPO}/blobs/{digest}?ns=docker.io")
    assert response.status_code == 200
    assert response.content == data
    assert client.head(f"/v2/{REPO}/blobs/{digest}?ns=docker.io").status_code == 200


def test_every_kind_of_response_carries_the_api_version_header(stored):
    client, digest, data = stored
    requests_to_make = [
        ("GET", f"/v2/{REPO}/blobs/{digest}", {"Range": "bytes=0-1"}),  # 206
        ("GET", f"/v2/{REPO}/blobs/{digest}", {"Range": "bytes=5000-"}),  # 416
        ("GET", f"/v2/{REPO}/blobs/{digest}", {"If-None-Match": f'"{digest}"'}),  # 304
        ("HEAD", f"/v2/{REPO}/blobs/{digest}", {}),
        ("GET", "/v2/no/such/route/here", {}),
        ("GET", "/not-the-api", {}),
        ("PATCH", "/v2/", {}),
        ("POST", f"/v2/{REPO}/blobs/uploads/", {}),
    ]
    for method, path, headers in requests_to_make:
        response = client.request(method, path, headers=headers)
        assert response.headers.get(API_VERSION[0]) == API_VERSION[1], (method, path, response.status_code)
