"""The ImageStream admin API (`openshift.imagestreams.admintoken`): PUT/GET/DELETE of a stream
and an ImageStreamImport that resolves a `DockerImage` tag upstream with one HEAD and records
it, as `oc import-image` does."""

import json
import time

from mirror_support import access_lines, session

TOKEN = "admin-token-for-tests"
API = "/apis/image.openshift.io/v1/namespaces"


def api_wharf(mirror_factory, tmp_path, *, token=TOKEN, policy=None):
    streams = tmp_path / "streams"
    streams.mkdir(exist_ok=True)
    imagestreams = {"directory": str(streams)}
    if token:
        imagestreams["admintoken"] = token
    sections = {"openshift": {"imagestreams": imagestreams}}
    if policy:
        sections["policy"] = policy
    return mirror_factory(sections=sections), streams


def call(wharf, method, path, *, token=TOKEN, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return session().request(method, wharf.base + API + path, headers=headers, timeout=30, **kw)


def stream_json(name, ref, digest):
    return {
        "kind": "ImageStream", "apiVersion": "image.openshift.io/v1", "metadata": {"name": name},
        "spec": {"tags": [{"name": "v1", "from": {"kind": "DockerImage", "name": ref}}]},
        "status": {"tags": [{"tag": "v1", "items": [{"dockerImageReference": ref, "image": digest}]}]},
    }


def import_request(name, ref, tag="v1"):
    return {"kind": "ImageStreamImport", "apiVersion": "image.openshift.io/v1", "metadata": {"name": name},
            "spec": {"import": True, "images": [{"from": {"kind": "DockerImage", "name": ref}, "to": {"name": tag}}]}}


def test_the_api_needs_the_admin_token_and_is_off_without_one(mirror_factory, tmp_path):
    wharf, _ = api_wharf(mirror_factory, tmp_path)
    for token in (None, "wrong"):
        response = call(wharf, "GET", "/proj/imagestreams", token=token)
        assert response.status_code == 401, response.text
        assert response.json()["kind"] == "Status" and response.json()["reason"] == "Unauthorized"
    assert call(wharf, "GET", "/proj/imagestreams").json() == {"kind": "ImageStreamList", "apiVersion": "image.openshift.io/v1", "items": []}
    off, _ = api_wharf(mirror_factory, tmp_path, token=None)
    assert call(off, "GET", "/proj/imagestreams").status_code == 404
    assert call(wharf, "GET", "/proj/imagestreams/a..b").status_code == 404


def test_put_get_delete_of_a_stream(docker_registry_factory, mirror_factory, tmp_path):
    upstream = docker_registry_factory()
    image = upstream.client.push_image("team/app", "v1")
    wharf, streams = api_wharf(mirror_factory, tmp_path)
    ref = f"{upstream.host}/team/app@{image.digest}"

    put = call(wharf, "PUT", "/proj/imagestreams/app", json=stream_json("app", ref, image.digest))
    assert put.status_code == 201, put.text
    assert (streams / "proj" / "app.json").is_file()
    got = call(wharf, "GET", "/proj/imagestreams/app")
    assert got.status_code == 200 and got.json()["metadata"] == {"name": "app", "namespace": "proj"}, got.text
    assert got.json()["status"]["tags"][0]["items"][0]["image"] == image.digest
    assert [s["metadata"]["name"] for s in call(wharf, "GET", "/proj/imagestreams").json()["items"]] == ["app"]
    assert wharf.client.get_manifest("proj/app", "v1").content == image.body

    wrong = call(wharf, "PUT", "/proj/imagestreams/other", json=stream_json("app", ref, image.digest))
    assert wrong.status_code == 400, wrong.text

    assert call(wharf, "DELETE", "/proj/imagestreams/app").status_code == 200
    assert call(wharf, "GET", "/proj/imagestreams/app").status_code == 404
    assert call(wharf, "DELETE", "/proj/imagestreams/app").status_code == 404
    assert not (streams / "proj" / "app.json").exists()
    assert wharf.client.get_manifest("proj/app", "v1").status_code == 404


def test_import_resolves_the_tag_with_one_head_and_records_a_new_item(docker_registry_factory, mirror_factory, tmp_path):
    upstream = docker_registry_factory()
    first = upstream.client.push_image("team/app", "v1")
    wharf, _ = api_wharf(mirror_factory, tmp_path)
    ref = f"{upstream.host}/team/app:v1"

    response = call(wharf, "POST", "/proj/imagestreamimports", json=import_request("app", ref))
    assert response.status_code == 201, response.text
    result = response.json()["status"]["images"][0]
    assert result["status"]["status"] == "Success", result
    assert result["image"]["metadata"]["name"] == first.digest
    time.sleep(0.3)
    log = upstream.log_text()
    assert len(access_lines(log, "HEAD", "/v2/team/app/manifests/v1")) == 1
    assert access_lines(log, "GET", "/v2/team/app/manifests/v1") == []
    assert wharf.client.get_manifest("proj/app", "v1").content == first.body

    second = upstream.client.push_image("team/app", "v1")  # the tag moves upstream
    again = call(wharf, "POST", "/proj/imagestreamimports", json=import_request("app", ref))
    assert again.json()["status"]["images"][0]["image"]["metadata"]["name"] == second.digest
    items = call(wharf, "GET", "/proj/imagestreams/app").json()["status"]["tags"][0]["items"]
    assert [item["image"] for item in items] == [second.digest, first.digest]
    assert items[0]["dockerImageReference"] == f"{upstream.host}/team/app@{second.digest}"
    assert wharf.client.get_manifest("proj/app", "v1").content == second.body


def test_import_from_a_blocked_registry_fails_without_upstream_contact(docker_registry_factory, mirror_factory, tmp_path):
    upstream = docker_registry_factory()
    upstream.client.push_image("team/app", "v1")
    wharf, streams = api_wharf(mirror_factory, tmp_path, policy={"registries": {"block": [upstream.host]}})
    start = len(upstream.log_text().splitlines())
    response = call(wharf, "POST", "/proj/imagestreamimports", json=import_request("app", f"{upstream.host}/team/app:v1"))
    assert response.status_code == 201, response.text
    result = response.json()["status"]["images"][0]
    assert result["status"]["status"] == "Failure" and result["status"]["reason"] == "DENIED", result
    assert f'block "{upstream.host}"' in result["status"]["message"]
    time.sleep(0.3)
    assert upstream.log_text().splitlines()[start:] == []
    assert not (streams / "proj" / "app.json").exists()


def test_fields_wharf_does_not_model_survive_a_put_and_an_import(docker_registry_factory, mirror_factory, tmp_path):
    # What a cluster or a user writes (labels, uid, annotations on tags, conditions) must come
    # back as written, also after Wharf rewrote the file for an import.
    upstream = docker_registry_factory()
    first = upstream.client.push_image("team/app", "v1")
    wharf, streams = api_wharf(mirror_factory, tmp_path)
    ref = f"{upstream.host}/team/app@{first.digest}"
    body = stream_json("app", ref, first.digest)
    body["metadata"].update({"labels": {"team": "payments"}, "uid": "0b1c-uid", "resourceVersion": "4711"})
    body["spec"]["lookupPolicy"] = {"local": True}
    body["spec"]["tags"][0]["annotations"] = {"openshift.io/imported-from": "upstream"}
    body["status"]["dockerImageRepository"] = "image-registry.openshift-image-registry.svc:5000/proj/app"
    body["status"]["tags"][0]["conditions"] = [{"type": "ImportSuccess", "status": "True"}]
    body["status"]["tags"][0]["items"][0]["generation"] = 3
    assert call(wharf, "PUT", "/proj/imagestreams/app", json=body).status_code == 201

    def unmodeled_fields_are_there(stream):
        assert stream["metadata"]["labels"] == {"team": "payments"} and stream["metadata"]["uid"] == "0b1c-uid"
        assert stream["metadata"]["resourceVersion"] == "4711"
        assert stream["spec"]["lookupPolicy"] == {"local": True}
        assert stream["spec"]["tags"][0]["annotations"] == {"openshift.io/imported-from": "upstream"}
        assert stream["status"]["dockerImageRepository"].endswith("/proj/app")
        assert stream["status"]["tags"][0]["conditions"] == [{"type": "ImportSuccess", "status": "True"}]

    unmodeled_fields_are_there(call(wharf, "GET", "/proj/imagestreams/app").json())
    unmodeled_fields_are_there(json.loads((streams / "proj" / "app.json").read_text()))

    second = upstream.client.push_image("team/app", "v1")
    imported = call(wharf, "POST", "/proj/imagestreamimports", json=import_request("app", f"{upstream.host}/team/app:v1"))
    assert imported.json()["status"]["images"][0]["status"]["status"] == "Success", imported.text
    after = call(wharf, "GET", "/proj/imagestreams/app").json()
    unmodeled_fields_are_there(after)
    items = after["status"]["tags"][0]["items"]
    assert [item["image"] for item in items] == [second.digest, first.digest]
    assert items[1]["generation"] == 3  # the older item keeps what it had
    assert [s["metadata"].get("labels") for s in call(wharf, "GET", "/proj/imagestreams").json()["items"]] == [{"team": "payments"}]
