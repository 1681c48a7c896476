"""OpenShift ImageStreams (`openshift.imagestreams.directory`): a repository `<namespace>/<name>`
with a stream is served from the stream's candidates only, in OpenShift's order, with the
namespace's pull secret; a digest outside the stream is refused without upstream contact; a
stream edited on disk is served without a restart."""

import base64
import json
import time

from mirror_support import access_lines, wait_for_lines
from registry_client import error_codes, sha256_digest


def stream_object(namespace, name, tags, *, insecure_tags=()):
    """tags: {tag: [(dockerImageReference, image digest), ...]} newest first."""
    return {
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"tags": [
            {"name": tag, "from": {"kind": "DockerImage", "name": items[0][0]},
             "importPolicy": {"insecure": tag in insecure_tags}, "referencePolicy": {"type": "Local"}}
            for tag, items in tags.items()
        ]},
        "status": {"tags": [
            {"tag": tag, "items": [
                {"created": f"2024-01-0{9 - i}T00:00:00Z", "dockerImageReference": ref, "image": image, "generation": 1}
                for i, (ref, image) in enumerate(items)
            ]}
            for tag, items in tags.items()
        ]},
    }


def stream_yaml(stream) -> str:
    """The same object as YAML, written by hand the way `oc get -o yaml` lays it out."""
    lines = ["apiVersion: image.openshift.io/v1", "kind: ImageStream", "metadata:",
             f"  name: {stream['metadata']['name']}", f"  namespace: {stream['metadata']['namespace']}", "spec:", "  tags:"]
    for tag in stream["spec"]["tags"]:
        lines += [f'  - name: "{tag["name"]}"', f"    from: {{kind: DockerImage, name: \"{tag['from']['name']}\"}}",
                  f"    importPolicy: {{insecure: {str(tag['importPolicy']['insecure']).lower()}}}"]
    lines += ["status:", "  tags:"]
    for tag in stream["status"]["tags"]:
        lines += [f'  - tag: "{tag["tag"]}"', "    items:"]
        for item in tag["items"]:
            lines += [f"    - created: \"{item['created']}\"", f"      dockerImageReference: {item['dockerImageReference']}",
                      f"      image: \"{item['image']}\"", "      generation: 1"]
    return "\n".join(lines) + "\n"


def write_stream(directory, stream, *, as_yaml=False):
    folder = directory / stream["metadata"]["namespace"]
    folder.mkdir(parents=True, exist_ok=True)
    name = stream["metadata"]["name"]
    path = folder / (f"{name}.yaml" if as_yaml else f"{name}.json")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(stream_yaml(stream) if as_yaml else json.dumps(stream, indent=2))
    tmp.rename(path)  # atomic, as `oc`-style tooling writes
    return path


def write_pull_secret(directory, namespace, registry, username, password):
    folder = directory / namespace
    folder.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    (folder / ".dockerconfigjson").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))


def streams_wharf(mirror_factory, directory, *, mirror=None, policy=None):
    sections = {"openshift": {"imagestreams": {"directory": str(directory)}}}
    if policy:
        sections["policy"] = policy
    return mirror_factory(mirror=mirror, sections=sections)


def copy_image(image, registry, repo, tag):
    """The same image (byte for byte) pushed to another registry."""
    for body in image.blobs.values():
        registry.client.push_blob(repo, body)
    assert registry.client.push_manifest_ok(repo, tag, image.body, image.media_type) == image.digest


def new_lines(upstream, start):
    time.sleep(0.5)
    return [l for l in upstream.log_text().splitlines()[start:] if '"GET /' in l or '"HEAD /' in l]


def test_a_layer_missing_on_the_first_candidate_comes_from_the_second_with_one_get(docker_registry_factory, mirror_factory, tmp_path):
    first, second = docker_registry_factory(), docker_registry_factory()
    image = first.client.push_image("team/app", "v1")
    copy_image(image, second, "team/app", "v1")
    layer = next(d for d in image.blobs if d != json.loads(image.body)["config"]["digest"])
    assert first.client.delete(f"/v2/team/app/blobs/{layer}").status_code == 202  # the first lacks the layer now
    streams = tmp_path / "streams"
    write_stream(streams, stream_object("proj", "app", {"v1": [
        (f"{first.host}/team/app@{image.digest}", image.digest),    # newest: primary candidate
        (f"{second.host}/team/app@{image.digest}", image.digest),   # older: secondary candidate
    ]}))
    # A second stream with the same candidates, to see the digest→repository cache at work.
    write_stream(streams, stream_object("proj", "twin", {"v1": [
        (f"{first.host}/team/app@{image.digest}", image.digest),
        (f"{second.host}/team/app@{image.digest}", image.digest),
    ]}))
    wharf = streams_wharf(mirror_factory, streams)

    manifest = wharf.client.get_manifest("proj/app", "v1")
    assert manifest.status_code == 200 and manifest.content == image.body, manifest.text
    for digest, body in image.blobs.items():
        blob = wharf.client.get_blob("proj/app", digest)
        assert blob.status_code == 200 and blob.content == body, f"{digest}: {blob.status_code} {blob.text[:300]}"

    first_heads = wait_for_lines(first.log_text, "HEAD", f"/v2/team/app/blobs/{layer}", 1)
    assert [int(l.split('" ')[1][:3]) for l in first_heads] == [404], first_heads
    gets = wait_for_lines(second.log_text, "GET", f"/v2/team/app/blobs/{layer}", 1)
    time.sleep(0.3)
    assert len(access_lines(second.log_text(), "GET", f"/v2/team/app/blobs/{layer}")) == 1, gets
    assert access_lines(first.log_text(), "GET", f"/v2/team/app/blobs/{layer}") == []
    # Served again: from the store, no upstream request at all.
    marks = (len(first.log_text().splitlines()), len(second.log_text().splitlines()))
    again = wharf.client.get_blob("proj/app", layer)
    assert again.status_code == 200 and sha256_digest(again.content) == layer
    assert new_lines(first, marks[0]) == [] and new_lines(second, marks[1]) == []
    # Through the twin: the cache knows the second holds the layer, so the first is not asked again.
    assert wharf.client.get_manifest("proj/twin", "v1").status_code == 200
    twin = wharf.client.get_blob("proj/twin", layer)
    assert twin.status_code == 200 and sha256_digest(twin.content) == layer
    assert [l for l in new_lines(first, marks[0]) if layer in l] == []
    assert len(access_lines(second.log_text(), "GET", f"/v2/team/app/blobs/{layer}")) == 1


def test_a_digest_outside_the_stream_is_unknown_without_upstream_contact(docker_registry_factory, mirror_factory, tmp_path):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    other = upstream.client.push_image("team/app", "other")  # same upstream repository, not in the stream
    streams = tmp_path / "streams"
    write_stream(streams, stream_object("proj", "app", {"v1": [(f"{upstream.host}/team/app@{image.digest}", image.digest)]}))
    wharf = streams_wharf(mirror_factory, streams)
    assert wharf.client.get_manifest("proj/app", "v1").status_code == 200  # the stream's manifest is now kept

    start = len(upstream.log_text().splitlines())
    foreign_manifest = wharf.client.get_manifest("proj/app", other.digest)
    print(f"foreign manifest: {foreign_manifest.status_code} {foreign_manifest.text}")
    assert foreign_manifest.status_code == 404 and error_codes(foreign_manifest) == ["MANIFEST_UNKNOWN"]
    for digest in other.blobs:
        if digest in image.blobs:
            continue
        foreign_blob = wharf.client.get_blob("proj/app", digest)
        assert foreign_blob.status_code == 404 and error_codes(foreign_blob) == ["BLOB_UNKNOWN"], foreign_blob.text
        assert wharf.client.head(f"/v2/proj/app/blobs/{digest}").status_code == 404
    missing_tag = wharf.client.get_manifest("proj/app", "other")
    assert missing_tag.status_code == 404 and error_codes(missing_tag) == ["MANIFEST_UNKNOWN"]
    assert new_lines(upstream, start) == [], "the upstream was contacted for a digest outside the stream"


def test_each_namespace_pulls_with_its_own_pull_secret(basic_upstream, mirror_factory, tmp_path):
    info = basic_upstream.info
    reference = f"{basic_upstream.host}/test/app@{info['manifest_digest']}"
    streams = tmp_path / "streams"
    for namespace in ("withsecret", "nosecret"):
        write_stream(streams, stream_object(namespace, "app", {"v1": [(reference, info["manifest_digest"])]}))
    write_pull_secret(streams, "withsecret", basic_upstream.host, info["username"], info["password"])
    write_pull_secret(streams, "other", basic_upstream.host, info["username"], info["password"])  # a third namespace's
    wharf = streams_wharf(mirror_factory, streams, mirror={"certsdirectory": info["certs_dir"]})

    ok = wharf.client.get_manifest("withsecret/app", "v1")
    assert ok.status_code == 200 and sha256_digest(ok.content) == info["manifest_digest"], ok.text
    layer = wharf.client.get_blob("withsecret/app", info["layer_digest"])
    assert layer.status_code == 200 and sha256_digest(layer.content) == info["layer_digest"]

    refused = wharf.client.get_manifest("nosecret/app", "v1")
    print(f"namespace without a pull secret: {refused.status_code} {refused.text}")
    assert refused.status_code == 401 and error_codes(refused) == ["UNAUTHORIZED"], refused.text
    assert basic_upstream.host in refused.json()["errors"][0]["message"]
    blob = wharf.client.get_blob("nosecret/app", info["layer_digest"])
    assert blob.status_code == 401 and error_codes(blob) == ["UNAUTHORIZED"], blob.text


def test_a_stream_edited_on_disk_serves_its_new_tag_without_a_restart(docker_registry_factory, mirror_factory, tmp_path):
    upstream = docker_registry_factory()
    v1 = upstream.client.push_image("team/app", "v1")
    v2 = upstream.client.push_image("team/app", "v2")
    streams = tmp_path / "streams"
    stream = stream_object("proj", "app", {"v1": [(f"{upstream.host}/team/app@{v1.digest}", v1.digest)]})
    write_stream(streams, stream, as_yaml=True)
    wharf = streams_wharf(mirror_factory, streams)
    assert wharf.client.get_manifest("proj/app", "v1").content == v1.body
    assert wharf.client.get_manifest("proj/app", "v2").status_code == 404

    edited = stream_object("proj", "app", {
        "v1": [(f"{upstream.host}/team/app@{v1.digest}", v1.digest)],
        "v2": [(f"{upstream.host}/team/app@{v2.digest}", v2.digest)],
    })
    write_stream(streams, edited, as_yaml=True)
    deadline = time.monotonic() + 15
    while True:
        response = wharf.client.get_manifest("proj/app", "v2")
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 200 and response.content == v2.body, response.text
    assert wharf.running(), "Wharf restarted"
    tags = wharf.client.get("/v2/proj/app/tags/list")
    assert tags.status_code == 200 and tags.json() == {"name": "proj/app", "tags": ["v1", "v2"]}, tags.text


def test_a_candidate_on_a_blocked_registry_is_never_contacted(docker_registry_factory, mirror_factory, tmp_path):
    blocked, allowed = docker_registry_factory(), docker_registry_factory()
    image = blocked.client.push_image("team/app", "v1")
    copy_image(image, allowed, "team/app", "v1")
    streams = tmp_path / "streams"
    write_stream(streams, stream_object("proj", "app", {"v1": [
        (f"{blocked.host}/team/app@{image.digest}", image.digest),
        (f"{allowed.host}/team/app@{image.digest}", image.digest),
    ]}))
    write_stream(streams, stream_object("proj", "only", {"v1": [(f"{blocked.host}/team/app@{image.digest}", image.digest)]}))
    wharf = streams_wharf(mirror_factory, streams, policy={"registries": {"block": [blocked.host]}})
    start = len(blocked.log_text().splitlines())

    response = wharf.client.get_manifest("proj/app", "v1")
    assert response.status_code == 200 and response.content == image.body, response.text
    for digest, body in image.blobs.items():
        assert wharf.client.get_blob("proj/app", digest).content == body
    refused = wharf.client.get_manifest("proj/only", "v1")
    assert refused.status_code == 403 and error_codes(refused) == ["DENIED"], refused.text
    assert f'block "{blocked.host}"' in refused.json()["errors"][0]["message"]
    assert new_lines(blocked, start) == [], "a blocked candidate was contacted"


def test_acceptschema2_false_refuses_docker_schema2_pushes_into_stream_repositories(docker_registry_factory, mirror_factory, tmp_path):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    streams = tmp_path / "streams"
    write_stream(streams, stream_object("proj", "app", {"v1": [(f"{upstream.host}/team/app@{image.digest}", image.digest)]}))
    wharf = mirror_factory(
        middleware={"repository": [{"name": "openshift", "options": {"acceptschema2": False}}]},
        sections={"openshift": {"imagestreams": {"directory": str(streams)}}},
    )
    docker_image = wharf.client.push_image("plain/app", "v1", docker=True)  # no stream there: accepted
    refused = wharf.client.push_manifest("proj/app", "pushed", docker_image.body, docker_image.media_type)
    print(f"schema2 into a stream repository: {refused.status_code} {refused.text}")
    assert refused.status_code == 400 and error_codes(refused) == ["MANIFEST_INVALID"], refused.text
    assert "acceptschema2: false" in refused.json()["errors"][0]["message"]
    wharf.client.push_image("proj/app", "oci")  # OCI manifests are not schema 2: accepted


class RateLimitedRegistry:
    """A registry on loopback that answers the `/v2/` ping and 429 TOOMANYREQUESTS to everything else."""

    def __init__(self):
        import http.server
        import threading

        requests_seen = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                requests_seen.append(f"{self.command} {self.path}")
                if self.path == "/v2/":
                    body, status = b"{}", 200
                else:
                    body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
                    status = 429
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", "7")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_429_candidate_is_skipped_and_reported_as_toomanyrequests_when_none_has_it(docker_registry_factory, mirror_factory, tmp_path):
    limited = RateLimitedRegistry()
    try:
        upstream = docker_registry_factory()
        image = upstream.client.push_image("team/app", "v1")
        layer = next(d for d in image.blobs if d != json.loads(image.body)["config"]["digest"])
        streams = tmp_path / "streams"
        write_stream(streams, stream_object("proj", "app", {"v1": [
            (f"{limited.host}/team/app@{image.digest}", image.digest),   # primary: rate limited
            (f"{upstream.host}/team/app@{image.digest}", image.digest),  # secondary: has everything
        ]}))
        wharf = streams_wharf(mirror_factory, streams)
        manifest = wharf.client.get_manifest("proj/app", "v1")
        assert manifest.status_code == 200 and manifest.content == image.body, manifest.text
        assert any(r.startswith("GET /v2/team/app/manifests/") for r in limited.requests), limited.requests

        assert upstream.client.delete(f"/v2/team/app/blobs/{layer}").status_code == 202  # now nobody has the layer
        response = wharf.client.get_blob("proj/app", layer)
        print(f"429 from one candidate, 404 from the other: {response.status_code} {response.text}")
        assert response.status_code == 429 and error_codes(response) == ["TOOMANYREQUESTS"], response.text
        assert limited.host in response.json()["errors"][0]["message"]
        assert response.headers.get("Retry-After") == "7"
    finally:
        limited.stop()


def test_a_stream_blob_removed_from_the_store_is_fetched_again(docker_registry_factory, mirror_factory, tmp_path):
    # What a retention sweep (or an operator) leaves: the repository's link, no blob.
    from mirror_support import wait_for_blob
    from registry_client import blob_path

    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    layer = max(image.blobs, key=lambda d: len(image.blobs[d]))
    streams = tmp_path / "streams"
    write_stream(streams, stream_object("proj", "app", {"v1": [(f"{upstream.host}/team/app@{image.digest}", image.digest)]}))
    wharf = streams_wharf(mirror_factory, streams)
    assert wharf.client.get_manifest("proj/app", "v1").status_code == 200
    first = wharf.client.get_blob("proj/app", layer)
    assert first.status_code == 200 and first.content == image.blobs[layer]
    assert wait_for_blob(wharf.root, layer, len(image.blobs[layer])) == len(image.blobs[layer])
    blob_path(wharf.root, layer).unlink()

    again = wharf.client.get_blob("proj/app", layer)
    assert again.status_code == 200, again.text
    assert sha256_digest(again.content) == layer
    assert len(wait_for_lines(upstream.log_text, "GET", f"/v2/team/app/blobs/{layer}", 2)) == 2
