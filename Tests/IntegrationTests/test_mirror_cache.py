"""Cache retention (`mirror.cache`): mirrored blobs unused for `ttl`, or the least recently used
beyond `maxsize`, are removed by a periodic sweep; a later GET fetches them again, byte-exact;
pushed blobs are never removed."""

import os
import time

from metrics_support import metrics_section, value, wait_for_value
from mirror_support import access_lines, stored_size, wait_for_blob, wait_for_lines
from registry_client import sha256_digest

MIB = 1024 * 1024


def wait_until_gone(root, digest: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored_size(root, digest) is None:
            return True
        time.sleep(0.1)
    return False


def upstream_gets(upstream, repo: str, digest: str) -> int:
    return len(access_lines(upstream.log_text(), "GET", f"/v2/{repo}/blobs/{digest}"))


def test_over_maxsize_the_least_recently_used_blob_goes_and_comes_back_on_the_next_get(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    blobs = {name: os.urandom(MIB + i) for i, name in enumerate("abc")}
    digests = {name: upstream.client.push_blob("cache/app", data) for name, data in blobs.items()}
    # ttl only sets how finely a use is recorded (a tenth of it: 2 s); nothing here gets that old.
    wharf = mirror_factory(proxy={"remoteurl": upstream.base},
                           mirror={"cache": {"maxsize": "2600KiB", "ttl": "20s", "interval": "1s"}},
                           sections={"openshift": metrics_section()})

    def get(name):
        response = wharf.client.get_blob("cache/app", digests[name])
        assert response.status_code == 200, response.text
        assert sha256_digest(response.content) == digests[name]

    get("a")
    get("b")
    for name in "ab":
        assert wait_for_blob(wharf.root, digests[name], len(blobs[name])) == len(blobs[name])
    time.sleep(2.5)
    get("a")  # a is now used more recently than b
    time.sleep(0.1)
    get("c")  # 3 MiB cached, limit 2.6 MiB: b must go
    assert wait_until_gone(wharf.root, digests["b"]), "the least recently used blob was not removed"
    assert stored_size(wharf.root, digests["a"]) == len(blobs["a"])
    assert stored_size(wharf.root, digests["c"]) == len(blobs["c"])
    samples = wait_for_value(wharf, "wharf_cache_evictions_total", 1, reason="size")
    assert value(samples, "wharf_cache_evictions_total", reason="size") == 1
    assert value(samples, "wharf_cache_evicted_bytes_total", reason="size") == len(blobs["b"])
    assert value(samples, "wharf_cache_evictions_total", reason="expired") == 0

    assert upstream_gets(upstream, "cache/app", digests["b"]) == 1
    get("b")
    assert len(wait_for_lines(upstream.log_text, "GET", f"/v2/cache/app/blobs/{digests['b']}", 2)) == 2
    # a was served from the store both times
    assert upstream_gets(upstream, "cache/app", digests["a"]) == 1


def test_a_blob_unused_for_ttl_is_removed_and_fetched_again(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    data = os.urandom(3 * MIB)
    digest = upstream.client.push_blob("cache/ttl", data)
    wharf = mirror_factory(proxy={"remoteurl": upstream.base, "ttl": "2s"}, mirror={"cache": {"interval": "1s"}})
    first = wharf.client.get_blob("cache/ttl", digest)
    assert first.status_code == 200 and first.content == data
    assert wait_for_blob(wharf.root, digest, len(data)) == len(data)
    assert wait_until_gone(wharf.root, digest, timeout=15), "an expired blob was kept"
    again = wharf.client.get_blob("cache/ttl", digest)
    assert again.status_code == 200 and again.content == data
    assert len(wait_for_lines(upstream.log_text, "GET", f"/v2/cache/ttl/blobs/{digest}", 2)) == 2
    assert wait_for_blob(wharf.root, digest, len(data)) == len(data), "the refetched blob was not stored again"


def test_pushed_blobs_are_never_removed(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    wharf = mirror_factory(proxy={"remoteurl": upstream.base}, mirror={"cache": {"maxsize": "1KiB", "ttl": "1s", "interval": "1s"},
                                                                       "localrepositories": ["local/**"]})
    data = os.urandom(256 * 1024)
    digest = wharf.client.push_blob("local/pushed", data)
    time.sleep(3.5)  # three sweeps, each over the limit and past the ttl
    assert stored_size(wharf.root, digest) == len(data)
    response = wharf.client.get_blob("local/pushed", digest)
    assert response.status_code == 200 and response.content == data
    assert access_lines(upstream.log_text(), "GET", f"/v2/local/pushed/blobs/{digest}") == []


def test_a_fetched_blob_later_pushed_or_mounted_into_a_local_repository_is_kept(docker_registry_factory, mirror_factory, tmp_path):
    # An image built FROM a mirrored one: its base layers reach the local repository by mount
    # (or are pushed again); from then on they are the registry's, not the cache's.
    upstream = docker_registry_factory()
    blobs = {"mounted": os.urandom(MIB), "pushed": os.urandom(MIB + 1), "only-fetched": os.urandom(MIB + 2)}
    digests = {name: upstream.client.push_blob("base/image", data) for name, data in blobs.items()}
    root = tmp_path / "kept-store"
    wharf = mirror_factory(proxy={"remoteurl": upstream.base}, root=root, mirror={"localrepositories": ["local/**"]})
    for name, data in blobs.items():
        response = wharf.client.get_blob("base/image", digests[name])
        assert response.status_code == 200 and response.content == data
        assert wait_for_blob(wharf.root, digests[name], len(data)) == len(data)
    mount = wharf.client.post(f"/v2/local/app/blobs/uploads/?mount={digests['mounted']}&from=base/image")
    assert mount.status_code == 201, mount.text
    assert wharf.client.push_blob("local/app", blobs["pushed"]) == digests["pushed"]
    wharf.stop()

    # The operator now sets a limit far below what is stored, and restarts.
    wharf = mirror_factory(proxy={"remoteurl": upstream.base}, root=root, mirror={"cache": {"maxsize": "1KiB", "interval": "1s"}})
    assert wait_until_gone(wharf.root, digests["only-fetched"]), "the sweep did not run"
    time.sleep(1.5)  # and once more
    for name in ("mounted", "pushed"):
        assert stored_size(wharf.root, digests[name]) == len(blobs[name]), f"the {name} blob was removed"
        assert wharf.client.get_blob("local/app", digests[name]).content == blobs[name]
