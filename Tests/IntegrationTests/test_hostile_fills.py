"""Bounded fills under hostile upstreams (issue 12, items 6 and 12).

A fake upstream (hostile_fill_support.py) trickles, sends endless bodies, answers a resume with a
200 of other bytes or with a lying Content-Range, and sends huge token and tag-list bodies.
Every test asserts what a client of Wharf sees: a fill that cannot be trusted fails its
readers (the connection fails; never a complete body of the announced length with wrong
bytes), nothing is stored, a later GET goes upstream again, and the bounds
(`mirror.maxfillsperregistry`, `mirror.fill.*`, `mirror.maxstagingbytes`, token and tag-list
sizes) hold within their configured limits.

The fake upstream is listed in `mirror.upstreams` (loopback registries are reached only when listed).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from hostile_fill_support import HostileUpstream, chunked, cut, pieces_of, random_pieces, send, start_body
from mirror_support import STAGING, blob_url, hashed_get, session, stored_size, wait_for_empty_staging


@pytest.fixture
def hostile():
    made = []

    def start(**options) -> HostileUpstream:
        upstream = HostileUpstream(**options).start()
        made.append(upstream)
        return upstream

    yield start
    for upstream in made:
        upstream.stop()


def mirror_for(mirror_factory, *hosts, **settings):
    """A mirror listing the upstreams at `hosts` ("127.0.0.1:port")."""
    return mirror_factory(mirror={"upstreams": [{"registry": host} for host in hosts], **settings})


def ns_blob(wharf, upstream, repo: str, digest: str) -> str:
    return blob_url(wharf, repo, digest, f"?ns={upstream.host}")


def in_thread(function, *args, **kwargs):
    box = {}

    def run():
        box["result"] = function(*args, **kwargs)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def finished_within(thread, seconds: float) -> bool:
    thread.join(seconds)
    return not thread.is_alive()


def assert_not_a_complete_wrong_body(result, digest: str) -> None:
    """The reader's connection failed, or it got an error status: never a body of the length it
    was promised whose bytes are not the blob."""
    length = result["headers"].get("Content-Length")
    complete = result["error"] is None and result["status"] in (200, 206) and length is not None and result["size"] == int(length)
    assert not (complete and result["digest"] != digest), (
        f"a complete wrong body: status {result['status']}, {result['size']} bytes of Content-Length {length}, "
        f"hashing to {result['digest']} (not {digest}), no error")


def assert_failed(result, digest: str) -> None:
    assert_not_a_complete_wrong_body(result, digest)
    # A body shorter than its Content-Length is a failed read: older urllib3 (Debian's) does not
    # raise for it, newer does.
    length = result["headers"].get("Content-Length")
    short = length is not None and result["size"] < int(length)
    failed = result["error"] is not None or result["status"] not in (200, 206) or result["digest"] != digest or short
    assert failed, f"the reader got the whole blob: {result['status']}, {result['size']} bytes"


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def staging_bytes(root) -> int:
    directory = Path(root) / STAGING
    total = 0
    for entry in directory.iterdir() if directory.exists() else []:
        try:
            total += entry.stat().st_size
        except FileNotFoundError:
            pass
    return total


# -- behaviours --------------------------------------------------------------

def trickle(rate: float):
    """The blob (or the asked range of it) at `rate` bytes per second."""
    def behave(h, blob, attempt, start):
        if start:
            start_body(h, 206, [("Content-Length", str(len(blob.data) - start)),
                                ("Content-Range", f"bytes {start}-{len(blob.data) - 1}/{len(blob.data)}")])
        else:
            start_body(h, 200, [("Content-Length", str(len(blob.data)))])
        send(h, blob, blob.data[start:], rate=rate)
    return behave


def trickle_and_cut(rate: float, per_attempt: int):
    """Like trickle, but every response is cut after `per_attempt` bytes (Range honoured)."""
    def behave(h, blob, attempt, start):
        end = min(len(blob.data), start + per_attempt)
        if start:
            start_body(h, 206, [("Content-Length", str(len(blob.data) - start)),
                                ("Content-Range", f"bytes {start}-{len(blob.data) - 1}/{len(blob.data)}")])
        else:
            start_body(h, 200, [("Content-Length", str(len(blob.data)))])
        send(h, blob, blob.data[start:end], rate=rate)
        if end < len(blob.data):
            cut(h)
    return behave


def honest(h, blob, attempt, start):
    if start:
        start_body(h, 206, [("Content-Length", str(len(blob.data) - start)),
                            ("Content-Range", f"bytes {start}-{len(blob.data) - 1}/{len(blob.data)}")])
    else:
        start_body(h, 200, [("Content-Length", str(len(blob.data)))])
    send(h, blob, blob.data[start:])


# -- per-registry fill slots ---------------------------------------------------

def test_a_slow_upstream_holds_only_its_own_fill_slots(hostile, docker_registry_factory, mirror_factory):
    slow = hostile()
    slow_digests = [slow.add_blob(os.urandom(300_000), trickle(20_000)) for _ in range(2)]
    fast_upstream = docker_registry_factory()
    fast_data = os.urandom(1 << 20)
    fast_digest = fast_upstream.client.push_blob("fast/blob", fast_data)
    wharf = mirror_for(mirror_factory, slow.host, fast_upstream.host, maxconcurrentfills=2, maxfillsperregistry=1,
                       fill={"minrate": "1", "timeout": "5m"})
    readers = [in_thread(hashed_get, ns_blob(wharf, slow, "slow/blob", d), timeout=60) for d in slow_digests]
    deadline = time.monotonic() + 10
    while not any(slow.blob_gets(d) for d in slow_digests) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)

    started = time.monotonic()
    fast = hashed_get(blob_url(wharf, "fast/blob", fast_digest, f"?ns={fast_upstream.host}"), timeout=8)
    elapsed = time.monotonic() - started
    assert fast["error"] is None, f"the fill from docker-registry did not proceed: {fast['error']}"
    assert (fast["status"], fast["digest"]) == (200, fast_digest)
    assert elapsed < 8, elapsed
    reached = [d for d in slow_digests if slow.blob_gets(d)]
    assert len(reached) == 1, f"the slow upstream had {len(reached)} fills running with maxfillsperregistry 1"
    for thread, box in readers:
        assert finished_within(thread, 60)
        assert box["result"]["error"] is None and box["result"]["status"] == 200, box["result"]


# -- deadline and minimum rate ---------------------------------------------------

def test_the_fill_deadline_ends_a_fill_however_often_it_resumes(hostile, mirror_factory):
    upstream = hostile()
    data = os.urandom(400_000)
    digest = upstream.add_blob(data, trickle_and_cut(50_000, 50_000))
    wharf = mirror_for(mirror_factory, upstream.host, resumeattempts=100, fill={"timeout": "3s", "minrate": "1"})

    started = time.monotonic()
    thread, box = in_thread(hashed_get, ns_blob(wharf, upstream, "slow/blob", digest), timeout=60)
    assert finished_within(thread, 12), "the reader was still being served long after mirror.fill.timeout"
    elapsed = time.monotonic() - started
    assert_failed(box["result"], digest)
    assert elapsed < 9, f"the fill ran {elapsed:.1f} s with mirror.fill.timeout 3s"
    assert wait_for_empty_staging(wharf.root) == []
    assert stored_size(wharf.root, digest) is None
    gets = len(upstream.blob_gets(digest))
    assert 1 <= gets < 10, gets

    hashed_get(ns_blob(wharf, upstream, "slow/blob", digest), timeout=30)
    assert len(upstream.blob_gets(digest)) > gets, "the failed blob was not fetched from upstream again"


def test_a_fill_below_the_minimum_rate_fails_its_readers(hostile, mirror_factory):
    upstream = hostile()
    data = os.urandom(200_000)
    digest = upstream.add_blob(data, trickle(2_000))
    wharf = mirror_for(mirror_factory, upstream.host, resumeattempts=1, fill={"minrate": "50KB", "minratewindow": "2s"})

    started = time.monotonic()
    thread, box = in_thread(hashed_get, ns_blob(wharf, upstream, "slow/blob", digest), timeout=60)
    assert finished_within(thread, 12), "a 2 KB/s fill still ran with mirror.fill.minrate 50KB over 2s"
    assert time.monotonic() - started < 10
    assert_failed(box["result"], digest)
    assert wait_for_empty_staging(wharf.root) == []
    assert stored_size(wharf.root, digest) is None


# -- declared size and staging ---------------------------------------------------

def test_an_endless_body_stops_at_the_staging_bound(hostile, mirror_factory):
    upstream = hostile()
    data = os.urandom(1 << 20)

    def endless(h, blob, attempt, start):
        start_body(h, 200, [("Transfer-Encoding", "chunked")])
        chunked(h, blob, random_pieces())

    digest = upstream.add_blob(data, endless)
    wharf = mirror_for(mirror_factory, upstream.host, maxstagingbytes="4MiB", fill={"minrate": "1"})

    rss_before = rss_bytes(wharf.pid)
    thread, box = in_thread(hashed_get, ns_blob(wharf, upstream, "endless/blob", digest), timeout=60)
    peak_staging, peak_rss = 0, 0
    deadline = time.monotonic() + 20
    while thread.is_alive() and time.monotonic() < deadline:
        peak_staging = max(peak_staging, staging_bytes(wharf.root))
        peak_rss = max(peak_rss, rss_bytes(wharf.pid))
        time.sleep(0.02)
    assert finished_within(thread, 1), "an endless upstream body kept the fill (and its reader) going"
    assert peak_staging <= 4 << 20, f"staging held {peak_staging} bytes with mirror.maxstagingbytes 4MiB"
    assert peak_rss - rss_before < 64 << 20, f"Wharf's RSS grew by {peak_rss - rss_before} bytes"
    result = box["result"]
    assert_failed(result, digest)
    assert result["status"] in (None, 502, 503), result
    assert wait_for_empty_staging(wharf.root) == []
    assert stored_size(wharf.root, digest) is None
    time.sleep(0.5)
    sent = upstream.blobs[digest].sent[0]
    assert sent < 64 << 20, f"Wharf took {sent} bytes of an endless body with mirror.maxstagingbytes 4MiB"
    assert len(upstream.blob_gets(digest)) == 1, "the fill asked again after refusing an oversized body"


def test_a_body_stops_at_the_size_its_manifest_declared(hostile, mirror_factory):
    upstream = hostile()
    data = os.urandom(1 << 20)

    def endless(h, blob, attempt, start):
        start_body(h, 200, [("Transfer-Encoding", "chunked")])
        chunked(h, blob, random_pieces())

    digest = upstream.add_blob(data, endless)
    upstream.add_image("app", "v1", b'{"architecture":"amd64","os":"linux"}', digest, len(data))
    wharf = mirror_for(mirror_factory, upstream.host, fill={"minrate": "1"})  # staging bound: the default

    manifest = session().get(f"{wharf.base}/v2/app/manifests/v1?ns={upstream.host}", timeout=30,
                             headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert manifest.status_code == 200, (manifest.status_code, manifest.text[:300])
    thread, box = in_thread(hashed_get, ns_blob(wharf, upstream, "app", digest), timeout=60)
    peak = 0
    deadline = time.monotonic() + 20
    while thread.is_alive() and time.monotonic() < deadline:
        peak = max(peak, staging_bytes(wharf.root))
        time.sleep(0.02)
    assert finished_within(thread, 1), "an endless body went on past the size its manifest declared"
    assert peak <= len(data), f"staging held {peak} bytes of a blob its manifest declared {len(data)}"
    assert_failed(box["result"], digest)
    assert wait_for_empty_staging(wharf.root) == []
    assert stored_size(wharf.root, digest) is None
    assert len(upstream.blob_gets(digest)) == 1


def test_staging_beyond_its_bound_is_answered_503_with_retry_after(hostile, mirror_factory):
    upstream = hostile()
    big = os.urandom(1_500_000)
    big_digest = upstream.add_blob(big, trickle(150_000))
    small = os.urandom(1 << 20)
    small_digest = upstream.add_blob(small, honest)
    wharf = mirror_for(mirror_factory, upstream.host, maxstagingbytes="2MiB", fill={"minrate": "1"})

    thread, box = in_thread(hashed_get, ns_blob(wharf, upstream, "big/blob", big_digest), timeout=60)
    deadline = time.monotonic() + 10
    while not upstream.blob_gets(big_digest) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)

    response = session().get(ns_blob(wharf, upstream, "small/blob", small_digest), timeout=30)
    assert response.status_code == 503, (response.status_code, response.text[:200])
    assert response.headers.get("Retry-After", "").isdigit(), response.headers
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert stored_size(wharf.root, small_digest) is None

    assert finished_within(thread, 30)
    assert box["result"]["status"] == 200 and box["result"]["digest"] == big_digest, box["result"]
    later = hashed_get(ns_blob(wharf, upstream, "small/blob", small_digest), timeout=30)
    assert (later["status"], later["digest"]) == (200, small_digest), "the refused blob was not fetched once staging had room"


# -- resumes that lie --------------------------------------------------------------

def test_a_resume_answered_with_a_200_of_other_bytes_never_completes_a_reader(hostile, mirror_factory):
    upstream = hostile()
    data = os.urandom(2 << 20)
    half = 1 << 20

    def other_bytes_then_whole(h, blob, attempt, start):
        start_body(h, 200, [("Content-Length", str(len(blob.data)))])
        if attempt == 0:
            send(h, blob, os.urandom(half))  # not the blob's bytes
            time.sleep(1.0)  # the reader takes them
            cut(h)
        else:
            send(h, blob, blob.data)  # Range ignored: the whole, right blob

    digest = upstream.add_blob(data, other_bytes_then_whole)
    wharf = mirror_for(mirror_factory, upstream.host, fill={"minrate": "1"})

    result = hashed_get(ns_blob(wharf, upstream, "resume/blob", digest), timeout=60)
    assert_failed(result, digest)
    gets = upstream.blob_gets(digest)
    assert len(gets) == 2 and gets[1]["range"], gets
    assert wait_for_empty_staging(wharf.root) == []
    assert stored_size(wharf.root, digest) is None

    again = hashed_get(ns_blob(wharf, upstream, "resume/blob", digest), timeout=60)
    assert len(upstream.blob_gets(digest)) == 3, "the blob was not fetched from upstream again"
    assert (again["status"], again["size"], again["digest"]) == (200, len(data), digest)


@pytest.mark.parametrize("lie", ["smaller-total", "larger-total", "wrong-start"])
def test_a_resume_with_a_lying_content_range_is_refused_at_once(hostile, mirror_factory, lie):
    upstream = hostile()
    size = (24 << 20) if lie == "wrong-start" else (2 << 20)
    data = os.urandom(size)
    first = 1 << 20

    def cut_then_lie(h, blob, attempt, start):
        n = len(blob.data)
        if attempt == 0:
            # No size declared; the connection drops after `first` bytes.
            start_body(h, 200, [("Transfer-Encoding", "chunked")])
            chunked(h, blob, pieces_of(blob.data), stop_after=first)
            return
        if lie == "smaller-total":
            total = n - 4096
            headers = [("Content-Range", f"bytes {start}-{total - 1}/{total}"), ("Transfer-Encoding", "chunked")]
            body = blob.data[start:]
        elif lie == "larger-total":
            total = n + 4096
            headers = [("Content-Range", f"bytes {start}-{total - 1}/{total}"), ("Transfer-Encoding", "chunked")]
            body = blob.data[start:]  # the right bytes, then the body ends short of the claimed total
        else:
            headers = [("Content-Range", f"bytes 0-{n - 1}/{n}"), ("Content-Length", str(n))]
            body = blob.data
        start_body(h, 206, headers)
        if any(k == "Transfer-Encoding" for k, _ in headers):
            chunked(h, blob, pieces_of(body))
        else:
            send(h, blob, body)

    digest = upstream.add_blob(data, cut_then_lie)
    wharf = mirror_for(mirror_factory, upstream.host, fill={"minrate": "1"})

    thread, box = in_thread(hashed_get, ns_blob(wharf, upstream, "resume/blob", digest), timeout=30)
    assert finished_within(thread, 15), "the reader of a lying resume was left hanging"
    assert_failed(box["result"], digest)
    assert wait_for_empty_staging(wharf.root) == []
    assert stored_size(wharf.root, digest) is None
    gets = upstream.blob_gets(digest)
    assert len(gets) == 2 and gets[1]["range"] == f"bytes={first}-", gets
    time.sleep(0.5)
    sent = upstream.blobs[digest].sent[1]
    if lie == "wrong-start":
        assert sent < size // 2, f"Wharf took {sent} bytes of a resume whose Content-Range starts at 0"

    hashed_get(ns_blob(wharf, upstream, "resume/blob", digest), timeout=30)
    assert len(upstream.blob_gets(digest)) == 3, "the blob was not fetched from upstream again"


# -- bodies read into memory ---------------------------------------------------------

def test_a_token_response_over_64_kib_is_refused_with_502(hostile, mirror_factory):
    upstream = hostile(token_size=200_000)
    data = os.urandom(4096)
    digest = upstream.add_blob(data, honest)
    wharf = mirror_for(mirror_factory, upstream.host)

    response = session().get(ns_blob(wharf, upstream, "token/blob", digest), timeout=30)
    assert upstream.token_gets(), "Wharf never asked the token server"
    assert response.status_code == 502, (response.status_code, response.text[:300])
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert "too large" in response.text, response.text[:300]
    assert not upstream.blob_gets(digest), "a blob was fetched with a token from an oversized answer"


def test_an_upstream_tag_list_over_its_bound_is_refused_with_502(hostile, mirror_factory):
    upstream = hostile(tag_pages=[3 << 20, 3 << 20, 3 << 20])
    wharf = mirror_for(mirror_factory, upstream.host)

    response = session().get(f"{wharf.base}/v2/big/tags/list?ns={upstream.host}", timeout=60)
    assert response.status_code == 502, (response.status_code, len(response.content))
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"
    assert "bytes" in response.text, response.text[:300]
