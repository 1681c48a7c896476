"""Tag listing through the mirror: a mirrored repository lists what its upstream has (as
Distribution's proxy does), paginated by Wharf; when the upstream is gone, the tags kept
locally; a repository nobody has is NAME_UNKNOWN; a Bearer upstream lists with a token."""

import json
import time

from mirror_support import access_lines
from registry_client import error_codes


def test_a_mirrored_repository_lists_the_upstreams_tags_without_pulling_anything(skopeo, docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    for tag in ("v2", "v1", "latest"):
        upstream.client.push_image("lib/app", tag)
    wharf = mirror_factory(proxy={"remoteurl": upstream.base})

    listed = wharf.client.get("/v2/lib/app/tags/list")
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"name": "lib/app", "tags": ["latest", "v1", "v2"]}
    assert len(access_lines(upstream.log_text(), "GET", "/v2/lib/app/tags/list")) >= 1
    assert access_lines(upstream.log_text(), "GET", "/v2/lib/app/manifests/v1") == []

    first = wharf.client.get("/v2/lib/app/tags/list?n=2")
    assert first.json()["tags"] == ["latest", "v1"]
    assert first.headers["Link"] == '</v2/lib/app/tags/list?last=v1&n=2>; rel="next"'
    assert wharf.client.get("/v2/lib/app/tags/list?last=v1&n=2").json()["tags"] == ["v2"]

    # containerd's ?ns= form reaches the same upstream
    by_ns = wharf.client.get(f"/v2/lib/app/tags/list?ns={upstream.host}")
    assert by_ns.status_code == 200 and by_ns.json()["tags"] == ["latest", "v1", "v2"]

    out = skopeo("list-tags", "--tls-verify=false", f"docker://{wharf.host}/lib/app")
    assert json.loads(out.stdout)["Tags"] == ["latest", "v1", "v2"]


def test_with_the_upstream_gone_the_kept_tags_are_listed(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    upstream.client.push_image("lib/kept", "v1")
    upstream.client.push_image("lib/kept", "never-pulled")
    wharf = mirror_factory(proxy={"remoteurl": upstream.base})
    assert wharf.client.get_manifest("lib/kept", "v1").status_code == 200
    upstream.process.kill()
    upstream.process.wait(timeout=10)

    started = time.monotonic()
    listed = wharf.client.get("/v2/lib/kept/tags/list")
    assert time.monotonic() - started < 30
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"name": "lib/kept", "tags": ["v1"]}
    # nothing kept and nobody to ask: the upstream's failure, naming it
    unknown = wharf.client.get("/v2/lib/other/tags/list")
    assert unknown.status_code in (502, 504), unknown.text
    assert error_codes(unknown) == ["UNAVAILABLE"]


def test_a_repository_the_upstream_lacks_is_name_unknown_and_a_pushed_one_lists_its_own_tags(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    wharf = mirror_factory(proxy={"remoteurl": upstream.base}, mirror={"localrepositories": ["local/**"]})
    missing = wharf.client.get("/v2/nobody/has-this/tags/list")
    assert missing.status_code == 404, missing.text
    assert error_codes(missing) == ["NAME_UNKNOWN"]
    wharf.client.push_image("local/pushed", "mine")
    pushed = wharf.client.get("/v2/local/pushed/tags/list")
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["tags"] == ["mine"]


def test_a_bearer_upstream_lists_its_tags_with_a_pull_token(token_upstream, mirror_factory):
    info = token_upstream.info
    wharf = mirror_factory(mirror={
        "default": token_upstream.host,
        "upstreams": [{"registry": token_upstream.host, "username": info["username"], "password": info["password"]}],
    })
    listed = wharf.client.get("/v2/test/app/tags/list")
    assert listed.status_code == 200, listed.text
    assert listed.json()["tags"] == ["v1"]
    assert any("repository:test/app:pull" in str(request) for request in token_upstream.token_requests())
