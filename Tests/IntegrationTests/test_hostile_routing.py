"""Hostile routing (issue 12, items 3, 4, 5, 9): a mirrored repository is read-only
(`mirror.localrepositories` carves local ones out of the default route); authorization is decided
on the repository a request reaches, not on how its URL spells it; a digest is not a password
across registries (a pushed blob is never linked into a mirrored repository on an upstream's
HEAD alone; `?ns=<default>` with a prefixed name cannot reach another registry's store); every
spelling of a registry host is one host for the policy.

Upstreams are Debian's docker-registry on 127.0.0.1, listed explicitly in `mirror.upstreams`;
where an upstream must lie (a HEAD 200 for a blob it does not have), a few lines of Python here.
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from auth_support import USERS, auth_wharf_factory, basic, claims_of  # noqa: F401 (fixture)
from mirror_support import session, wait_for_blob
from registry_client import error_codes, sha256_digest


def prefix(host: str) -> str:
    return host.replace(":", "_")


class UpstreamLog:
    """Lines the upstream's access log gained since `mark()`."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.mark()

    def mark(self):
        self.start = len(self.upstream.log_text().splitlines())

    def new_requests(self, settle: float = 0.5) -> list[str]:
        time.sleep(settle)
        lines = self.upstream.log_text().splitlines()[self.start:]
        return [line for line in lines if '"GET /v2/' in line or '"HEAD /v2/' in line]


class LyingUpstream:
    """Says yes to every blob HEAD (any digest, 200 with a size), has no blob to GET (404):
    a registry a client controls, as far as a confirmation goes."""

    def __init__(self):
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, body: bool):
                outer.requests.append(f"{self.command} {self.path}")
                if self.path.rstrip("/") == "/v2":
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    if body:
                        self.wfile.write(b"{}")
                    return
                if "/blobs/" in self.path and self.command == "HEAD":
                    digest = self.path.rsplit("/", 1)[1].split("?")[0]
                    self.send_response(200)
                    self.send_header("Content-Length", "2048")
                    self.send_header("Docker-Content-Digest", digest)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.end_headers()
                    return
                payload = json.dumps({"errors": [{"code": "BLOB_UNKNOWN", "message": "no"}]}).encode()
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if body:
                    self.wfile.write(payload)

            def do_GET(self):
                self._answer(True)

            def do_HEAD(self):
                self._answer(False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def liar():
    upstream = LyingUpstream()
    yield upstream
    upstream.stop()


def upstreams(*hosts):
    return [{"registry": host} for host in hosts]


def assert_code(response, status, code):
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert error_codes(response) == [code], response.text


# -- item 3: mirrored repositories are read-only ---------------------------------------------


@pytest.mark.parametrize("form", ["default", "prefix", "ns"])
def test_a_push_to_a_mirrored_name_is_refused_and_the_upstream_tag_still_served(form, docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    wharf = mirror_factory(proxy={"remoteurl": upstream.base} if form == "default" else None,
                           mirror={"upstreams": [] if form == "default" else upstreams(upstream.host), "allowunlisted": False})
    repo, query, amp = {
        "default": ("team/app", "", "?"),
        "prefix": (f"{prefix(upstream.host)}/team/app", "", "?"),
        "ns": ("team/app", f"?ns={upstream.host}", "&"),
    }[form]
    layer = os.urandom(2048)
    digest = sha256_digest(layer)
    posted = wharf.client.post(f"/v2/{repo}/blobs/uploads/{query}{amp}digest={digest}", data=layer,
                               headers={"Content-Type": "application/octet-stream"})
    assert_code(posted, 405, "UNSUPPORTED")
    assert_code(wharf.client.post(f"/v2/{repo}/blobs/uploads/{query}"), 405, "UNSUPPORTED")
    own = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": len(layer)},
                      "layers": []}).encode()
    put = wharf.client.put(f"/v2/{repo}/manifests/v1{query}", data=own,
                           headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert_code(put, 405, "UNSUPPORTED")
    assert repo in put.json()["errors"][0]["message"]
    assert_code(wharf.client.delete(f"/v2/{repo}/manifests/{image.digest}{query}"), 405, "UNSUPPORTED")
    assert_code(wharf.client.delete(f"/v2/{repo}/blobs/{digest}{query}"), 405, "UNSUPPORTED")

    served = wharf.client.get(f"/v2/{repo}/manifests/v1{query}", headers={"Accept": image.media_type})
    assert served.status_code == 200 and served.content == image.body, served.text
    assert not list((wharf.root / "docker/registry/v2/repositories").rglob("_uploads/*")), "an upload session was opened"


def test_localrepositories_take_pushes_and_an_image_built_from_a_mirrored_one(docker_registry_factory, mirror_factory, skopeo):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    wharf = mirror_factory(proxy={"remoteurl": upstream.base},
                           mirror={"allowunlisted": False, "localrepositories": ["local/**"]})
    # FROM a mirrored image, pushed under a local name: blobs mounted from the mirrored repository.
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{wharf.host}/team/app:v1", f"docker://{wharf.host}/local/app:v1")
    local = wharf.client.get_manifest("local/app", "v1")
    assert local.status_code == 200, local.text
    for digest, data in image.blobs.items():
        got = wharf.client.get(f"/v2/local/app/blobs/{digest}")
        assert got.status_code == 200 and got.content == data
        mounted = wharf.client.post(f"/v2/local/raw/blobs/uploads/?mount={digest}&from=team/app")
        assert mounted.status_code == 201, mounted.text
    pushed = wharf.client.push_image("local/own", "v1")
    assert wharf.client.get_manifest("local/own", "v1").content == pushed.body
    assert upstream.client.get("/v2/local/app/tags/list").status_code == 404, "a local push reached the upstream"
    assert_code(wharf.client.post("/v2/other/app/blobs/uploads/"), 405, "UNSUPPORTED")


# -- item 5: a digest is not a password, across registries --------------------------------------


def test_a_pushed_blob_is_not_served_through_a_mirrored_route_on_an_upstreams_head(liar, mirror_factory):
    wharf = mirror_factory(mirror={"upstreams": upstreams(liar.host), "allowunlisted": False})
    secret = os.urandom(2048)
    digest = wharf.client.push_blob("local/secret", secret)
    assert wharf.client.get(f"/v2/local/secret/blobs/{digest}").content == secret

    for path in (f"/v2/{prefix(liar.host)}/any/thing/blobs/{digest}", f"/v2/any/thing/blobs/{digest}?ns={liar.host}"):
        got = wharf.client.get(path)
        assert got.status_code == 404 and secret not in got.content, f"{path}: {got.status_code}"
        assert error_codes(got) == ["BLOB_UNKNOWN"], got.text
        # A HEAD gets the upstream's word, and links nothing.
        wharf.client.head(path)
        again = wharf.client.get(path)
        assert again.status_code == 404 and secret not in again.content
    assert any(r.startswith("GET ") and digest in r for r in liar.requests), "the route never had to download the blob"


def test_a_blob_fetched_with_credentials_is_not_served_through_another_registry_on_its_head(token_upstream, liar, mirror_factory):
    info = token_upstream.info
    pusher = token_upstream.pushing_client("private/app")
    private = pusher.push_image("private/app", "v1")
    wharf = mirror_factory(mirror={"allowunlisted": False, "upstreams": [
        {"registry": token_upstream.host, "username": info["username"], "password": info["password"]},
        {"registry": liar.host},
    ]})
    layer = next(d for d in private.blobs if len(private.blobs[d]) > 1000)
    fetched = wharf.client.get(f"/v2/{prefix(token_upstream.host)}/private/app/blobs/{layer}")
    assert fetched.status_code == 200 and fetched.content == private.blobs[layer]
    # Once stored (while the fill runs, another registry's route gets 503 and Retry-After).
    assert wait_for_blob(wharf.root, layer, len(private.blobs[layer])) == len(private.blobs[layer])
    time.sleep(0.2)
    crossed = wharf.client.get(f"/v2/{prefix(liar.host)}/any/thing/blobs/{layer}")
    assert crossed.status_code == 404 and crossed.content != private.blobs[layer], crossed.status_code
    assert error_codes(crossed) == ["BLOB_UNKNOWN"]
    marker = wharf.root / "_wharf" / "private" / "sha256" / layer.split(":")[1]
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # written when the fill commits, just after the last byte is served
    assert marker.read_text() == token_upstream.host


def test_an_anonymously_fetched_blob_is_reused_after_another_registry_confirms_it(docker_registry_factory, liar, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    wharf = mirror_factory(mirror={"upstreams": upstreams(upstream.host, liar.host), "allowunlisted": False})
    digest, data = next(iter(image.blobs.items()))
    assert wharf.client.get(f"/v2/{prefix(upstream.host)}/team/app/blobs/{digest}").content == data
    reused = wharf.client.get(f"/v2/{prefix(liar.host)}/other/blobs/{digest}")
    assert reused.status_code == 200 and reused.content == data


def test_ns_of_the_default_cannot_reach_a_blocked_registrys_stored_content(docker_registry_factory, mirror_factory, tmp_path):
    default = docker_registry_factory()
    other = docker_registry_factory()
    image = other.client.push_image("team/app", "v1")
    store = tmp_path / "shared-store"
    mirror = {"upstreams": upstreams(other.host), "allowunlisted": False}
    first = mirror_factory(proxy={"remoteurl": default.base}, mirror=mirror, root=store)
    repo = f"{prefix(other.host)}/team/app"
    assert first.client.get_manifest(repo, "v1").content == image.body
    for digest, data in image.blobs.items():
        assert first.client.get(f"/v2/{repo}/blobs/{digest}").content == data
    first.stop()

    blocked = mirror_factory(proxy={"remoteurl": default.base}, mirror=mirror, root=store,
                             sections={"policy": {"registries": {"block": [other.host]}}})
    for query in (f"?ns={default.host}", f"?ns={default.host.replace('127.0.0.1', 'localhost')}", ""):
        for path in [f"/v2/{repo}/manifests/{image.digest}{query}"] + [f"/v2/{repo}/blobs/{d}{query}" for d in image.blobs]:
            got = blocked.client.get(path)
            assert got.status_code in (403, 404, 400), f"{path}: {got.status_code} {got.text[:200]}"
            assert got.content not in [image.body, *image.blobs.values()]


# -- item 4: authorization follows the content ----------------------------------------------------


def test_auth_is_decided_on_the_repository_a_request_reaches(docker_registry_factory, auth_wharf_factory):
    default = docker_registry_factory()
    other = docker_registry_factory()
    mine = default.client.push_image("team/app", "v1")
    theirs = other.client.push_image("team/app", "v1")
    rules = [
        {"repositories": ["team/**"], "read": ["bob", "alice"]},
        # written with the registry, host:port form
        {"repositories": [f"{other.host}/team/**"], "read": ["carol", "alice"]},
    ]
    wharf = auth_wharf_factory(access={"rules": rules}, sections={
        "proxy": {"remoteurl": default.base},
        "mirror": {"upstreams": upstreams(other.host), "allowunlisted": False},
    })
    accept = {"Accept": mine.media_type}

    def get(path, user):
        return session().get(f"{wharf.base}{path}", headers={**accept, "Authorization": basic(user)}, timeout=30)

    assert get("/v2/team/app/manifests/v1", "bob").content == mine.body
    for path in (f"/v2/team/app/manifests/v1?ns={other.host}", f"/v2/{prefix(other.host)}/team/app/manifests/v1",
                 f"/v2/team/app/tags/list?ns={other.host}"):
        assert_code(get(path, "bob"), 403, "DENIED")
        got = get(path, "carol")
        assert got.status_code == 200, f"{path}: {got.status_code} {got.text}"
    assert get(f"/v2/team/app/manifests/v1?ns={other.host}", "carol").content == theirs.body
    assert_code(get("/v2/team/app/manifests/v1", "carol"), 403, "DENIED")

    # A token for the plain name (what it reaches: the default's team/app) does not open ?ns=other,
    # even for a user who may pull both.
    token = session().get(f"{wharf.base}/auth/token", params={"service": "wharf", "scope": "repository:team/app:pull"},
                          headers={"Authorization": basic("alice")}, timeout=30).json()["token"]
    assert claims_of(token)["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    bearer = {**accept, "Authorization": f"Bearer {token}"}
    assert session().get(f"{wharf.base}/v2/team/app/manifests/v1", headers=bearer, timeout=30).status_code == 200
    crossed = session().get(f"{wharf.base}/v2/team/app/manifests/v1?ns={other.host}", headers=bearer, timeout=30)
    assert crossed.status_code == 401, crossed.text
    assert f'scope="repository:{prefix(other.host)}/team/app:pull"' in crossed.headers["WWW-Authenticate"]
    # bob asking for the other registry's repository by its qualified name gets nothing.
    refused = session().get(f"{wharf.base}/auth/token", params={"service": "wharf", "scope": f"repository:{other.host}/team/app:pull"},
                            headers={"Authorization": basic("bob")}, timeout=30).json()["token"]
    assert claims_of(refused).get("access", []) == []

    # The catalog lists what the user may pull, decided the same way.
    catalog = lambda user: get("/v2/_catalog", user).json()["repositories"]  # noqa: E731
    assert catalog("bob") == ["team/app"]
    assert catalog("carol") == [f"{prefix(other.host)}/team/app"]


# -- item 9: one host, every spelling -------------------------------------------------------------


def test_spelling_variants_of_a_blocked_repository_are_denied_without_upstream_contact(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    upstream.client.push_image("team/secret", "v1")
    ok = upstream.client.push_image("team/ok", "v1")
    port = upstream.host.split(":")[1]
    policy = {"registries": {"block": [f"localhost:{port}/team/secret", "docker.io/library/ubuntu"]}}
    listed = [{"registry": f"localhost:{port}", "insecure": True}, {"registry": "docker.io"}]
    wharf = mirror_factory(mirror={"upstreams": listed, "allowunlisted": False}, sections={"policy": policy})
    log = UpstreamLog(upstream)
    variants = [
        ("team/secret", f"?ns=localhost:{port}"),
        ("team/secret", f"?ns=LOCALHOST:{port}"),
        ("team/secret", f"?ns=localhost.:{port}"),
        ("team/secret", f"?ns=localhost:0{port}"),
        (f"localhost_0{port}/team/secret", ""),
    ]
    for repo, query in variants:
        got = wharf.client.get(f"/v2/{repo}/manifests/v1{query}")
        assert_code(got, 403, "DENIED")
        assert f'block "localhost:{port}/team/secret"' in got.json()["errors"][0]["message"], (repo, query, got.text)
    hub = [
        ("ubuntu", "?ns=docker.io"), ("library/ubuntu", "?ns=docker.io"), ("ubuntu", "?ns=index.docker.io"),
        ("ubuntu", "?ns=docker.io:443"), ("ubuntu", "?ns=DOCKER.IO."), ("ubuntu", "?ns=registry-1.docker.io:0443"),
        ("registry-1.docker.io/ubuntu", ""), ("docker.io_443/library/ubuntu", ""), ("index.docker.io/library/ubuntu", ""),
    ]
    for repo, query in hub:
        got = wharf.client.get(f"/v2/{repo}/manifests/latest{query}")
        assert_code(got, 403, "DENIED")
        assert 'block "docker.io/library/ubuntu"' in got.json()["errors"][0]["message"], (repo, query, got.text)
    # IPv4 spellings other than dotted decimal are not registry names at all.
    for repo, query in [("team/ok", f"?ns=2130706433:{port}"), ("team/ok", f"?ns=0177.0.0.1:{port}"),
                        ("team/ok", f"?ns=0x7f.0.0.1:{port}"), (f"0x7f.0.0.1_{port}/team/ok", ""), (f"127.1_{port}/team/ok", "")]:
        got = wharf.client.get(f"/v2/{repo}/manifests/v1{query}")
        assert_code(got, 400, "NAME_INVALID")
    assert log.new_requests() == [], "a refused spelling reached the upstream"
    # The canonical spelling of an allowed repository still works, through either form.
    assert wharf.client.get_manifest("team/ok", f"v1?ns=localhost:{port}").content == ok.body
    assert wharf.client.get_manifest(f"localhost_{port}/team/ok", "v1").content == ok.body
