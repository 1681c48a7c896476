"""Tag listing, catalog and referrers (OCI Distribution v1.1.1 end-8a/8b,
end-12a/12b; Docker Registry API V2 catalog)."""

import json
import os
from urllib.parse import unquote

import pytest

from registry_client import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    error_codes,
    sha256_digest,
)

REPO = "org/tools"


def assert_error(response, status, code):
    assert response.status_code == status, f"HTTP {response.status_code}, expected {status}: {response.text[:300]!r}"
    assert code in error_codes(response), f"expected {code} in {response.text!r}"


@pytest.fixture
def tagged(wharf):
    """REPO with tags pushed in non-sorted order; returns (client, sorted tags)."""
    client = wharf.client
    image = client.push_image(REPO, "b")
    tags = ["v2", "a", "v10", "latest", "1.0", "B"]
    for tag in tags:
        client.push_manifest_ok(REPO, tag, image.body, OCI_MANIFEST)
    return client, sorted(tags + ["b"])


# -- tags ----------------------------------------------------------------------


def test_tags_list_is_sorted_and_names_repository(tagged):
    client, tags = tagged
    response = client.get(f"/v2/{REPO}/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": REPO, "tags": tags}
    assert "Link" not in response.headers


def test_tags_pagination_follows_link_headers_to_the_end(tagged):
    client, tags = tagged
    response = client.get(f"/v2/{REPO}/tags/list?n=2")
    assert response.status_code == 200
    assert response.json() == {"name": REPO, "tags": tags[:2]}
    assert response.headers["Link"] == f'</v2/{REPO}/tags/list?last={tags[1]}&n=2>; rel="next"'
    seen = list(response.json()["tags"])
    pages = 1
    while "Link" in response.headers and pages < 20:
        link = response.headers["Link"]
        target = link[link.index("<") + 1 : link.index(">")]
        response = client.get(target)
        assert response.status_code == 200
        page = response.json()["tags"]
        assert 0 < len(page) <= 2
        seen.extend(page)
        pages += 1
    assert seen == tags
    assert pages == (len(tags) + 1) // 2


def test_tags_last_starts_strictly_after_the_given_tag(tagged):
    client, tags = tagged
    response = client.get(f"/v2/{REPO}/tags/list?n=2&last={tags[2]}")
    assert response.json()["tags"] == tags[3:5]
    without_n = client.get(f"/v2/{REPO}/tags/list?last={tags[2]}")
    assert without_n.json()["tags"] == tags[3:]
    past_end = client.get(f"/v2/{REPO}/tags/list?last=zzz")
    assert past_end.status_code == 200
    assert past_end.json()["tags"] == []


def test_tags_n_larger_than_count_returns_all_without_link(tagged):
    client, tags = tagged
    response = client.get(f"/v2/{REPO}/tags/list?n=100")
    assert response.json()["tags"] == tags
    assert "Link" not in response.headers


def test_tags_n_equal_to_remaining_has_no_dangling_page(tagged):
    client, tags = tagged
    response = client.get(f"/v2/{REPO}/tags/list?n={len(tags)}")
    assert response.json()["tags"] == tags
    if "Link" in response.headers:  # allowed, but the next page must then be empty
        link = response.headers["Link"]
        assert client.get(link[link.index("<") + 1 : link.index(">")]).json()["tags"] == []


def test_tags_n_zero_returns_empty_list_and_no_link(tagged):
    client, _ = tagged
    response = client.get(f"/v2/{REPO}/tags/list?n=0")
    assert response.status_code == 200
    assert response.json() == {"name": REPO, "tags": []}
    assert "Link" not in response.headers


def test_tags_of_unknown_repository_is_404_name_unknown(wharf):
    assert_error(wharf.client.get("/v2/org/nothing/tags/list"), 404, "NAME_UNKNOWN")


@pytest.mark.parametrize("n", ["-1", "abc", "1.5"])
def test_tags_bad_n_is_400_pagination_number_invalid(tagged, n):
    client, _ = tagged
    assert_error(client.get(f"/v2/{REPO}/tags/list?n={n}"), 400, "PAGINATION_NUMBER_INVALID")


# -- catalog -------------------------------------------------------------------


@pytest.fixture
def catalog(wharf):
    client = wharf.client
    repos = ["zeta", "alpha/one", "alpha/two", "mid/deep/nested", "beta"]
    for repo in repos:
        client.push_image(repo, "v1", layers=1)
    return client, sorted(repos)


def test_catalog_lists_every_repository_sorted(catalog):
    client, repos = catalog
    response = client.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.json() == {"repositories": repos}


def test_catalog_pagination_follows_links(catalog):
    client, repos = catalog
    response = client.get("/v2/_catalog?n=2")
    assert response.json() == {"repositories": repos[:2]}
    # the repository name in `last` may be percent-encoded (a/b -> a%2Fb)
    assert unquote(response.headers["Link"]) == f'</v2/_catalog?last={repos[1]}&n=2>; rel="next"'
    seen = list(repos[:2])
    for _ in range(10):
        if "Link" not in response.headers:
            break
        link = response.headers["Link"]
        response = client.get(link[link.index("<") + 1 : link.index(">")])
        assert response.status_code == 200
        seen.extend(response.json()["repositories"])
    assert seen == repos
    assert "Link" not in response.headers


def test_catalog_last_and_n_zero(catalog):
    client, repos = catalog
    assert client.get(f"/v2/_catalog?last={repos[1]}").json()["repositories"] == repos[2:]
    zero = client.get("/v2/_catalog?n=0")
    assert zero.status_code == 200
    assert zero.json() == {"repositories": []}
    assert "Link" not in zero.headers


def test_catalog_of_empty_registry_is_empty_list(wharf):
    response = wharf.client.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.json() == {"repositories": []}


@pytest.mark.parametrize("n", ["-1", "abc"])
def test_catalog_bad_n_is_400_pagination_number_invalid(catalog, n):
    client, _ = catalog
    assert_error(client.get(f"/v2/_catalog?n={n}"), 400, "PAGINATION_NUMBER_INVALID")


# -- referrers -----------------------------------------------------------------


def push_referrer(client, repo, subject, *, artifact_type=None, config_type=None, annotations=None):
    """An artifact manifest pointing at `subject` (a PushedImage)."""
    client.push_blob(repo, EMPTY_JSON)
    payload = os.urandom(64)
    client.push_blob(repo, payload)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type or OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": sha256_digest(payload), "size": 64}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": len(subject.body)},
    }
    if artifact_type:
        manifest["artifactType"] = artifact_type
    if annotations:
        manifest["annotations"] = annotations
    body = json.dumps(manifest).encode()
    response = client.push_manifest(repo, sha256_digest(body), body, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    assert response.headers["OCI-Subject"] == subject.digest
    return body


def expected_descriptor(body, artifact_type, annotations):
    entry = {"mediaType": OCI_MANIFEST, "digest": sha256_digest(body), "size": len(body)}
    if artifact_type:
        entry["artifactType"] = artifact_type
    if annotations:
        entry["annotations"] = annotations
    return entry


def by_digest(entries):
    return {entry["digest"]: entry for entry in entries}


@pytest.fixture
def referred(wharf):
    client = wharf.client
    subject = client.push_image(REPO, "app")
    sbom = push_referrer(
        client, REPO, subject, artifact_type="application/vnd.example.sbom",
        annotations={"org.example.kind": "sbom"},
    )
    sig = push_referrer(
        client, REPO, subject, artifact_type="application/vnd.example.signature",
        annotations={"org.example.kind": "sig"},
    )
    # no artifactType: the descriptor's artifactType is the config media type
    legacy = push_referrer(
        client, REPO, subject, config_type="application/vnd.example.legacy.config",
        annotations={"org.example.kind": "legacy"},
    )
    expected = {
        sha256_digest(sbom): expected_descriptor(sbom, "application/vnd.example.sbom", {"org.example.kind": "sbom"}),
        sha256_digest(sig): expected_descriptor(sig, "application/vnd.example.signature", {"org.example.kind": "sig"}),
        sha256_digest(legacy): expected_descriptor(
            legacy, "application/vnd.example.legacy.config", {"org.example.kind": "legacy"}
        ),
    }
    return client, subject, expected


def test_referrers_lists_descriptors_of_manifests_with_that_subject(referred):
    client, subject, expected = referred
    response = client.get(f"/v2/{REPO}/referrers/{subject.digest}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == OCI_INDEX
    index = response.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    assert len(index["manifests"]) == 3
    assert by_digest(index["manifests"]) == expected


def test_referrers_filter_by_artifact_type_sets_filters_applied(referred):
    client, subject, expected = referred
    response = client.get(
        f"/v2/{REPO}/referrers/{subject.digest}?artifactType=application/vnd.example.signature"
    )
    assert response.status_code == 200
    assert response.headers["OCI-Filters-Applied"] == "artifactType"
    manifests = response.json()["manifests"]
    assert [m["artifactType"] for m in manifests] == ["application/vnd.example.signature"]
    assert by_digest(manifests) == {
        d: e for d, e in expected.items() if e["artifactType"] == "application/vnd.example.signature"
    }


def test_referrers_without_filter_has_no_filters_applied_header(referred):
    client, subject, _ = referred
    response = client.get(f"/v2/{REPO}/referrers/{subject.digest}")
    assert "OCI-Filters-Applied" not in response.headers


def test_referrers_of_unknown_digest_is_200_empty_index(referred):
    client, _, _ = referred
    response = client.get(f"/v2/{REPO}/referrers/{sha256_digest(b'nobody points here')}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == OCI_INDEX
    assert response.json()["manifests"] == []


def test_referrers_in_another_repository_are_not_listed(referred):
    client, subject, _ = referred
    response = client.get(f"/v2/org/unrelated/referrers/{subject.digest}")
    assert response.status_code == 200
    assert response.json()["manifests"] == []


def test_referrers_with_bad_digest_is_400(referred):
    client, _, _ = referred
    response = client.get(f"/v2/{REPO}/referrers/sha256:nothex")
    assert response.status_code == 400
    assert "DIGEST_INVALID" in error_codes(response)


def test_referrer_to_missing_subject_is_still_listed(wharf):
    client = wharf.client
    client.push_image(REPO, "base")  # makes the repository exist
    ghost = client.push_image("org/ghosts", None)  # only its digest matters here
    body = push_referrer(client, REPO, ghost, artifact_type="application/vnd.example.note")
    response = client.get(f"/v2/{REPO}/referrers/{ghost.digest}")
    assert response.status_code == 200
    assert [m["digest"] for m in response.json()["manifests"]] == [sha256_digest(body)]


def test_deleted_referrer_is_no_longer_listed(referred):
    client, subject, expected = referred
    gone = next(iter(expected))
    assert client.delete(f"/v2/{REPO}/manifests/{gone}").status_code == 202
    manifests = client.get(f"/v2/{REPO}/referrers/{subject.digest}").json()["manifests"]
    assert gone not in by_digest(manifests)
    assert len(manifests) == 2


def test_referrer_index_without_artifact_type_is_listed_without_one(wharf):
    client = wharf.client
    subject = client.push_image(REPO, "app")
    child = client.push_image(REPO, None)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child.digest, "size": len(child.body)}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest, "size": len(subject.body)},
        "annotations": {"org.example.note": "index"},
    }
    body = json.dumps(index).encode()
    response = client.push_manifest(REPO, "an-index", body, OCI_INDEX)
    assert response.status_code == 201, response.text
    assert response.headers["OCI-Subject"] == subject.digest
    listed = client.get(f"/v2/{REPO}/referrers/{subject.digest}").json()["manifests"]
    assert listed == [
        {"mediaType": OCI_INDEX, "digest": sha256_digest(body), "size": len(body),
         "annotations": {"org.example.note": "index"}}
    ]
