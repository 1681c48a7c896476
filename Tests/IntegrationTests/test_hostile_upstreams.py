"""Hostile upstreams (issue #12, items 2 and 10): Wharf is not an open door into its network, it
validates what an upstream answers before storing or serving it, follows redirects only where
they may lead, and sends upstream credentials only where they belong.

The upstreams are `hostile_support.FakeRegistry` instances on 127.0.0.1. Since every test runs
on loopback, and loopback is exactly what an unlisted registry may not reach, each fake that is
meant to be reached is listed in `mirror.upstreams`; a fake that must never be reached is left
unlisted (or blocked by the policy), and its request log must stay empty.

A legitimate blob redirect (how Docker Hub, GHCR and ECR serve blobs) is modelled by a listed
upstream whose blob answer is a 307 to a second fake, the "CDN". On loopback both speak plain
HTTP, so the upstream is listed insecure (plain-http hops allowed) and the CDN is listed too
(loopback allowed); in production the CDN is an https host on a public address and needs neither.
"""

import json
import os

import pytest

from hostile_support import FakeRegistry, blob_answer, manifest_answer, oci_manifest, redirect, sha256
from mirror_support import stored_size
from registry_client import error_codes

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


@pytest.fixture
def fakes():
    made = []

    def make(**kw):
        fake = FakeRegistry(**kw)
        made.append(fake)
        return fake

    yield make
    for fake in made:
        fake.stop()


def listed(fake, **options):
    return {"registry": fake.host, **options}


def blob_path(digest, repo="team/app"):
    return f"/v2/{repo}/blobs/{digest}"


def message(response) -> str:
    try:
        return " ".join(e.get("message", "") for e in response.json()["errors"])
    except (ValueError, KeyError):
        return response.text


def assert_denied(response, *words):
    print(f"{response.status_code} {response.text}")
    assert response.status_code == 403 and error_codes(response) == ["DENIED"], response.text
    for word in words:
        assert word in message(response), (word, response.text)


def assert_bad_gateway(response, upstream, *words):
    print(f"{response.status_code} {response.text}")
    assert response.status_code == 502, response.text
    assert f"upstream {upstream.host}" in message(response), response.text
    for word in words:
        assert word in message(response), (word, response.text)


# -- the door: allowunlisted and the address rule ---------------------------------------------

def test_allowunlisted_is_off_by_default_also_with_a_mirror_section(fakes, mirror_factory):
    upstream, unlisted = fakes(), fakes()
    body = os.urandom(4096)
    unlisted.routes[blob_path(sha256(body))] = blob_answer(body)
    wharf = mirror_factory(mirror={"upstreams": [listed(upstream)]})
    for path in (blob_path(sha256(body)) + f"?ns={unlisted.host}",
                 blob_path(sha256(body), f"{unlisted.host.replace(':', '_')}/team/app")):
        assert_denied(wharf.client.get(path), unlisted.host, "mirror.allowunlisted")
    assert unlisted.seen == [], "an unlisted registry was contacted"


def test_unlisted_registries_never_reach_loopback_even_by_name(fakes, mirror_factory):
    target, upstream = fakes(), fakes()
    manifest = oci_manifest(b"{}", [b"layer"])
    for fake in (target, upstream):
        fake.routes["/v2/team/app/manifests/v1"] = manifest_answer(manifest)
    wharf = mirror_factory(mirror={"allowunlisted": True, "upstreams": [listed(upstream)]})
    # A literal loopback address, the name `localhost` (resolved, then refused on its address),
    # and the path-prefix form.
    for ns in (target.host, f"localhost:{target.port}"):
        assert_denied(wharf.client.get_manifest("team/app", f"v1?ns={ns}"), ns, "loopback")
    assert_denied(wharf.client.get_manifest(f"localhost_{target.port}/team/app", "v1"), "loopback")
    assert target.seen == [], "an unlisted loopback registry was contacted"
    # The listed one, on the same loopback, is reached as before.
    ok = wharf.client.get_manifest("team/app", f"v1?ns={upstream.host}")
    assert ok.status_code == 200 and ok.content == manifest, ok.text


# -- redirects ---------------------------------------------------------------------------------

def test_a_redirect_to_plain_http_is_not_followed_for_an_upstream_not_listed_insecure(fakes, mirror_factory):
    upstream, cdn = fakes(), fakes()
    body = os.urandom(64 * 1024)
    path = blob_path(sha256(body))
    upstream.routes[path] = redirect(f"{cdn.base}/blob")
    cdn.routes["/blob"] = blob_answer(body)
    # The CDN is listed, so only the scheme rule can refuse the hop.
    wharf = mirror_factory(mirror={"default": upstream.host, "resumeattempts": 1,
                                   "upstreams": [listed(upstream), listed(cdn, insecure=True)]})
    assert_bad_gateway(wharf.client.get(path), upstream, "https")
    assert cdn.seen == [], "the plain-http hop was followed"
    assert len(upstream.requests_to(path)) == 1
    assert stored_size(wharf.root, sha256(body)) is None


def test_a_redirect_to_an_unlisted_internal_address_is_refused(fakes, mirror_factory):
    upstream, internal = fakes(), fakes()
    targets = [f"http://127.0.0.1:{internal.port}/blob", f"http://localhost:{internal.port}/blob",
               f"http://[::ffff:127.0.0.1]:{internal.port}/blob", "http://10.255.0.1/blob",
               "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0:1/blob"]
    paths = []
    for target in targets:
        body = os.urandom(1024)
        paths.append((blob_path(sha256(body)), body))
        upstream.routes[blob_path(sha256(body))] = redirect(target)
    internal.routes["/blob"] = blob_answer(b"never")
    wharf = mirror_factory(mirror={"default": upstream.host, "resumeattempts": 1,
                                   "upstreams": [listed(upstream, insecure=True)]})
    for (path, body), target in zip(paths, targets):
        response = wharf.client.get(path)
        assert_denied(response, upstream.host)
        assert stored_size(wharf.root, sha256(body)) is None, target
    assert internal.seen == [], "an internal address was reached through a redirect"


def test_a_redirect_to_a_host_the_policy_blocks_is_refused(fakes, mirror_factory):
    upstream, cdn = fakes(), fakes()
    body = os.urandom(4096)
    upstream.routes[blob_path(sha256(body))] = redirect(f"{cdn.base}/blob")
    cdn.routes["/blob"] = blob_answer(body)
    wharf = mirror_factory(mirror={"default": upstream.host, "resumeattempts": 1,
                                   "upstreams": [listed(upstream, insecure=True), listed(cdn, insecure=True)]},
                           sections={"policy": {"registries": {"block": [cdn.host]}}})
    assert_denied(wharf.client.get(blob_path(sha256(body))), cdn.host, "policy.registries.block[0]")
    assert cdn.seen == []


def test_at_most_five_redirect_hops_are_followed(fakes, mirror_factory):
    upstream = fakes()
    chains = {}
    for hops in (5, 6):
        body = os.urandom(2048)
        path = blob_path(sha256(body))
        steps = [path] + [f"/hop/{hops}/{i}" for i in range(1, hops + 1)]
        for here, there in zip(steps, steps[1:]):
            upstream.routes[here] = redirect(there)  # relative, same origin
        upstream.routes[steps[-1]] = blob_answer(body)
        chains[hops] = (path, body, steps)
    wharf = mirror_factory(mirror={"default": upstream.host, "resumeattempts": 1, "upstreams": [listed(upstream)]})

    path, body, steps = chains[5]
    ok = wharf.client.get(path)
    assert ok.status_code == 200 and ok.content == body, ok.text
    assert [len(upstream.requests_to(s)) for s in steps] == [1] * 6

    path, body, steps = chains[6]
    assert_bad_gateway(wharf.client.get(path), upstream, "more than 5 redirects")
    # The first request and five hops were sent; the sixth hop was not followed.
    assert [len(upstream.requests_to(s)) for s in steps] == [1] * 6 + [0]
    assert stored_size(wharf.root, sha256(body)) is None


def test_a_blob_redirect_to_a_listed_cdn_works_and_the_token_stays_with_the_upstream(fakes, mirror_factory):
    upstream, cdn = fakes(), fakes()
    body = os.urandom(256 * 1024)
    path = blob_path(sha256(body))
    basic = "Basic d2hhcmY6czNjcmV0"  # wharf:s3cret
    upstream.routes["/v2/"] = (401, {"WWW-Authenticate": f'Bearer realm="{upstream.base}/token",service="fake"'}, b"")
    upstream.routes["/token"] = lambda h: ((200, {"Content-Type": "application/json"}, b'{"token":"upstream-token"}')
                                           if h.headers.get("Authorization") == basic else (401, {}, b""))
    upstream.routes[path] = lambda h: (redirect(f"{cdn.base}/blobs/abc?sig=1")
                                       if h.headers.get("Authorization") == "Bearer upstream-token"
                                       else (401, {"WWW-Authenticate": f'Bearer realm="{upstream.base}/token",service="fake"'}, b""))
    cdn.routes["/blobs/abc"] = blob_answer(body)
    wharf = mirror_factory(mirror={"default": upstream.host, "upstreams": [
        listed(upstream, insecure=True, username="wharf", password="s3cret"), listed(cdn, insecure=True)]})
    response = wharf.client.get(path)
    assert response.status_code == 200 and response.content == body, response.text
    assert len(cdn.requests_to("/blobs/abc")) == 1
    assert cdn.authorizations() == [], "credentials were forwarded to the redirect target"
    assert basic in upstream.authorizations() and "Bearer upstream-token" in upstream.authorizations()


# -- where credentials go ----------------------------------------------------------------------

def test_no_token_is_fetched_from_a_realm_named_after_a_redirect_to_another_host(fakes, mirror_factory):
    upstream, other = fakes(), fakes()
    upstream.routes["/v2/team/app/manifests/v1"] = redirect(f"{other.base}/v2/team/app/manifests/v1")
    other.routes["/v2/team/app/manifests/v1"] = (401, {"WWW-Authenticate": f'Bearer realm="{other.base}/token",service="x"'},
                                                 b'{"errors":[{"code":"UNAUTHORIZED","message":"log in"}]}')
    other.routes["/token"] = (200, {"Content-Type": "application/json"}, b'{"token":"phished"}')
    wharf = mirror_factory(mirror={"default": upstream.host, "upstreams": [
        listed(upstream, insecure=True, username="wharf", password="s3cret"), listed(other, insecure=True)]})
    response = wharf.client.get_manifest("team/app", "v1")
    assert other.requests_to("/token") == [], "a token was asked of a realm another host named"
    assert other.authorizations() == []
    assert_bad_gateway(response, upstream, "authenticates to the registry itself only")


def test_credentials_are_not_sent_to_a_plain_http_realm_of_an_https_upstream(fakes, mirror_factory):
    upstream, realm = fakes(tls=True), fakes()
    upstream.routes["/v2/"] = (401, {"WWW-Authenticate": f'Bearer realm="{realm.base}/token",service="x"'}, b"")
    realm.routes["/token"] = (200, {"Content-Type": "application/json"}, b'{"token":"t"}')
    wharf = mirror_factory(mirror={"default": upstream.host, "certsdirectory": upstream.certs_dir,
                                   "upstreams": [listed(upstream, username="wharf", password="s3cret"), listed(realm)]})
    response = wharf.client.get_manifest("team/app", "v1")
    assert realm.seen == [], "the plain-http realm was contacted with credentials"
    assert_bad_gateway(response, upstream, "plain HTTP")


# -- what an upstream answers ------------------------------------------------------------------

GOOD = oci_manifest(b'{"architecture":"amd64","os":"linux"}', [b"layer-bytes"])


def bad_manifests():
    """name -> (reference, (status, headers, body)): answers no manifest of Wharf's may come from."""
    other = oci_manifest(b'{"os":"plan9"}', [])
    big = b'{"schemaVersion":2,"annotations":{"x":"' + b"a" * (5 * 1024 * 1024) + b'"}}'
    schema1 = json.dumps({"schemaVersion": 1, "name": "team/app", "tag": "v1", "fsLayers": []}).encode()
    thing = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example.thing.v1+json",
                        "config": {"mediaType": "x", "digest": sha256(b""), "size": 0}}).encode()
    return {
        "not-a-manifest": ("v1", manifest_answer(b'{"hello":"world"}')),
        "schema1": ("v1", manifest_answer(schema1, "application/vnd.docker.distribution.manifest.v1+prettyjws")),
        "unknown-media-type": ("v1", manifest_answer(thing, "application/vnd.example.thing.v1+json")),
        "content-type-contradicts-body": ("v1", manifest_answer(GOOD, DOCKER_LIST)),
        "html": ("v1", (200, {"Content-Type": "text/html"}, b"<html>login</html>")),
        "wrong-digest-header": ("v1", manifest_answer(GOOD, digest=sha256(other))),
        "wrong-body-for-digest": (sha256(GOOD), manifest_answer(other, digest=sha256(GOOD))),
        "over-4-MiB": ("v1", manifest_answer(big)),
    }


@pytest.mark.parametrize("case", list(bad_manifests()))
def test_an_invalid_manifest_is_502_and_never_stored(case, fakes, mirror_factory):
    reference, answer = bad_manifests()[case]
    upstream = fakes()
    path = f"/v2/team/app/manifests/{reference}"
    upstream.routes[path] = answer
    wharf = mirror_factory(mirror={"default": upstream.host, "upstreams": [listed(upstream)]})
    for attempt in (1, 2):
        assert_bad_gateway(wharf.client.get_manifest("team/app", reference), upstream)
        # Nothing was kept: the second request goes upstream again.
        assert len(upstream.requests_to(path)) == attempt
    assert stored_size(wharf.root, sha256(answer[2])) is None
    assert not (wharf.root / "docker/registry/v2/repositories/team/app/_manifests/tags/v1").exists()
