"""Wharf as the origin of a CloudFront-style CDN (Distribution's `cloudfront` storage
middleware: blob GET/HEAD answer 307 to a signed URL) and as the edge that verifies those
URLs, fills its store from the origin once per blob and serves from it afterwards.

Origin and edge are two Wharf processes on loopback ports; the origin signs URLs under the
edge's address, the edge trusts the origin's public key (key-pair id KTEST).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from cdn_support import (
    FETCHED,
    KEY_PAIR_ID,
    REDIRECTED,
    canned_policy,
    cloudfront_b64decode,
    custom_policy,
    edge_config,
    edge_url,
    iso8601,
    logged_digests,
    mint_key_pair,
    origin_config,
    param,
    refusal_reasons,
    sign_url,
    signed_location_pattern,
    split_signed,
    wait_for_digests,
    with_param,
)
from conftest import PortInUse, free_port, require_tool, wharf_binary
from mirror_support import yaml_text
from registry_client import DOCKER_LIST, OCI_INDEX, blob_path, error_codes, sha256_digest

DURATION_SECONDS = 300  # the origin's `duration: 5m`
BAD_SIGNATURE = ("the signature does not match this URL (it was changed after signing, "
                 "or signed with another key or hash); ask the registry for a fresh redirect")


@dataclass
class Keys:
    private: Path
    public: Path
    other_private: Path  # a second key pair, never configured anywhere
    other_public: Path


@dataclass
class CDN:
    origin: object  # conftest.ServerProcess
    edge: object | None  # None when started with edge=False
    keys: Keys
    edge_port: int  # what the origin's baseurl names, whether or not an edge runs there


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Keys:
    require_tool("openssl")
    directory = tmp_path_factory.mktemp("cdn-keys")
    private, public = mint_key_pair(directory, "ktest")
    other_private, other_public = mint_key_pair(directory, "other")
    return Keys(private, public, other_private, other_public)


@pytest.fixture
def cdn_factory(wharf_factory, keys, tmp_path):
    """start(*, edge=True, redirect_disabled=False, options=None) -> CDN with an origin whose
    cloudfront middleware signs for the edge's address, and (unless edge=False) that edge."""

    def start(*, edge=True, redirect_disabled=False, options=None) -> CDN:
        for attempt in range(3):
            origin_port, edge_port = free_port(), free_port()
            if origin_port == edge_port:
                continue
            try:
                origin = wharf_factory(
                    tmp_path / f"origin-{attempt}",
                    port=origin_port,
                    config_text=yaml_text(origin_config(
                        tmp_path / f"origin-{attempt}", origin_port, edge_port, keys.private,
                        redirect_disabled=redirect_disabled, options=options)),
                )
                edge_server = None
                if edge:
                    edge_server = wharf_factory(
                        tmp_path / f"edge-{attempt}",
                        port=edge_port,
                        config_text=yaml_text(edge_config(tmp_path / f"edge-{attempt}", edge_port, origin_port, keys.public)),
                    )
                return CDN(origin, edge_server, keys, edge_port)
            except PortInUse:
                if attempt == 2:
                    raise
        raise RuntimeError("no two distinct free ports")

    return start


@pytest.fixture
def cdn(cdn_factory) -> CDN:
    return cdn_factory()


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only, never an environment proxy
    return session


def assert_denied(response: requests.Response, message: str):
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"errors": [{"code": "DENIED", "message": message}]}, response.text


# -- 1. skopeo through origin and edge ----------------------------------------


def dir_layout_files(image) -> dict[str, bytes]:
    """What `skopeo copy --all ... dir:` writes for `image`: the top manifest as manifest.json,
    each child as <hex>.manifest.json, each blob as <hex> (plus the `version` file)."""
    files = {"manifest.json": image.body}
    for child in image.children:
        files[child.digest.split(":", 1)[1] + ".manifest.json"] = child.body
    for digest, body in image.all_blobs().items():
        files[digest.split(":", 1)[1]] = body
    return files


def assert_dir_layout(out: Path, image):
    expected = dir_layout_files(image)
    written = {p.name for p in out.iterdir()}
    assert written == set(expected) | {"version"}
    for name, body in expected.items():
        data = (out / name).read_bytes()
        assert data == body, f"{name} differs"
        if name != "manifest.json":
            assert sha256_digest(data).split(":", 1)[1] == name.split(".", 1)[0]
    assert sha256_digest((out / "manifest.json").read_bytes()) == image.digest


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-manifest-list"])
def test_skopeo_copies_through_origin_redirects_and_edge_fills_once(cdn, skopeo, docker, tmp_path):
    origin, edge = cdn.origin, cdn.edge
    image = origin.client.push_multiarch("lib/app", "v1", docker=docker)
    assert image.media_type == (DOCKER_LIST if docker else OCI_INDEX)
    blobs = image.all_blobs()
    assert len(blobs) == 6  # two platforms, each a config and two layers

    out = tmp_path / "out"
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{origin.host}/lib/app:v1", f"dir:{out}")
    assert_dir_layout(out, image)

    # every blob skopeo fetched went through a redirect; no manifest was redirected
    redirected = logged_digests(origin.log_text(), REDIRECTED)
    assert set(redirected) == set(blobs), (sorted(redirected), sorted(blobs))
    # the edge fetched each blob exactly once from the origin and keeps it
    fetched = wait_for_digests(edge, FETCHED, len(blobs))
    assert Counter(fetched) == Counter({digest: 1 for digest in blobs}), fetched
    for digest, body in blobs.items():
        assert blob_path(edge.root, digest).read_bytes() == body, digest
    assert refusal_reasons(edge.log_text()) == []

    # a second copy is redirected again and served from the edge's store: no new fetch
    redirects_before = len(redirected)
    out_again = tmp_path / "out-again"
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{origin.host}/lib/app:v1", f"dir:{out_again}")
    assert_dir_layout(out_again, image)
    redirected_again = wait_for_digests(origin, REDIRECTED, redirects_before + len(blobs))
    assert set(redirected_again[redirects_before:]) == set(blobs)
    time.sleep(1.0)  # a fill would log within moments of its response
    assert logged_digests(edge.log_text(), FETCHED) == fetched


# -- 2. the edge refuses what it must, accepts what it may -----------------------


def _expired(cdn, url, other_url):
    signed = sign_url(cdn.keys.private, url, expires_in=1)
    expires = int(param(signed, "Expires"))
    deadline = time.monotonic() + 5
    while time.time() < expires + 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert time.time() >= expires + 1
    return signed, "expired", f"the signed URL expired at {iso8601(expires)} ({expires}); ask the registry for a fresh redirect"


def _tampered_path(cdn, url, other_url):
    signed = sign_url(cdn.keys.private, other_url)
    # the Expires, Signature and Key-Pair-Id of another blob's URL on this blob's path
    assert signed.startswith(other_url + "?")
    return url + signed[len(other_url):], "badSignature", BAD_SIGNATURE


def _tampered_expires(cdn, url, other_url):
    signed = sign_url(cdn.keys.private, url, expires_in=60)
    later = str(int(param(signed, "Expires")) + 3600)
    return with_param(signed, "Expires", later), "badSignature", BAD_SIGNATURE


def _other_key_same_id(cdn, url, other_url):
    return sign_url(cdn.keys.other_private, url), "badSignature", BAD_SIGNATURE


def _unknown_key_pair_id(cdn, url, other_url):
    signed = sign_url(cdn.keys.private, url, key_pair_id="KUNKNOWN")
    return signed, "unknownKey", ('Key-Pair-Id "KUNKNOWN" is not a key this edge trusts; '
                                  "add its public key under cdn.edge.keys or sign with a trusted key")


def _other_client_ip(cdn, url, other_url):
    signed = sign_url(cdn.keys.private, url, client_ip="192.0.2.0/24")
    return signed, "ipNotAllowed", ('the signed URL is valid only from 192.0.2.0/24, and this request comes from '
                                    '"127.0.0.1"; fetch it from that network or ask for a new URL')


def _not_yet_valid(cdn, url, other_url):
    signed = sign_url(cdn.keys.private, url, not_before=3600)
    not_before = custom_policy(signed)["Statement"][0]["Condition"]["DateGreaterThan"]["AWS:EpochTime"]
    assert abs(not_before - (time.time() + 3600)) < 30
    return signed, "notYetValid", (f"the signed URL is not valid before {iso8601(not_before)} ({not_before}); "
                                   "retry then, or check this edge's clock")


REFUSALS = {
    "expired": _expired,
    "tampered-path": _tampered_path,
    "tampered-expires": _tampered_expires,
    "other-key-same-id": _other_key_same_id,
    "unknown-key-pair-id": _unknown_key_pair_id,
    "client-ip-elsewhere": _other_client_ip,
    "not-before-in-an-hour": _not_yet_valid,
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_edge_refuses_bad_signed_urls_with_denied_and_the_reason(cdn, case):
    image = cdn.origin.client.push_image("lib/app", "v1")
    layer, other_layer = list(image.blobs)[:2]  # both layers; the origin holds both
    url, other_url = edge_url(cdn.edge_port, layer), edge_url(cdn.edge_port, other_layer)
    signed, reason, message = REFUSALS[case](cdn, url, other_url)
    assert signed.startswith(url + "?"), signed

    session = http()
    response = session.get(signed, timeout=30, allow_redirects=False)
    assert_denied(response, message)
    assert error_codes(response) == ["DENIED"]
    head = session.head(signed, timeout=30, allow_redirects=False)
    assert head.status_code == 403
    assert head.content == b""

    assert refusal_reasons(cdn.edge.log_text()) == [reason, reason]
    assert logged_digests(cdn.edge.log_text(), FETCHED) == []
    assert not blob_path(cdn.edge.root, layer).exists()
    assert not blob_path(cdn.edge.root, other_layer).exists()


@pytest.mark.parametrize(
    "how",
    [
        {"client_ip": "127.0.0.0/8"},
        {"hash_algorithm": "sha256"},
        {"hash_algorithm": "sha256", "client_ip": "127.0.0.1/32", "not_before": -30},
    ],
    ids=["custom-policy-client-ip-127/8", "canned-sha256", "custom-policy-sha256"],
)
def test_edge_serves_valid_custom_policy_and_sha256_urls(cdn, how):
    image = cdn.origin.client.push_image("lib/app", "v1")
    digest = next(iter(image.blobs))
    body = image.blobs[digest]
    signed = sign_url(cdn.keys.private, edge_url(cdn.edge_port, digest), **how)
    names = [name for name, _ in split_signed(signed)[1]]
    custom = "client_ip" in how or "not_before" in how
    expected_names = ["Policy" if custom else "Expires", "Signature", "Key-Pair-Id"]
    if how.get("hash_algorithm") == "sha256":
        expected_names.append("Hash-Algorithm")
        assert param(signed, "Hash-Algorithm") == "SHA256"
    assert names == expected_names
    if "client_ip" in how:
        assert custom_policy(signed)["Statement"][0]["Condition"]["IpAddress"] == {"AWS:SourceIp": how["client_ip"]}

    session = http()
    head = session.head(signed, timeout=30, allow_redirects=False)
    assert head.status_code == 200, head.text
    assert head.headers["Docker-Content-Digest"] == digest
    response = session.get(signed, timeout=30, allow_redirects=False)
    assert response.status_code == 200, response.text
    assert response.content == body
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Content-Length"] == str(len(body))
    again = session.get(signed, timeout=30, allow_redirects=False)
    assert again.status_code == 200 and again.content == body

    assert wait_for_digests(cdn.edge, FETCHED, 1) == [digest]
    time.sleep(0.5)
    assert logged_digests(cdn.edge.log_text(), FETCHED) == [digest]
    assert blob_path(cdn.edge.root, digest).read_bytes() == body
    assert refusal_reasons(cdn.edge.log_text()) == []


# -- 3. storage.redirect.disable -------------------------------------------------


def test_redirect_disable_serves_blobs_from_the_origin(cdn_factory):
    cdn = cdn_factory(edge=False, redirect_disabled=True)
    client = cdn.origin.client
    image = client.push_image("lib/app", "v1")
    for digest, body in image.blobs.items():
        response = client.get_blob("lib/app", digest)
        assert response.status_code == 200, (digest, response.status_code, response.headers)
        assert "Location" not in response.headers
        assert response.content == body
        assert response.headers["Docker-Content-Digest"] == digest
        head = client.head(f"/v2/lib/app/blobs/{digest}")
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(body))
        assert "Location" not in head.headers
    assert logged_digests(cdn.origin.log_text(), REDIRECTED) == []


# -- 4. sign-url output checked with openssl ---------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/docker/registry/v2/blobs/sha256/ab/" + "ab" * 32 + "/data",
        "https://cdn.example/lib/app/data?x-user=1&b=two",
    ],
    ids=["plain", "own-query"],
)
def test_sign_url_verifies_with_openssl(keys, tmp_path, algorithm, url):
    if not wharf_binary().exists():
        pytest.skip(f"Wharf binary not found at {wharf_binary()}")
    before = int(time.time())
    signed = sign_url(keys.private, url, expires_in=600, hash_algorithm=None if algorithm == "sha1" else algorithm)
    after = int(time.time())

    separator = "&" if "?" in url else "?"
    assert signed.startswith(url + separator + "Expires="), signed
    tail = signed[len(url) + 1:].split("&")
    names = [item.partition("=")[0] for item in tail]
    assert names == ["Expires", "Signature", "Key-Pair-Id"] + (["Hash-Algorithm"] if algorithm == "sha256" else [])
    values = {item.partition("=")[0]: item.partition("=")[2] for item in tail}
    assert values["Key-Pair-Id"] == KEY_PAIR_ID
    if algorithm == "sha256":
        assert values["Hash-Algorithm"] == "SHA256"
    expires = int(values["Expires"])
    assert before + 600 <= expires <= after + 600
    assert set(values["Signature"]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~")

    policy = tmp_path / "policy.json"
    policy.write_bytes(canned_policy(url, expires))
    signature = tmp_path / "signature.bin"
    signature.write_bytes(cloudfront_b64decode(values["Signature"]))
    assert len(signature.read_bytes()) == 256  # a 2048-bit RSA signature

    def openssl_verify(public_key: Path, digest_name: str):
        return subprocess.run(
            ["openssl", "dgst", f"-{digest_name}", "-verify", str(public_key), "-signature", str(signature), str(policy)],
            capture_output=True, text=True, timeout=60,
        )

    good = openssl_verify(keys.public, algorithm)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.strip() == "Verified OK"
    # and it is that key, that hash and that policy, not anything else
    wrong_key = openssl_verify(keys.other_public, algorithm)
    assert wrong_key.returncode != 0 and "Verification failure" in wrong_key.stdout + wrong_key.stderr
    wrong_hash = openssl_verify(keys.public, "sha256" if algorithm == "sha1" else "sha1")
    assert wrong_hash.returncode != 0
    policy.write_bytes(canned_policy(url, expires + 1))
    wrong_policy = openssl_verify(keys.public, algorithm)
    assert wrong_policy.returncode != 0


# -- 5. HEAD redirects too; manifests never do ---------------------------------------


def test_origin_head_redirects_blobs_and_never_manifests(cdn):
    origin = cdn.origin
    client = origin.client
    image = client.push_image("lib/app", "v1")
    digest, body = next(iter(image.blobs.items()))

    before = int(time.time())
    head = client.head(f"/v2/lib/app/blobs/{digest}")
    after = int(time.time())
    assert head.status_code == 307, (head.status_code, head.headers)
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.content == b""
    match = signed_location_pattern(cdn.edge_port, digest).match(head.headers["Location"])
    assert match is not None, head.headers["Location"]
    expires = int(match.group(1))
    assert before + DURATION_SECONDS <= expires <= after + DURATION_SECONDS
    assert logged_digests(origin.log_text(), REDIRECTED) == [digest]

    get = client.get_blob("lib/app", digest)
    assert get.status_code == 307
    assert get.headers["Docker-Content-Digest"] == digest
    assert signed_location_pattern(cdn.edge_port, digest).match(get.headers["Location"])
    assert logged_digests(origin.log_text(), REDIRECTED) == [digest, digest]

    # the Location works at the edge
    served = http().get(head.headers["Location"], timeout=30, allow_redirects=False)
    assert served.status_code == 200, served.text
    assert served.content == body

    # manifests: 200 with the pushed bytes, by tag and by digest, GET and HEAD
    for reference in ("v1", image.digest):
        response = client.get_manifest("lib/app", reference)
        assert response.status_code == 200, (reference, response.status_code, response.headers)
        assert "Location" not in response.headers
        assert response.content == image.body
        assert response.headers["Docker-Content-Digest"] == image.digest
        manifest_head = client.head(f"/v2/lib/app/manifests/{reference}", headers={"Accept": image.media_type})
        assert manifest_head.status_code == 200
        assert "Location" not in manifest_head.headers
        assert manifest_head.headers["Content-Length"] == str(len(image.body))
    assert logged_digests(origin.log_text(), REDIRECTED) == [digest, digest]


def test_origin_custom_policy_redirect_pinned_to_client_verifies_at_the_edge(cdn_factory):
    """Wharf's additions: hashalgorithm sha256, clientipcondition, notbefore."""
    cdn = cdn_factory(options={"hashalgorithm": "sha256", "clientipcondition": True, "notbefore": "-30s"})
    client = cdn.origin.client
    image = client.push_image("lib/app", "v1")
    digest, body = next(iter(image.blobs.items()))
    now = int(time.time())
    response = client.get_blob("lib/app", digest)
    assert response.status_code == 307, (response.status_code, response.text)
    location = response.headers["Location"]
    assert location.startswith(edge_url(cdn.edge_port, digest) + "?Policy="), location
    assert [name for name, _ in split_signed(location)[1]] == ["Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"]
    assert param(location, "Hash-Algorithm") == "SHA256"
    statement = custom_policy(location)["Statement"]
    assert len(statement) == 1
    assert statement[0]["Resource"] == edge_url(cdn.edge_port, digest)
    condition = statement[0]["Condition"]
    assert condition["IpAddress"] == {"AWS:SourceIp": "127.0.0.1/32"}
    assert abs(condition["DateGreaterThan"]["AWS:EpochTime"] - (now - 30)) <= 2
    assert abs(condition["DateLessThan"]["AWS:EpochTime"] - (now + DURATION_SECONDS)) <= 2

    served = http().get(location, timeout=30, allow_redirects=False)
    assert served.status_code == 200, served.text
    assert served.content == body
    assert wait_for_digests(cdn.edge, FETCHED, 1) == [digest]
