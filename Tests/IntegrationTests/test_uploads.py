"""Blob uploads: monolithic, single-POST, chunked, streamed, cancel, mount
(OCI Distribution v1.1.1 end-4a/4b/5/6/11/13 and section "Pushing blobs")."""

import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from registry_client import Registry, blob_path, error_codes, sha256_digest

REPO = "team/uploads"
OCTET = {"Content-Type": "application/octet-stream"}


def assert_error(response, status, code):
    assert response.status_code == status, f"HTTP {response.status_code}, expected {status}: {response.text[:300]!r}"
    assert code in error_codes(response), f"expected {code} in {response.text!r}"


def with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + "digest=" + digest


def open_session(client, repo=REPO):
    response = client.start_upload(repo)
    assert response.status_code == 202, response.text
    return client.absolute(response.headers["Location"]), response


def test_post_opens_session_with_location_range_and_uuid(wharf):
    response = wharf.client.start_upload(REPO)
    assert response.status_code == 202
    upload_id = response.headers["Docker-Upload-UUID"]
    uuid.UUID(upload_id)  # a real UUID
    assert urlsplit(response.headers["Location"]).path == f"/v2/{REPO}/blobs/uploads/{upload_id}"
    assert response.headers["Range"] == "0-0"
    assert response.headers["Content-Length"] == "0"


def test_two_sessions_get_distinct_ids(wharf):
    first = wharf.client.start_upload(REPO).headers["Docker-Upload-UUID"]
    second = wharf.client.start_upload(REPO).headers["Docker-Upload-UUID"]
    assert first != second


def test_monolithic_put_stores_blob_and_answers_201_with_blob_location(wharf):
    client = wharf.client
    data = os.urandom(70_000)
    digest = sha256_digest(data)
    location, _ = open_session(client)
    response = client.put(with_digest(location, digest), data=data, headers=OCTET)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v2/{REPO}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    fetched = client.get_blob(REPO, digest)
    assert fetched.status_code == 200 and fetched.content == data
    stored = blob_path(wharf.root, digest)
    assert stored.read_bytes() == data  # Distribution's filesystem layout


def test_empty_blob_upload_round_trips(wharf):
    client = wharf.client
    digest = sha256_digest(b"")
    location, _ = open_session(client)
    response = client.put(with_digest(location, digest), data=b"", headers=OCTET)
    assert response.status_code == 201, response.text
    fetched = client.get_blob(REPO, digest)
    assert fetched.status_code == 200
    assert fetched.content == b""
    assert fetched.headers["Content-Length"] == "0"


def test_single_post_with_digest_and_body_answers_201(wharf):
    client = wharf.client
    data = os.urandom(4096)
    digest = sha256_digest(data)
    response = client.post(f"/v2/{REPO}/blobs/uploads/?digest={digest}", data=data, headers=OCTET)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v2/{REPO}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    assert client.get_blob(REPO, digest).content == data


def test_chunked_upload_reports_range_and_completes_with_empty_put(wharf):
    client = wharf.client
    data = os.urandom(3 * 65536 + 17)
    digest = sha256_digest(data)
    location, _ = open_session(client)
    chunks = [(0, 65535), (65536, 131071), (131072, len(data) - 1)]
    for start, end in chunks:
        response = client.patch(
            location,
            data=data[start : end + 1],
            headers={**OCTET, "Content-Range": f"{start}-{end}"},
        )
        assert response.status_code == 202, response.text
        assert response.headers["Range"] == f"0-{end}"
        assert "Docker-Upload-UUID" in response.headers
        location = client.absolute(response.headers["Location"])
        status = client.get(location)
        assert status.status_code == 204
        assert status.headers["Range"] == f"0-{end}"
        assert status.content == b""
    done = client.put(with_digest(location, digest), data=b"", headers={**OCTET, "Content-Length": "0"})
    assert done.status_code == 201, done.text
    assert done.headers["Location"] == f"/v2/{REPO}/blobs/{digest}"
    assert client.get_blob(REPO, digest).content == data


def test_final_put_may_carry_the_last_chunk(wharf):
    client = wharf.client
    data = os.urandom(2000)
    digest = sha256_digest(data)
    location, _ = open_session(client)
    first = client.patch(location, data=data[:1500], headers={**OCTET, "Content-Range": "0-1499"})
    assert first.status_code == 202
    location = client.absolute(first.headers["Location"])
    done = client.put(
        with_digest(location, digest),
        data=data[1500:],
        headers={**OCTET, "Content-Range": "1500-1999"},
    )
    assert done.status_code == 201, done.text
    assert client.get_blob(REPO, digest).content == data


def test_out_of_order_chunk_is_416_range_invalid_and_retry_of_accepted_chunk_too(wharf):
    client = wharf.client
    data = os.urandom(200)
    location, _ = open_session(client)
    skipped = client.patch(location, data=data[100:], headers={**OCTET, "Content-Range": "100-199"})
    assert_error(skipped, 416, "RANGE_INVALID")
    first = client.patch(location, data=data[:100], headers={**OCTET, "Content-Range": "0-99"})
    assert first.status_code == 202
    assert first.headers["Range"] == "0-99"
    location = client.absolute(first.headers["Location"])
    again = client.patch(location, data=data[:100], headers={**OCTET, "Content-Range": "0-99"})
    assert_error(again, 416, "RANGE_INVALID")
    # the session survives and finishes with the right bytes
    rest = client.patch(location, data=data[100:], headers={**OCTET, "Content-Range": "100-199"})
    assert rest.status_code == 202
    location = client.absolute(rest.headers["Location"])
    done = client.put(with_digest(location, sha256_digest(data)), data=b"")
    assert done.status_code == 201, done.text


def test_streamed_patch_without_content_range_is_accepted(wharf):
    client = wharf.client
    data = os.urandom(100_001)
    digest = sha256_digest(data)
    location, _ = open_session(client)
    streamed = client.patch(location, data=iter([data[:50_000], data[50_000:]]), headers=OCTET)
    assert streamed.status_code == 202, streamed.text
    assert streamed.headers["Range"] == f"0-{len(data) - 1}"
    location = client.absolute(streamed.headers["Location"])
    done = client.put(with_digest(location, digest), data=b"")
    assert done.status_code == 201, done.text
    assert client.get_blob(REPO, digest).content == data


def test_delete_session_answers_204_then_session_is_unknown(wharf):
    client = wharf.client
    location, _ = open_session(client)
    patched = client.patch(location, data=b"partial", headers={**OCTET, "Content-Range": "0-6"})
    assert patched.status_code == 202, patched.text
    location = client.absolute(patched.headers["Location"])
    cancelled = client.delete(location)
    assert cancelled.status_code == 204, cancelled.text
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.put(with_digest(location, sha256_digest(b"partial")), data=b""), 404, "BLOB_UPLOAD_UNKNOWN")


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
@pytest.mark.parametrize("upload_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_or_invalid_upload_id_is_404_blob_upload_unknown(wharf, method, upload_id):
    path = f"/v2/{REPO}/blobs/uploads/{upload_id}"
    if method == "PUT":
        path += "?digest=" + sha256_digest(b"x")
    response = wharf.client.request(method, path, data=b"x" if method in ("PATCH", "PUT") else None)
    assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_id_with_encoded_path_traversal_is_rejected(wharf):
    response = wharf.client.get(f"/v2/{REPO}/blobs/uploads/..%2F..%2F..%2Fblobs")
    assert response.status_code in (400, 404), response.text
    assert error_codes(response), response.text


def test_session_of_one_repository_is_unknown_in_another(wharf):
    client = wharf.client
    _, opened = open_session(client)
    upload_id = opened.headers["Docker-Upload-UUID"]
    assert_error(client.get(f"/v2/team/elsewhere/blobs/uploads/{upload_id}"), 404, "BLOB_UPLOAD_UNKNOWN")


def test_put_with_wrong_digest_is_400_digest_invalid_and_stores_nothing(wharf):
    client = wharf.client
    data = os.urandom(5000)
    claimed = sha256_digest(b"something else")
    location, _ = open_session(client)
    response = client.put(with_digest(location, claimed), data=data, headers=OCTET)
    assert_error(response, 400, "DIGEST_INVALID")
    assert_error(client.get_blob(REPO, claimed), 404, "BLOB_UNKNOWN")
    assert_error(client.get_blob(REPO, sha256_digest(data)), 404, "BLOB_UNKNOWN")
    assert not blob_path(wharf.root, claimed).exists()
    assert not blob_path(wharf.root, sha256_digest(data)).exists()


def test_put_without_digest_is_400_digest_invalid(wharf):
    client = wharf.client
    location, _ = open_session(client)
    response = client.put(location, data=b"abc", headers=OCTET)
    assert_error(response, 400, "DIGEST_INVALID")


def test_put_with_malformed_digest_is_400_digest_invalid(wharf):
    client = wharf.client
    location, _ = open_session(client)
    response = client.put(with_digest(location, "sha256:zz"), data=b"abc", headers=OCTET)
    assert_error(response, 400, "DIGEST_INVALID")


def test_upload_to_invalid_repository_name_is_400_name_invalid(wharf):
    assert_error(wharf.client.start_upload("Not_Valid"), 400, "NAME_INVALID")


def test_mount_from_repository_holding_blob_answers_201_with_blob_location(wharf):
    client = wharf.client
    data = os.urandom(1234)
    digest = client.push_blob("team/source", data)
    response = client.post(f"/v2/{REPO}/blobs/uploads/?mount={digest}&from=team/source")
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v2/{REPO}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    mounted = client.get_blob(REPO, digest)
    assert mounted.status_code == 200 and mounted.content == data


def test_mount_from_repository_lacking_blob_falls_back_to_upload_session(wharf):
    client = wharf.client
    data = os.urandom(64)
    digest = client.push_blob("team/holder", data)
    response = client.post(f"/v2/{REPO}/blobs/uploads/?mount={digest}&from=team/empty")
    assert response.status_code == 202, response.text
    assert response.headers["Location"].startswith(f"/v2/{REPO}/blobs/uploads/")
    assert_error(client.get_blob(REPO, digest), 404, "BLOB_UNKNOWN")
    # the session it opened is usable
    location = client.absolute(response.headers["Location"])
    done = client.put(with_digest(location, digest), data=data, headers=OCTET)
    assert done.status_code == 201, done.text


def test_mount_of_unknown_blob_opens_session(wharf):
    missing = sha256_digest(os.urandom(16))
    response = wharf.client.post(f"/v2/{REPO}/blobs/uploads/?mount={missing}&from=team/source")
    assert response.status_code == 202
    assert response.headers["Location"].startswith(f"/v2/{REPO}/blobs/uploads/")


def test_mount_without_from_answers_202_session(wharf):
    client = wharf.client
    digest = client.push_blob("team/source", b"mount me")
    response = client.post(f"/v2/{REPO}/blobs/uploads/?mount={digest}")
    assert response.status_code == 202, response.text
    assert response.headers["Location"].startswith(f"/v2/{REPO}/blobs/uploads/")


def test_concurrent_uploads_of_same_content_to_several_repositories_all_succeed(wharf):
    data = os.urandom(256 * 1024)
    digest = sha256_digest(data)

    def push(index):
        return Registry(wharf.base).push_blob(f"team/concurrent{index % 4}", data)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(push, range(16)))
    assert results == [digest] * 16
    for index in range(4):
        fetched = wharf.client.get_blob(f"team/concurrent{index}", digest)
        assert fetched.status_code == 200 and fetched.content == data
    assert blob_path(wharf.root, digest).read_bytes() == data


def test_expect_100_continue_is_answered_before_the_body_is_sent(wharf):
    """RFC 9110 10.1.1: the server MUST answer a 100-continue expectation at once,
    with 100 (Continue) or a final status. curl 7.88 sends it for PUT bodies over
    1 KiB and otherwise waits a whole second before sending the body."""
    client = wharf.client
    location, _ = open_session(client)
    path = urlsplit(location).path + ("?" + urlsplit(location).query if urlsplit(location).query else "")
    data = os.urandom(4096)
    digest = sha256_digest(data)
    head = (
        f"PUT {with_digest(path, digest)} HTTP/1.1\r\nHost: {wharf.host}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", wharf.port), timeout=5) as conn:
        conn.sendall(head)
        conn.settimeout(0.8)
        try:
            interim = conn.recv(4096)
        except socket.timeout:
            interim = b""
        conn.settimeout(5)
        conn.sendall(data)
        received = b""
        while b"HTTP/1.1 201" not in interim + received:
            chunk = conn.recv(4096)
            if not chunk:
                break
            received += chunk
    assert interim.startswith(b"HTTP/1.1 100"), f"no 100 Continue within 0.8 s (got {interim[:60]!r})"
    statuses = [line for line in (interim + received).split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
    assert statuses[-1].startswith(b"HTTP/1.1 201"), statuses
    assert client.get_blob(REPO, digest).content == data


def test_completed_session_cannot_be_reused(wharf):
    client = wharf.client
    data = b"once only"
    location, _ = open_session(client)
    assert client.put(with_digest(location, sha256_digest(data)), data=data, headers=OCTET).status_code == 201
    again = client.put(with_digest(location, sha256_digest(data)), data=data, headers=OCTET)
    assert_error(again, 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
