"""OpenShift's request limits (openshift.requests.read|write): over the limit a request gets
429 TOOMANYREQUESTS with Retry-After, admitted ones are served whole, a slot is held until the
body has been sent, and health probes and the metrics scrape are never limited.

A "held" download is a streamed GET whose body the client does not read yet: the blob is far
bigger than the socket buffers, so Wharf is still sending it and still holds its slot."""

import hashlib
import os
import threading
import time

from metrics_support import METRICS_PATH, SECRET, metrics_section, scrape, session, start_wharf, value
from registry_client import error_codes

BLOB = 48 * 1024 * 1024
BURST = 6


def push_big_blob(wharf) -> tuple[str, bytes]:
    data = os.urandom(BLOB)
    return wharf.client.push_blob("limits/app", data), data


def hold(wharf, digest):
    """Starts a blob GET and leaves its body unread: the response object, headers received."""
    response = session().get(f"{wharf.base}/v2/limits/app/blobs/{digest}", stream=True, timeout=60)
    assert response.status_code == 200, response.status_code
    return response


def finish(response, digest: str) -> int:
    hasher = hashlib.sha256()
    size = 0
    for piece in response.iter_content(chunk_size=1 << 20):
        hasher.update(piece)
        size += len(piece)
    response.close()
    assert "sha256:" + hasher.hexdigest() == digest
    return size


def assert_too_many(response, retry_after: str = "1"):
    assert response.status_code == 429, (response.status_code, response.content[:300])
    assert response.headers["Retry-After"] == retry_after
    if response.request.method != "HEAD":
        assert error_codes(response) == ["TOOMANYREQUESTS"], response.text


def burst(count: int, send) -> list:
    """`count` concurrent calls of send(i), released together; their results in order."""
    results = [None] * count
    gate = threading.Barrier(count)

    def run(i):
        gate.wait(timeout=30)
        try:
            results[i] = send(i)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_reads_over_the_limit_get_429_while_the_admitted_one_is_served_whole(wharf_factory, tmp_path):
    wharf = start_wharf(wharf_factory, tmp_path, "limited", openshift={
        **metrics_section(),
        "requests": {"read": {"maxrunning": 1, "maxinqueue": 0}},
    })
    digest, data = push_big_blob(wharf)
    blob = f"{wharf.base}/v2/limits/app/blobs/{digest}"

    held = hold(wharf, digest)
    results = burst(BURST, lambda i: session().get(blob, timeout=30))
    for response in results:
        assert not isinstance(response, Exception), response
        assert_too_many(response)
    assert_too_many(session().head(blob, timeout=30))
    assert_too_many(session().get(f"{wharf.base}/v2/", timeout=30))

    # Never limited: health probes and the metrics scrape.
    for path in ("/healthz", "/readyz"):
        assert session().get(wharf.base + path, timeout=10).status_code == 200, path
    samples = scrape(wharf)
    assert value(samples, "wharf_request_limiter_running", kind="read") == 1
    assert value(samples, "wharf_request_limiter_rejections_total", kind="read", reason="queue_full") == BURST + 2
    # Writes have their own (here unlimited) class.
    assert wharf.client.start_upload("limits/app").status_code == 202

    assert finish(held, digest) == len(data)
    # The slot is free again once the body has been sent.
    deadline = time.monotonic() + 10
    while True:
        again = session().get(blob, timeout=60)
        if again.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert again.status_code == 200 and again.content == data


def test_concurrent_slow_downloads_each_get_their_whole_blob_or_a_429(wharf_factory, tmp_path):
    wharf = start_wharf(wharf_factory, tmp_path, "burst", openshift={
        "requests": {"read": {"maxrunning": 2, "maxinqueue": 0}},
    })
    digest, data = push_big_blob(wharf)
    blob = f"{wharf.base}/v2/limits/app/blobs/{digest}"
    release = threading.Event()

    def slow_client(i):
        response = session().get(blob, stream=True, timeout=60)
        if response.status_code != 200:
            response.content  # noqa: B018 - read the error body
            return response, None
        # Admitted: hold the slot until every client has had its answer.
        release.wait(timeout=30)
        return response, finish(response, digest)

    answered = []
    clients = BURST + 2

    def watcher():
        # The rejected clients return at once; then the admitted ones may read.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(1 for r in answered if r) < clients - 2:
            time.sleep(0.05)
        release.set()

    def counted(i):
        result = slow_client(i)
        answered.append(result[0].status_code == 429)
        return result

    threading.Thread(target=watcher, daemon=True).start()
    results = burst(clients, counted)
    release.set()
    statuses = []
    for result in results:
        assert not isinstance(result, Exception), result
        response, size = result
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert size == len(data)
        else:
            assert_too_many(response)
    assert sorted(statuses) == [200, 200] + [429] * (clients - 2), statuses


def test_a_queued_read_waits_for_a_slot_and_gives_up_after_maxwaitinqueue(wharf_factory):
    # Configured through OpenShift's environment variables.
    wharf = wharf_factory(env={
        "REGISTRY_OPENSHIFT_REQUESTS_READ_MAXRUNNING": "1",
        "REGISTRY_OPENSHIFT_REQUESTS_READ_MAXINQUEUE": "1",
        "REGISTRY_OPENSHIFT_REQUESTS_READ_MAXWAITINQUEUE": "2s",
    })
    digest, data = push_big_blob(wharf)
    blob = f"{wharf.base}/v2/limits/app/blobs/{digest}"

    # Queued behind a held download that never ends in time: refused after 2 s.
    held = hold(wharf, digest)
    outcome = {}

    def queued():
        started = time.monotonic()
        outcome["response"] = session().get(blob, timeout=30)
        outcome["waited"] = time.monotonic() - started

    waiter = threading.Thread(target=queued)
    waiter.start()
    time.sleep(0.5)
    # The queue (one place) is full: refused at once.
    started = time.monotonic()
    assert_too_many(session().get(blob, timeout=30), retry_after="2")
    assert time.monotonic() - started < 1.0
    waiter.join(timeout=30)
    assert_too_many(outcome["response"], retry_after="2")
    assert 1.8 <= outcome["waited"] < 5, outcome["waited"]

    # Queued behind a download that ends within the wait: it gets the slot and the whole blob.
    def late_finish():
        time.sleep(0.5)
        finish(held, digest)

    finisher = threading.Thread(target=late_finish)
    finisher.start()
    queued()
    finisher.join(timeout=30)
    assert outcome["response"].status_code == 200
    assert outcome["response"].content == data
    assert outcome["waited"] >= 0.4


def test_healthz_is_never_limited_and_writes_have_their_own_limit(wharf_factory, tmp_path):
    wharf = start_wharf(wharf_factory, tmp_path, "writes", openshift={
        **metrics_section(),
        "requests": {"write": {"maxrunning": 1, "maxinqueue": 0}, "read": {"maxrunning": 1, "maxinqueue": 0}},
    })
    digest, _ = push_big_blob(wharf)
    held = hold(wharf, digest)
    results = burst(BURST, lambda i: session().get(wharf.base + ("/healthz" if i % 2 else "/readyz"), timeout=10))
    assert [r.status_code for r in results] == [200] * BURST
    metrics = session().get(wharf.base + METRICS_PATH, headers={"Authorization": f"Bearer {SECRET}"}, timeout=10)
    assert metrics.status_code == 200
    # The read slot is taken; a write is still admitted.
    assert wharf.client.start_upload("limits/app").status_code == 202
    finish(held, digest)
