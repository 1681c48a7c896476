"""Notifications: registry events in Distribution's format POSTed to webhook endpoints
(`notifications.endpoints`), for pushes, pulls (also through the mirror) and deletes; per
endpoint filters; retries; and a dead endpoint never slows a request."""

import signal
import time

import pytest

from conftest import free_port, registry_config
from mirror_support import yaml_text
from notification_support import EventListener, is_event
from registry_client import OCI_MANIFEST, sha256_digest

EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
BLOB_MEDIA_TYPE = "application/octet-stream"


@pytest.fixture
def listeners():
    started = []

    def start(**mode):
        listener = EventListener(**mode)
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def endpoint(name, url, **extra):
    entry = {"name": name, "url": url, "timeout": "2s", "threshold": 2, "backoff": "200ms"}
    entry.update(extra)
    return entry


def start_wharf(wharf_factory, tmp_path, endpoints, *, extra=None, root=None):
    root = root or tmp_path / f"store-{len(endpoints)}-{time.monotonic_ns()}"
    port = free_port()
    config = registry_config(root, port)
    config["notifications"] = {"endpoints": endpoints}
    for key, value in (extra or {}).items():
        config[key] = value
    return wharf_factory(root, config_text=yaml_text(config), port=port)


def test_push_pull_and_delete_events_reach_the_endpoint(wharf_factory, tmp_path, listeners):
    listener = listeners()
    quiet = listeners()
    wharf = start_wharf(wharf_factory, tmp_path, [
        endpoint("all", listener.url, headers={"Authorization": ["Bearer hook-secret"], "X-Wharf-Test": "yes"}),
        endpoint("quiet", quiet.url, ignoredmediatypes=[BLOB_MEDIA_TYPE], ignore={"actions": ["pull"]}),
    ])
    client = wharf.client
    client.session.headers["User-Agent"] = "wharf-notification-test/1"

    image = client.push_image("team/app", "v1", layers=2)

    # The manifest push, with every field a Distribution listener reads.
    pushes = listener.wait_for(is_event("push", "team/app", image.digest))
    assert len(pushes) == 1, listener.events()
    event = pushes[0]
    target = event["target"]
    assert target["mediaType"] == OCI_MANIFEST
    assert target["tag"] == "v1"
    assert target["size"] == len(image.body) and target["length"] == len(image.body)
    assert target["url"] == f"http://{wharf.host}/v2/team/app/manifests/{image.digest}"
    assert event["request"]["method"] == "PUT"
    assert event["request"]["useragent"] == "wharf-notification-test/1"
    assert event["request"]["host"] == wharf.host
    assert event["request"]["addr"] == "127.0.0.1"
    assert event["request"]["id"] and event["id"] and event["timestamp"].endswith("Z")
    assert event["source"]["addr"].endswith(f":{wharf.port}") and event["source"]["instanceID"]
    assert event["actor"] == {}

    # Blob pushes: the layers and the config, as application/octet-stream with their size.
    for digest, data in image.blobs.items():
        found = listener.wait_for(is_event("push", "team/app", digest))
        assert len(found) == 1, (digest, listener.events())
        assert found[0]["target"]["mediaType"] == BLOB_MEDIA_TYPE
        assert found[0]["target"]["size"] == len(data)

    # The envelope's media type and the configured headers.
    post = listener.posts[0]
    assert post["path"] == "/events"
    assert post["headers"]["content-type"] == EVENTS_MEDIA_TYPE
    assert post["headers"]["authorization"] == "Bearer hook-secret"
    assert post["headers"]["x-wharf-test"] == "yes"

    # Pulls: a manifest by tag and a blob by GET; a HEAD is not a pull.
    layer = next(iter(image.blobs))
    assert client.head(f"/v2/team/app/blobs/{layer}").status_code == 200
    assert client.get_manifest("team/app", "v1").status_code == 200
    response = client.get_blob("team/app", layer)
    assert response.status_code == 200 and sha256_digest(response.content) == layer
    pulled = listener.wait_for(is_event("pull", "team/app", image.digest))
    assert len(pulled) == 1 and pulled[0]["target"]["tag"] == "v1" and pulled[0]["request"]["method"] == "GET"
    blob_pulls = listener.wait_for(is_event("pull", "team/app", layer))
    assert len(blob_pulls) == 1, "a HEAD made a pull event, or the GET made none"
    assert blob_pulls[0]["target"]["size"] == len(image.blobs[layer])
    assert blob_pulls[0]["target"]["mediaType"] == BLOB_MEDIA_TYPE

    # A cross-repository mount names the repository the blob came from.
    mounted = client.post(f"/v2/other/app/blobs/uploads/?mount={layer}&from=team/app", headers={"Content-Length": "0"})
    assert mounted.status_code == 201
    mounts = listener.wait_for(is_event("mount", "other/app", layer))
    assert len(mounts) == 1 and mounts[0]["target"]["fromRepository"] == "team/app"
    assert mounts[0]["target"]["size"] == len(image.blobs[layer])

    # Deletes: the manifest by digest.
    assert client.delete(f"/v2/team/app/manifests/{image.digest}").status_code == 202
    deleted = listener.wait_for(lambda e: e["action"] == "delete" and e["target"].get("digest") == image.digest)
    assert len(deleted) == 1
    assert deleted[0]["target"]["repository"] == "team/app" and "mediaType" not in deleted[0]["target"]

    # The filtered endpoint got the manifest push and the delete, no blob and no pull events.
    quiet.wait_for(lambda e: e["action"] == "delete", timeout=10)
    seen = [(e["action"], e["target"].get("mediaType")) for e in quiet.accepted_events()]
    assert sorted(seen, key=str) == sorted([("push", OCI_MANIFEST), ("delete", None)], key=str), seen


def test_a_failing_endpoint_gets_the_event_after_retries(wharf_factory, tmp_path, listeners):
    listener = listeners(fail=3)
    wharf = start_wharf(wharf_factory, tmp_path, [endpoint("flaky", listener.url, threshold=1, backoff="300ms")])
    digest = wharf.client.push_blob("retry/blob", b"retried event")

    delivered = listener.wait_for(is_event("push", "retry/blob", digest))
    assert len(delivered) == 1
    attempts = [p for p in listener.posts]
    assert len(attempts) == 4, f"{len(attempts)} posts for one event"
    # threshold 1: every retry waits the backoff.
    gaps = [b["at"] - a["at"] for a, b in zip(attempts, attempts[1:])]
    assert all(gap >= 0.25 for gap in gaps), gaps
    assert "notification delivery failed" in wharf.log_text()


def test_a_dead_endpoint_never_slows_a_push(wharf_factory, tmp_path, listeners):
    hanging = listeners(hang=True)
    live = listeners()
    closed_port = free_port()  # nothing listens there
    wharf = start_wharf(wharf_factory, tmp_path, [
        endpoint("hanging", hanging.url, timeout="30s"),
        endpoint("closed", f"http://127.0.0.1:{closed_port}/events", timeout="30s"),
        endpoint("live", live.url),
    ])
    client = wharf.client

    started = time.monotonic()
    images = [client.push_image(f"dead/app{i}", "v1", layers=3) for i in range(3)]
    elapsed = time.monotonic() - started
    # 15 uploads and 3 manifests: waiting on a 30 s endpoint even once would blow this bound.
    assert elapsed < 10, f"pushing with a dead endpoint took {elapsed:.1f}s"
    for image in images:
        assert client.get_manifest(image.repo, "v1").status_code == 200
        assert live.wait_for(is_event("push", image.repo, image.digest)), f"{image.repo}: no event at the live endpoint"
    assert hanging.posts, "the hanging endpoint was never tried"
    assert "notification delivery failed" in wharf.log_text()


def test_pulls_through_the_mirror_are_events(docker_registry, wharf_factory, tmp_path, listeners):
    listener = listeners()
    image = docker_registry.client.push_image("library/tool", "1.0", layers=1)
    wharf = start_wharf(wharf_factory, tmp_path, [endpoint("mirror", listener.url)],
                        extra={"proxy": {"remoteurl": f"http://{docker_registry.host}"}})

    manifest = wharf.client.get_manifest("library/tool", "1.0")
    assert manifest.status_code == 200 and manifest.content == image.body
    layer = next(iter(image.blobs))
    blob = wharf.client.get_blob("library/tool", layer)
    assert blob.status_code == 200 and sha256_digest(blob.content) == layer

    pulled = listener.wait_for(is_event("pull", "library/tool", image.digest))
    assert len(pulled) == 1 and pulled[0]["target"]["tag"] == "1.0"
    assert pulled[0]["target"]["mediaType"] == image.media_type
    blob_pulls = listener.wait_for(is_event("pull", "library/tool", layer))
    assert len(blob_pulls) == 1 and blob_pulls[0]["target"]["size"] == len(image.blobs[layer])


def test_queued_events_are_flushed_at_shutdown(wharf_factory, tmp_path, listeners):
    slow = listeners(delay=0.4)
    wharf = start_wharf(wharf_factory, tmp_path, [endpoint("slow", slow.url)])
    digests = [wharf.client.push_blob("flush/blob", f"blob {i}".encode()) for i in range(4)]
    # Four events at 0.4 s each: most are still queued when the signal comes.
    wharf.process.send_signal(signal.SIGTERM)
    assert wharf.process.wait(timeout=15) == 0
    delivered = {e["target"]["digest"] for e in slow.accepted_events() if e["action"] == "push"}
    assert delivered == set(digests), f"{len(delivered)} of 4 events delivered before exit"


def test_events_name_the_authenticated_user_as_the_actor(wharf_factory, tmp_path, listeners):
    from auth_support import RULES, USERS, basic, make_htpasswd, token_for

    listener = listeners()
    htpasswd = make_htpasswd(tmp_path / "htpasswd", USERS)
    root = tmp_path / "auth-store"
    port = free_port()
    config = registry_config(root, port)
    config["notifications"] = {"endpoints": [endpoint("all", listener.url)]}
    config["auth"] = {"htpasswd": {"realm": "wharf-test", "path": str(htpasswd)},
                      "access": {"rules": RULES, "anonymouspull": ["public/**"]}}
    # /v2/ answers 401 with auth on: wait for /healthz instead.
    wharf = wharf_factory(root, config_text=yaml_text(config), port=port, wait=False)
    deadline = time.monotonic() + 30
    while requests_get(f"{wharf.base}/healthz", None, quiet=True) is None:
        assert time.monotonic() < deadline, wharf.log_text()[-2000:]
        time.sleep(0.05)
    alice = wharf.client
    alice.session.headers["Authorization"] = basic("alice")
    pushed = alice.push_image("public/app", "v1", layers=1)
    by_basic = listener.wait_for(is_event("push", "public/app", pushed.digest))
    assert [event["actor"] for event in by_basic] == [{"name": "alice"}]

    # A token from Wharf's token endpoint names its subject; an anonymous pull names no one.
    token = token_for(wharf, "bob", "repository:public/app:pull")["token"]
    with_token = requests_get(f"{wharf.base}/v2/team/none/manifests/v1", token)
    assert with_token.status_code in (401, 403)  # bob's token is for public/app only
    pulled = requests_get(f"{wharf.base}/v2/public/app/manifests/v1", token)
    assert pulled.status_code == 200, pulled.text
    anonymous = requests_get(f"{wharf.base}/v2/public/app/manifests/{pushed.digest}", None)
    assert anonymous.status_code == 200, anonymous.text
    pulls = listener.wait_for(is_event("pull", "public/app", pushed.digest), count=2)
    assert sorted(json_dumps(event["actor"]) for event in pulls) == ['{"name": "bob"}', "{}"]


def requests_get(url, token, quiet=False):
    import requests

    headers = {"Accept": OCI_MANIFEST}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    session = requests.Session()
    session.trust_env = False
    try:
        return session.get(url, headers=headers, timeout=10)
    except requests.ConnectionError:
        if quiet:
            return None
        raise


def json_dumps(value):
    import json

    return json.dumps(value, sort_keys=True)
