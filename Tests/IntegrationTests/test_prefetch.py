"""`wharf prefetch`: a running Wharf mirrors whole images ahead of need (air-gapped and edge
sites), each blob fetched from upstream once, and the registry policy refuses it like any pull."""

import json
import os
import subprocess
import time

from conftest import wharf_binary
from mirror_support import access_lines, stored_size
from registry_client import sha256_digest


def prefetch(wharf, *args, timeout=120):
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    return subprocess.run([str(wharf_binary()), "prefetch", "--wharf", wharf.base, *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def child_for(image, arch):
    for child in image.children:
        config = json.loads(child.body)["config"]["digest"]
        if json.loads(child.blobs[config])["architecture"] == arch:
            return child
    raise AssertionError(f"no {arch} child")


def test_prefetch_stores_every_platform_once_and_it_is_served_after_the_upstream_is_gone(docker_registry_factory,
                                                                                           mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_multiarch("eng/app", "v1")
    wharf = mirror_factory(mirror={"upstreams": [{"registry": upstream.host}]})

    result = prefetch(wharf, f"{upstream.host}/eng/app:v1")
    assert result.returncode == 0, result.stdout + result.stderr
    every_blob = {d: b for child in image.children for d, b in child.blobs.items()}
    assert f"{len(image.children) + 1} manifest(s), {len(every_blob)} blob(s)" in result.stdout, result.stdout
    # --wait (the default) returns once every blob is committed, digest-checked.
    for digest, body in every_blob.items():
        assert stored_size(wharf.root, digest) == len(body), digest
        gets = access_lines(upstream.log_text(), "GET", f"/v2/eng/app/blobs/{digest}")
        assert len(gets) == 1, f"{digest}: {gets}"

    upstream.stop()
    query = f"?ns={upstream.host}"
    for digest, body in every_blob.items():
        response = wharf.client.get(f"/v2/eng/app/blobs/{digest}{query}")
        assert response.status_code == 200 and sha256_digest(response.content) == digest


def test_prefetch_of_one_platform_leaves_the_others_alone(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_multiarch("eng/app", "v1")
    wharf = mirror_factory(mirror={"upstreams": [{"registry": upstream.host}]})
    amd64 = child_for(image, "amd64")

    result = prefetch(wharf, "--platform", "linux/amd64", f"{upstream.host}/eng/app:v1")
    assert result.returncode == 0, result.stdout + result.stderr
    for digest, body in amd64.blobs.items():
        assert stored_size(wharf.root, digest) == len(body)
    others = {d for child in image.children if child is not amd64 for d in child.blobs} - set(amd64.blobs)
    assert others and all(stored_size(wharf.root, digest) is None for digest in others)


def test_no_wait_starts_the_fills_and_they_complete_after_the_command_returns(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("eng/big", "v1", layers=1, layer_size=24 << 20)
    wharf = mirror_factory(mirror={"upstreams": [{"registry": upstream.host}]})

    result = prefetch(wharf, "--no-wait", f"{upstream.host}/eng/big:v1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "being fetched" in result.stdout
    deadline = time.monotonic() + 60
    while not all(stored_size(wharf.root, d) == len(b) for d, b in image.blobs.items()):
        assert time.monotonic() < deadline, "the fills did not complete after the client left"
        time.sleep(0.2)
    for digest in image.blobs:
        assert len(access_lines(upstream.log_text(), "GET", f"/v2/eng/big/blobs/{digest}")) == 1


def test_a_registry_the_policy_blocks_is_refused_and_never_contacted(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    upstream.client.push_image("eng/app", "v1")
    wharf = mirror_factory(mirror={"upstreams": [{"registry": upstream.host}]},
                           sections={"policy": {"registries": {"block": [upstream.host]}}})
    before = len(upstream.log_text().splitlines())

    result = prefetch(wharf, f"{upstream.host}/eng/app:v1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout and "DENIED" in result.stdout, result.stdout
    assert f'refused by the policy rule block "{upstream.host}"' in result.stdout, result.stdout
    time.sleep(0.5)
    contacted = [line for line in upstream.log_text().splitlines()[before:] if "/v2/" in line]
    assert contacted == [], contacted


def test_a_missing_tag_fails_with_the_registry_error(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    upstream.client.push_image("eng/app", "v1")
    wharf = mirror_factory(mirror={"upstreams": [{"registry": upstream.host}]})
    result = prefetch(wharf, f"{upstream.host}/eng/app:nope", f"{upstream.host}/eng/app:v1")
    assert result.returncode == 1
    assert "eng/app:nope: FAILED" in result.stdout and "MANIFEST_UNKNOWN" in result.stdout, result.stdout
    assert "eng/app:v1: 1 manifest(s)" in result.stdout, result.stdout
