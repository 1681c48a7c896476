"""The registry policy (`policy.registries`): a blocked registry or repository is refused with
403 DENIED naming it and the refusing rule, before any upstream contact, on every path into the
mirror (`?ns=`, a path prefix, the default upstream); content already stored from it is not
served either; skopeo and podman show the message; `insecure` lets an upstream's TLS go unverified."""

import subprocess
import time

import pytest

from conftest import require_tool
from mirror_support import session
from registry_client import error_codes, sha256_digest


class UpstreamLog:
    """Lines the upstream's access log gained since `mark()`."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.mark()

    def mark(self):
        self.start = len(self.upstream.log_text().splitlines())

    def new_requests(self, settle: float = 0.5) -> list[str]:
        time.sleep(settle)  # a line is written when a response ends
        lines = self.upstream.log_text().splitlines()[self.start:]
        return [line for line in lines if '"GET /' in line or '"HEAD /' in line]


def assert_denied(response, *names):
    assert response.status_code == 403, f"{response.status_code} {response.text}"
    assert error_codes(response) == ["DENIED"], response.text
    message = response.json()["errors"][0]["message"]
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"
    return message


def paths(upstream):
    """(label, wharf repository, query) for each route into the mirror."""
    return {
        "ns": ("team/app", f"?ns={upstream.host}"),
        "prefix": (f"{upstream.host.replace(':', '_')}/team/app", ""),
        "default": ("team/app", ""),
    }


@pytest.mark.parametrize("route", ["ns", "prefix", "default"])
def test_a_blocked_registry_is_refused_with_denied_and_never_contacted(route, docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    policy = {"registries": {"block": [upstream.host]}}
    proxy = {"remoteurl": upstream.base} if route == "default" else None
    wharf = mirror_factory(proxy=proxy, mirror={"allowunlisted": True, "upstreams": [{"registry": upstream.host}]}, sections={"policy": policy})
    repo, query = paths(upstream)[route]
    log = UpstreamLog(upstream)

    manifest = wharf.client.get(f"/v2/{repo}/manifests/v1{query}")
    print(f"{route}: {manifest.status_code} {manifest.text}")
    assert_denied(manifest, f"{upstream.host}/team/app", f'block "{upstream.host}"', "policy.registries.block[0]")
    head = wharf.client.head(f"/v2/{repo}/manifests/v1{query}")
    assert head.status_code == 403
    for digest in image.blobs:
        assert_denied(wharf.client.get(f"/v2/{repo}/blobs/{digest}{query}"), upstream.host)
        assert wharf.client.head(f"/v2/{repo}/blobs/{digest}{query}").status_code == 403
    assert log.new_requests() == [], "a blocked registry was contacted"


def test_a_repository_rule_refuses_one_repository_and_the_default_allows_the_rest(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    allowed = upstream.client.push_image("team/app", "v1")
    upstream.client.push_image("someorg/tools/app", "v1")
    policy = {"registries": {"default": "allow", "block": [f"{upstream.host}/someorg/**"]}}
    wharf = mirror_factory(mirror={"allowunlisted": True, "upstreams": [{"registry": upstream.host}]}, sections={"policy": policy})
    ns = f"?ns={upstream.host}"
    log = UpstreamLog(upstream)

    refused = wharf.client.get(f"/v2/someorg/tools/app/manifests/v1{ns}")
    assert_denied(refused, f"{upstream.host}/someorg/tools/app", f'block "{upstream.host}/someorg/**"')
    assert log.new_requests() == []

    ok = wharf.client.get_manifest("team/app", "v1" + ns)
    assert ok.status_code == 200 and ok.content == allowed.body, ok.text


def test_default_block_allows_only_the_allow_list(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    upstream.client.push_image("other/app", "v1")
    policy = {"registries": {"default": "block", "allow": [f"{upstream.host}/team/*"]}}
    wharf = mirror_factory(mirror={"allowunlisted": True, "upstreams": [{"registry": upstream.host}]}, sections={"policy": policy})
    ns = f"?ns={upstream.host}"

    ok = wharf.client.get_manifest("team/app", "v1" + ns)
    assert ok.status_code == 200 and ok.content == image.body, ok.text
    log = UpstreamLog(upstream)
    assert_denied(wharf.client.get(f"/v2/other/app/manifests/v1{ns}"), f"{upstream.host}/other/app", "policy.registries.default: block")
    assert log.new_requests() == []


def test_policy_from_the_environment_comma_separated(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    upstream.client.push_image("team/app", "v1")
    wharf = mirror_factory(mirror={"allowunlisted": True, "upstreams": [{"registry": upstream.host}]},
                           env={"REGISTRY_POLICY_REGISTRIES_BLOCK": f"quay.io,{upstream.host}/team/*"})
    log = UpstreamLog(upstream)
    assert_denied(wharf.client.get(f"/v2/team/app/manifests/v1?ns={upstream.host}"), f'block "{upstream.host}/team/*"',
                  "policy.registries.block[1]")
    assert log.new_requests() == []


def test_content_stored_from_a_registry_blocked_later_is_not_served(docker_registry_factory, mirror_factory, tmp_path):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    store = tmp_path / "shared-store"
    first = mirror_factory(proxy={"remoteurl": upstream.base}, root=store)
    assert first.client.get_manifest("team/app", "v1").status_code == 200
    for digest, body in image.blobs.items():
        blob = first.client.get_blob("team/app", digest)
        assert blob.status_code == 200 and blob.content == body
    first.stop()

    policy = {"registries": {"block": [f"{upstream.host}/team/app"]}}
    second = mirror_factory(proxy={"remoteurl": upstream.base}, root=store, sections={"policy": policy})
    log = UpstreamLog(upstream)
    assert_denied(second.client.get_manifest("team/app", "v1"), f"{upstream.host}/team/app")
    assert_denied(second.client.get_manifest("team/app", image.digest), f"{upstream.host}/team/app")
    for digest in image.blobs:
        assert_denied(second.client.get_blob("team/app", digest), f"{upstream.host}/team/app")
    assert_denied(second.client.get("/v2/team/app/tags/list"), f"{upstream.host}/team/app")
    assert log.new_requests() == []


def test_skopeo_shows_the_denied_message(docker_registry_factory, mirror_factory, skopeo, tmp_path):
    upstream = docker_registry_factory()
    upstream.client.push_image("team/app", "v1")
    wharf = mirror_factory(mirror={"allowunlisted": True, "upstreams": [{"registry": upstream.host}]}, sections={"policy": {"registries": {"block": [upstream.host]}}})
    log = UpstreamLog(upstream)
    prefixed = f"{wharf.host}/{upstream.host.replace(':', '_')}/team/app:v1"
    result = skopeo("copy", "--src-tls-verify=false", f"docker://{prefixed}", f"dir:{tmp_path / 'out'}", check=False)
    print(result.stderr)
    assert result.returncode != 0
    assert "denied" in result.stderr.lower()
    assert f"pulling {upstream.host}/team/app is refused by the policy rule block" in result.stderr
    assert log.new_requests() == []


def test_podman_shows_the_denied_message(docker_registry_factory, mirror_factory, tmp_path):
    podman = require_tool("podman")
    upstream = docker_registry_factory()
    upstream.client.push_image("team/app", "v1")
    wharf = mirror_factory(mirror={"allowunlisted": True, "upstreams": [{"registry": upstream.host}]}, sections={"policy": {"registries": {"block": [upstream.host]}}})
    log = UpstreamLog(upstream)
    import tempfile, shutil, os
    runroot = tempfile.mkdtemp(prefix="wharf-pp-")  # podman refuses a long runroot path
    try:
        conf = tmp_path / "registries.conf"
        conf.write_text("")
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env.update(NO_PROXY="*", CONTAINERS_REGISTRIES_CONF=str(conf), TMPDIR=str(tmp_path))
        base = [podman, "--root", str(tmp_path / "root"), "--runroot", runroot, "--storage-driver", "vfs",
                "--tmpdir", str(tmp_path / "tmp"), "--events-backend", "file", "--cgroup-manager", "cgroupfs"]
        reference = f"{wharf.host}/{upstream.host.replace(':', '_')}/team/app:v1"
        pulled = subprocess.run([*base, "pull", "--tls-verify=false", reference], capture_output=True, text=True,
                                timeout=180, env=env)
        print(pulled.stderr)
        if pulled.returncode != 0 and "cannot" in pulled.stderr.lower() and "storage" in pulled.stderr.lower():
            pytest.skip(f"podman cannot set up storage here: {pulled.stderr.strip()[-400:]}")
        assert pulled.returncode != 0
        assert "denied" in pulled.stderr.lower()
        assert f"pulling {upstream.host}/team/app is refused by the policy rule block" in pulled.stderr
    finally:
        shutil.rmtree(runroot, ignore_errors=True)
    assert log.new_requests() == []


def test_insecure_lets_an_upstream_with_an_untrusted_certificate_be_used(basic_upstream, mirror_factory):
    info = basic_upstream.info
    upstreams = [{"registry": basic_upstream.host, "username": info["username"], "password": info["password"]}]
    # No certsdirectory: Wharf does not trust the upstream's CA.
    strict = mirror_factory(mirror={"default": basic_upstream.host, "upstreams": upstreams})
    refused = strict.client.get_manifest("test/app", "v1")
    print(f"without insecure: {refused.status_code} {refused.text}")
    assert refused.status_code in (502, 503), refused.text

    lenient = mirror_factory(mirror={"default": basic_upstream.host, "upstreams": upstreams},
                             sections={"policy": {"registries": {"insecure": [basic_upstream.host]}}})
    response = lenient.client.get_manifest("test/app", "v1")
    assert response.status_code == 200, response.text
    assert response.headers["Docker-Content-Digest"] == info["manifest_digest"]


def test_refusals_are_counted_by_the_rule_that_refused_them(docker_registry_factory, mirror_factory):
    from metrics_support import metrics_section, scrape, value

    upstream = docker_registry_factory()
    upstream.client.push_image("someorg/app", "v1")
    upstream.client.push_image("team/app", "v1")
    policy = {"registries": {"default": "allow", "block": [f"{upstream.host}/someorg/**"]}}
    wharf = mirror_factory(mirror={"allowunlisted": True, "upstreams": [{"registry": upstream.host}]}, sections={"policy": policy, "openshift": metrics_section()})
    ns = f"?ns={upstream.host}"
    for _ in range(3):
        assert wharf.client.get(f"/v2/someorg/app/manifests/v1{ns}").status_code == 403
    assert wharf.client.get(f"/v2/team/app/manifests/v1{ns}").status_code == 200
    samples = scrape(wharf)
    rule = f"block:{upstream.host}/someorg/**"
    assert value(samples, "wharf_policy_refusals_total", rule=rule) == 3
    # One series per rule that refused something, and nothing else: no repository names.
    refusal_series = [dict(pairs) for (name, pairs) in samples if name == "wharf_policy_refusals_total"]
    assert refusal_series == [{"rule": rule}]


def test_sighup_reloads_the_policy_and_cached_content_is_refused_at_once(docker_registry_factory, mirror_factory):
    import os
    import signal

    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    wharf = mirror_factory(proxy={"remoteurl": upstream.base})
    assert wharf.client.get_manifest("team/app", "v1").status_code == 200
    layer = next(iter(image.blobs))
    assert wharf.client.get_blob("team/app", layer).status_code == 200
    original = wharf.config_path.read_text()

    def reload_until(expected_status, timeout=10.0):
        os.kill(wharf.pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while True:
            response = wharf.client.get_blob("team/app", layer)
            if response.status_code == expected_status or time.monotonic() > deadline:
                return response
            time.sleep(0.1)

    wharf.config_path.write_text(original + f'\npolicy:\n  registries:\n    block: ["{upstream.host}/team/**"]\n')
    log = UpstreamLog(upstream)
    refused = reload_until(403)
    assert_denied(refused, f"{upstream.host}/team/app", f'block "{upstream.host}/team/**"')
    assert_denied(wharf.client.get_manifest("team/app", "v1"), f"{upstream.host}/team/app")
    assert log.new_requests() == []
    assert "registry policy reloaded" in wharf.log_text()

    # A file that no longer parses keeps the policy in force.
    wharf.config_path.write_text(original + "\npolicy:\n  registries:\n    bogus: 1\n")
    os.kill(wharf.pid, signal.SIGHUP)
    time.sleep(1)
    assert wharf.client.get_blob("team/app", layer).status_code == 403
    assert "keeping the registry policy in force" in wharf.log_text()

    wharf.config_path.write_text(original)
    allowed = reload_until(200)
    assert allowed.status_code == 200 and sha256_digest(allowed.content) == layer
