"""Real clients against a Wharf with `auth:`: skopeo with --creds (push with a write user,
pull with a reader, a reader's push refused with DENIED), `podman login` + push + pull,
containerd's OAuth2 POST, HTTPS with a CA from certs/create-dev-certs, and a Wharf mirror whose
upstream is a Wharf with auth.
"""

import json
import shutil
import subprocess

from auth_support import ENGINE_TIMEOUT, USERS, as_user, auth_wharf, auth_wharf_factory, podman  # noqa: F401
from conftest import REPO_ROOT, require_tool


def test_skopeo_pushes_and_pulls_with_a_write_user_and_a_reader_cannot_push(auth_wharf, docker_registry, skopeo, tmp_path):
    source = docker_registry.client.push_multiarch("src/app", "v1")
    alice = f"alice:{USERS['alice']}"
    skopeo("copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
           "--dest-creds", alice, f"docker://{docker_registry.host}/src/app:v1", f"docker://{auth_wharf.host}/team/app:v1")
    pushed = as_user(auth_wharf, "alice").walk("team/app", "v1")
    assert pushed[0] == source.digest
    assert pushed[1] == source.all_manifests()
    assert pushed[2] == source.all_blobs()

    # bob reads team/**: he pulls byte-identical content, with his own token.
    out = tmp_path / "pulled"
    skopeo("copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--src-creds", f"bob:{USERS['bob']}",
           f"docker://{auth_wharf.host}/team/app:v1", f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == source.body
    for digest, body in source.all_blobs().items():
        assert (out / digest.split(":", 1)[1]).read_bytes() == body

    # ... and may not push.
    refused = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"bob:{USERS['bob']}", f"dir:{out}",
                     f"docker://{auth_wharf.host}/team/bobs:v1", check=False)
    assert refused.returncode != 0
    print(refused.stderr.strip().splitlines()[-1])
    assert "denied" in refused.stderr.lower(), refused.stderr
    assert "may not push to repository team/bobs" in refused.stderr, refused.stderr
    assert as_user(auth_wharf, "alice").get_manifest("team/bobs", "v1").status_code == 404

    # A wrong password fails the copy with 401, not a partial push.
    wrong = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:wrong", f"dir:{out}",
                   f"docker://{auth_wharf.host}/team/wrong:v1", check=False)
    assert wrong.returncode != 0 and ("unauthorized" in wrong.stderr.lower() or "401" in wrong.stderr), wrong.stderr


def test_podman_login_push_and_pull(auth_wharf, podman):
    image = as_user(auth_wharf, "alice").push_image("team/app", "v1", docker=True)
    wrong = podman("login", "--tls-verify=false", "-u", "alice", "-p", "not-it", auth_wharf.host, check=False)
    assert wrong.returncode != 0, wrong.stdout
    podman("login", "--tls-verify=false", "-u", "alice", "-p", USERS["alice"], auth_wharf.host)
    assert auth_wharf.host in json.loads(podman.authfile.read_text())["auths"]
    reference = f"{auth_wharf.host}/team/app:v1"
    podman("pull", "--tls-verify=false", reference)
    assert podman("image", "inspect", "--format", "{{.Digest}}", reference).stdout.strip() == image.digest
    copy = f"{auth_wharf.host}/team/podman-copy:v1"
    podman("tag", reference, copy)
    podman("push", "--tls-verify=false", copy)
    pushed = as_user(auth_wharf, "alice").walk("team/podman-copy", "v1")
    assert set(pushed[2]) == set(image.blobs), "podman pushed other layers than it pulled"

    # bob logs in (he may read) but his push is refused.
    podman("logout", auth_wharf.host)
    podman("login", "--tls-verify=false", "-u", "bob", "-p", USERS["bob"], auth_wharf.host)
    podman("tag", reference, f"{auth_wharf.host}/team/bobs:v1")
    refused = podman("push", "--tls-verify=false", f"{auth_wharf.host}/team/bobs:v1", check=False)
    assert refused.returncode != 0 and "denied" in refused.stderr.lower(), refused.stderr


def test_containerd_pulls_with_credentials_through_the_oauth2_post(auth_wharf, tmp_path):
    ctr = require_tool("ctr")
    from test_mirror_engines import clean_env, start_containerd, stop

    image = as_user(auth_wharf, "alice").push_image("team/app", "v1")
    process, socket_path = start_containerd(tmp_path)
    try:
        base = [ctr, "--address", str(socket_path), "--namespace", "wharf-auth"]
        reference = f"{auth_wharf.host}/team/app:v1"

        def pull(*args):
            return subprocess.run([*base, "image", "pull", "--plain-http", "--snapshotter", "native", *args, reference],
                                  capture_output=True, text=True, timeout=ENGINE_TIMEOUT, env=clean_env())

        anonymous = pull()
        assert anonymous.returncode != 0, anonymous.stdout
        pulled = pull("--user", f"bob:{USERS['bob']}")
        assert pulled.returncode == 0, f"{pulled.stdout}\n{pulled.stderr}"
        listed = subprocess.run([*base, "image", "ls"], capture_output=True, text=True, timeout=60, env=clean_env())
        assert image.digest in next(line for line in listed.stdout.splitlines() if line.startswith(reference))
        posts = [line for line in auth_wharf.log_text().splitlines()
                 if "http.method=POST" in line and "http.path=/auth/token" in line]
        assert posts and all("http.status=200" in line for line in posts), "containerd asks with the OAuth2 POST form"
    finally:
        stop(process)
        shutil.rmtree(tmp_path / "ctrd-state", ignore_errors=True)


def test_login_push_and_pull_over_https_with_the_dev_ca(auth_wharf_factory, docker_registry, skopeo, podman, tmp_path):
    certs = tmp_path / "certs"
    subprocess.run([str(REPO_ROOT / "certs/create-dev-certs"), str(certs), "127.0.0.1", "localhost"],
                   check=True, capture_output=True, text=True)
    wharf = auth_wharf_factory(tls=certs)
    challenge = wharf.client.get("/v2/")
    assert challenge.headers["WWW-Authenticate"] == f'Bearer realm="https://{wharf.host}/auth/token",service="wharf"'
    cert_dir = tmp_path / "cert-dir"
    cert_dir.mkdir()
    shutil.copy(certs / "ca.crt", cert_dir / "ca.crt")

    source = docker_registry.client.push_image("src/app", "v1", docker=True)
    skopeo("copy", "--src-tls-verify=false", "--dest-cert-dir", str(cert_dir), "--dest-creds", f"alice:{USERS['alice']}",
           f"docker://{docker_registry.host}/src/app:v1", f"docker://{wharf.host}/team/tls:v1")
    assert as_user(wharf, "alice").walk("team/tls", "v1")[0] == source.digest

    podman("login", "--cert-dir", str(cert_dir), "-u", "bob", "-p", USERS["bob"], wharf.host)
    podman("pull", "--cert-dir", str(cert_dir), f"{wharf.host}/team/tls:v1")
    assert podman("image", "inspect", "--format", "{{.Digest}}", f"{wharf.host}/team/tls:v1").stdout.strip() == source.digest


def test_a_wharf_mirror_pulls_from_a_wharf_with_auth_through_the_token_flow(auth_wharf, mirror_factory):
    image = as_user(auth_wharf, "alice").push_image("team/app", "v1")
    upstream = {"registry": auth_wharf.host, "username": "bob", "password": USERS["bob"], "insecure": True}
    mirror = mirror_factory(mirror={"allowunlisted": False, "upstreams": [upstream]})
    ns = f"?ns={auth_wharf.host}"
    manifest = mirror.client.get_manifest("team/app", "v1" + ns)
    assert manifest.status_code == 200 and manifest.content == image.body, manifest.text
    for digest, body in image.blobs.items():
        assert mirror.client.get(f"/v2/team/app/blobs/{digest}{ns}").content == body
    asked = [line for line in auth_wharf.log_text().splitlines() if "http.path=/auth/token" in line]
    assert asked and all("http.status=200" in line for line in asked)

    wrong = mirror_factory(mirror={"allowunlisted": False, "upstreams": [{**upstream, "password": "wrong"}]})
    refused = wrong.client.get_manifest("team/app", "v1" + ns)
    assert refused.status_code == 401 and "refused the credentials of user bob" in refused.text, refused.text
