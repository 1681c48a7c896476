"""Client authentication and roles (`auth:`) over HTTP: the Bearer challenge's exact form,
Basic credentials and the bcrypt cache, 403 `DENIED` for a missing permission, Wharf's token
endpoint (GET and OAuth2 POST, subset grants, expiry, tampering, signing keys), anonymous pull,
the catalog, start-up and `check-config` checks of the htpasswd file, and the log.
Real clients (skopeo, podman, containerd, HTTPS) are in test_auth_clients.py.
"""

import os
import subprocess
import time

import pytest
import requests

from auth_support import USERS, as_user, auth_wharf, auth_wharf_factory, basic, claims_of, make_htpasswd, token_for  # noqa: F401
from conftest import free_port, registry_config, require_tool, wharf_binary
from mirror_support import yaml_text
from registry_client import error_codes


# -- challenges and credentials ------------------------------------------------


def test_requests_without_credentials_get_the_exact_bearer_challenge(auth_wharf):
    realm = f"http://{auth_wharf.host}/auth/token"
    base = auth_wharf.client.get("/v2/")
    assert base.status_code == 401
    assert base.headers["WWW-Authenticate"] == f'Bearer realm="{realm}",service="wharf"'
    assert error_codes(base) == ["UNAUTHORIZED"]

    pull = auth_wharf.client.get("/v2/team/app/manifests/v1")
    assert pull.status_code == 401
    assert pull.headers["WWW-Authenticate"] == f'Bearer realm="{realm}",service="wharf",scope="repository:team/app:pull"'
    assert pull.json()["errors"][0]["detail"] == [{"Type": "repository", "Name": "team/app", "Action": "pull"}]

    push = auth_wharf.client.post("/v2/team/app/blobs/uploads/")
    assert push.headers["WWW-Authenticate"] == (
        f'Bearer realm="{realm}",service="wharf",scope="repository:team/app:pull,push"')
    head = auth_wharf.client.head("/v2/team/app/manifests/v1")
    assert head.status_code == 401 and head.content == b""
    assert "scope=\"repository:team/app:pull\"" in head.headers["WWW-Authenticate"]
    # Some repositories are public here, so the catalog answers anonymous clients (listing only those).
    assert auth_wharf.client.get("/v2/_catalog").status_code == 200

    # The realm follows the Host the client used, and a TLS-terminating proxy's scheme.
    proxied = auth_wharf.client.get("/v2/", headers={"Host": "wharf.example:8443", "X-Forwarded-Proto": "https"})
    assert proxied.headers["WWW-Authenticate"] == 'Bearer realm="https://wharf.example:8443/auth/token",service="wharf"'


def test_the_realm_can_be_fixed_in_the_configuration(auth_wharf_factory):
    wharf = auth_wharf_factory(token={"realm": "https://registry.example/auth/token", "service": "edge"})
    assert wharf.client.get("/v2/").headers["WWW-Authenticate"] == (
        'Bearer realm="https://registry.example/auth/token",service="edge"')


def test_health_metrics_and_signed_blob_paths_are_not_behind_auth(auth_wharf):
    assert auth_wharf.client.get("/healthz").status_code == 200
    assert auth_wharf.client.get("/readyz").status_code == 200
    # Their own checks answer (not present here: 404), never the registry's 401.
    for path in ("/extensions/v2/metrics", "/docker/registry/v2/blobs/sha256/aa/" + "a" * 64 + "/data"):
        response = auth_wharf.client.get(path)
        assert response.status_code != 401 and "WWW-Authenticate" not in response.headers, (path, response.status_code)


def test_basic_credentials_work_directly_and_a_wrong_password_is_401(auth_wharf):
    assert as_user(auth_wharf, "alice").get("/v2/").status_code == 200
    wrong = as_user(auth_wharf, "alice", "alice-secret-1").get("/v2/")
    assert wrong.status_code == 401 and error_codes(wrong) == ["UNAUTHORIZED"]
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert as_user(auth_wharf, "mallory", "x").get("/v2/").status_code == 401

    token = requests.get(f"{auth_wharf.base}/auth/token", params={"service": "wharf"},
                         headers={"Authorization": basic("bob", "nope")}, timeout=30)
    assert token.status_code == 401 and error_codes(token) == ["UNAUTHORIZED"]
    assert token.headers["WWW-Authenticate"] == 'Basic realm="wharf-test"'


def test_the_password_cache_never_accepts_a_wrong_password(auth_wharf_factory):
    wharf = auth_wharf_factory(cost=10)
    alice = as_user(wharf, "alice")
    started = time.monotonic()
    assert alice.get("/v2/").status_code == 200
    first = time.monotonic() - started
    started = time.monotonic()
    for _ in range(20):
        assert alice.get("/v2/").status_code == 200
    cached = (time.monotonic() - started) / 20
    print(f"bcrypt cost 10: first request {first * 1000:.1f} ms, cached ones {cached * 1000:.2f} ms each")
    for wrong in ("alice-Secret-", "alice-Secret-1 ", "Alice-Secret-1", ""):
        assert as_user(wharf, "alice", wrong).get("/v2/").status_code == 401, repr(wrong)
    assert as_user(wharf, "bob", USERS["alice"]).get("/v2/").status_code == 401
    assert alice.get("/v2/").status_code == 200


def test_a_user_without_the_permission_is_denied_naming_repository_and_action(auth_wharf):
    image = as_user(auth_wharf, "alice").push_image("team/app", "v1")
    bob = as_user(auth_wharf, "bob")
    assert bob.get_manifest("team/app", "v1").content == image.body
    refused = bob.start_upload("team/app")
    assert refused.status_code == 403 and error_codes(refused) == ["DENIED"]
    assert 'user "bob" may not push to repository team/app' in refused.json()["errors"][0]["message"]
    deleted = bob.delete(f"/v2/team/app/manifests/{image.digest}")
    assert deleted.status_code == 403 and "may not delete from repository team/app" in deleted.text
    carol = as_user(auth_wharf, "carol")
    hidden = carol.get_manifest("team/app", "v1")
    assert hidden.status_code == 403 and "may not pull from repository team/app" in hidden.text


# -- the token endpoint --------------------------------------------------------


def test_the_token_endpoint_grants_only_the_permitted_subset(auth_wharf):
    issued = token_for(auth_wharf, "bob", "repository:team/app:pull,push", "repository:other/x:pull")
    assert set(issued) >= {"token", "access_token", "expires_in", "issued_at"}
    assert issued["token"] == issued["access_token"] and issued["expires_in"] == 300
    assert issued["issued_at"].endswith("Z")
    claims = claims_of(issued["token"])
    assert claims["sub"] == "bob" and claims["aud"] == "wharf"
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]

    alice = token_for(auth_wharf, "alice", "repository:team/app:pull,push")
    assert claims_of(alice["token"])["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]
    anonymous = token_for(auth_wharf, None, "repository:public/base:pull,push repository:team/app:pull")
    assert claims_of(anonymous["token"])["access"] == [{"type": "repository", "name": "public/base", "actions": ["pull"]}]
    bad = requests.get(f"{auth_wharf.base}/auth/token", params={"scope": "nonsense"}, timeout=10)
    assert bad.status_code == 400


def test_the_oauth2_post_form_as_containerd_sends_it(auth_wharf):
    form = {"grant_type": "password", "username": "bob", "password": USERS["bob"], "service": "wharf",
            "client_id": "containerd-client", "scope": "repository:team/app:pull,push repository:team/b:pull"}
    response = requests.post(f"{auth_wharf.base}/auth/token", data=form, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "repository:team/app:pull repository:team/b:pull"
    assert claims_of(body["access_token"])["sub"] == "bob"
    wrong = requests.post(f"{auth_wharf.base}/auth/token", data={**form, "password": "x"}, timeout=30)
    assert wrong.status_code == 401
    refresh = requests.post(f"{auth_wharf.base}/auth/token", data={"grant_type": "refresh_token", "refresh_token": "x",
                                                                   "service": "wharf", "client_id": "c"}, timeout=30)
    assert refresh.status_code == 400 and refresh.json()["error"] == "unsupported_grant_type"


def test_a_token_for_one_repository_does_not_open_another(auth_wharf):
    alice = as_user(auth_wharf, "alice")
    first = alice.push_image("team/a", "v1")
    alice.push_image("team/b", "v1")
    token = token_for(auth_wharf, "alice", "repository:team/a:pull")["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert auth_wharf.client.get_manifest("team/a", "v1").status_code == 401
    ok = auth_wharf.client.get(f"/v2/team/a/manifests/v1", headers={**bearer, "Accept": first.media_type})
    assert ok.status_code == 200 and ok.content == first.body
    other = auth_wharf.client.get("/v2/team/b/manifests/v1", headers=bearer)
    assert other.status_code == 401
    assert other.headers["WWW-Authenticate"].endswith('scope="repository:team/b:pull",error="insufficient_scope"')
    push = auth_wharf.client.post("/v2/team/a/blobs/uploads/", headers=bearer)
    assert push.status_code == 401, "the token grants pull only; alice must ask for a push token"
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    tampered = auth_wharf.client.get("/v2/team/a/manifests/v1", headers={"Authorization": f"Bearer {forged}"})
    assert tampered.status_code == 401 and tampered.headers["WWW-Authenticate"].endswith('error="invalid_token"')


def test_an_expired_token_is_refused(auth_wharf_factory):
    wharf = auth_wharf_factory(token={"expiration": "2s"})
    as_user(wharf, "alice").push_image("team/a", "v1")
    issued = token_for(wharf, "alice", "repository:team/a:pull")
    assert issued["expires_in"] == 2
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    assert wharf.client.get("/v2/team/a/tags/list", headers=bearer).status_code == 200
    time.sleep(2.5)
    expired = wharf.client.get("/v2/team/a/tags/list", headers=bearer)
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"].endswith('error="invalid_token"')


def test_a_configured_signing_key_keeps_tokens_valid_across_a_restart(auth_wharf_factory, tmp_path):
    key_file = tmp_path / "signing.key"
    key_file.write_text(os.urandom(32).hex() + "\n")
    token_settings = {"signingkeyfile": str(key_file)}
    first = auth_wharf_factory(token=token_settings)
    as_user(first, "alice").push_image("team/a", "v1")
    token = token_for(first, "alice", "repository:team/a:pull")["token"]
    first.stop()
    second = auth_wharf_factory(token=token_settings, root=first.root)
    assert second.client.get("/v2/team/a/tags/list", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # Without a configured key, each start makes its own: an old token is refused.
    third = auth_wharf_factory()
    assert third.client.get("/v2/", headers={"Authorization": f"Bearer {token}"}).status_code == 401


# -- anonymous pull and the catalog --------------------------------------------


def test_anonymous_pull_is_allowed_only_where_configured(auth_wharf, skopeo, tmp_path):
    alice = as_user(auth_wharf, "alice")
    public = alice.push_image("public/base", "v1")
    alice.push_image("team/app", "v1")
    anonymous = auth_wharf.client
    assert anonymous.walk("public/base", "v1")[0] == public.digest
    assert anonymous.get_manifest("team/app", "v1").status_code == 401
    assert anonymous.start_upload("public/base").status_code == 401
    # skopeo without credentials goes through the token flow with an anonymous token.
    skopeo("copy", "--src-tls-verify=false", f"docker://{auth_wharf.host}/public/base:v1", f"dir:{tmp_path / 'public'}")
    assert (tmp_path / "public" / "manifest.json").read_bytes() == public.body
    refused = skopeo("copy", "--src-tls-verify=false", f"docker://{auth_wharf.host}/team/app:v1",
                     f"dir:{tmp_path / 'team'}", check=False)
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower() or "authentication required" in refused.stderr.lower(), refused.stderr


def test_anonymous_pull_can_be_refused_everywhere(auth_wharf_factory):
    wharf = auth_wharf_factory(access={"anonymouspull": False})
    image = as_user(wharf, "bob").push_image("public/base", "v1")  # no rules: every user may write
    assert wharf.client.get_manifest("public/base", "v1").status_code == 401
    catalog = wharf.client.get("/v2/_catalog")
    assert catalog.status_code == 401
    assert catalog.headers["WWW-Authenticate"].endswith(',scope="registry:catalog:*"')
    assert as_user(wharf, "carol").get_manifest("public/base", "v1").content == image.body


def test_the_catalog_lists_only_repositories_the_user_may_pull(auth_wharf):
    alice = as_user(auth_wharf, "alice")
    for name in ("team/app", "shared/x", "secret/y", "public/base"):
        alice.push_image(name, "v1", layers=1)

    def catalog(client):
        response = client.get("/v2/_catalog")
        assert response.status_code == 200, response.text
        return response.json()["repositories"]

    assert catalog(alice) == ["public/base", "secret/y", "shared/x", "team/app"]
    assert catalog(as_user(auth_wharf, "bob")) == ["public/base", "shared/x", "team/app"]
    assert catalog(as_user(auth_wharf, "carol")) == ["public/base", "shared/x"]
    assert catalog(auth_wharf.client) == ["public/base"]
    token = token_for(auth_wharf, "bob", "registry:catalog:*")["token"]
    by_token = auth_wharf.client.get("/v2/_catalog", headers={"Authorization": f"Bearer {token}"})
    assert by_token.json()["repositories"] == ["public/base", "shared/x", "team/app"]


# -- start-up, check-config, environment, log ----------------------------------


def test_a_non_bcrypt_htpasswd_entry_stops_start_up(wharf_factory, tmp_path):
    htpasswd = tmp_path / "htpasswd"
    subprocess.run([require_tool("htpasswd"), "-c", "-b", "-m", str(htpasswd), "old", "md5-password"],
                   check=True, capture_output=True)
    store = tmp_path / "store"
    port = free_port()
    config = registry_config(store, port)
    config["auth"] = {"htpasswd": {"realm": "r", "path": str(htpasswd)}}
    wharf = wharf_factory(store, config_text=yaml_text(config), port=port, wait=False)
    assert wharf.process.wait(timeout=30) != 0
    assert f'{htpasswd} line 1 (user "old"): not a bcrypt hash' in wharf.log_text()
    assert "$apr1$" not in wharf.log_text(), "the hash is not echoed"


def test_check_config_reads_the_htpasswd_file(tmp_path):
    binary = wharf_binary()
    if not binary.exists():
        pytest.skip(f"Wharf binary not found at {binary}")
    good = make_htpasswd(tmp_path / "good", {"alice": USERS["alice"], "bob": USERS["bob"]})
    bad = tmp_path / "bad"
    bad.write_text("alice:plain-text\n")
    for path, ok, expected in ((good, True, f"auth: 2 user(s) in {good}"), (bad, False, "not a bcrypt hash"),
                               (tmp_path / "missing", False, "auth.htpasswd.path: cannot read")):
        config = registry_config(tmp_path / "store", free_port())
        config["auth"] = {"htpasswd": {"realm": "r", "path": str(path)}}
        config_path = tmp_path / "check.yml"
        config_path.write_text(yaml_text(config) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        result = subprocess.run([str(binary), "check-config", str(config_path)], capture_output=True, text=True,
                                timeout=30, env=env)
        assert (result.returncode == 0) == ok, result.stdout + result.stderr
        assert expected in result.stdout + result.stderr


def test_auth_can_be_turned_on_from_the_environment(wharf_factory, tmp_path):
    htpasswd = make_htpasswd(tmp_path / "htpasswd", {"alice": USERS["alice"]})
    wharf = wharf_factory(env={"REGISTRY_AUTH_HTPASSWD_PATH": str(htpasswd), "REGISTRY_AUTH_HTPASSWD_REALM": "env"},
                          wait=False)
    deadline = time.monotonic() + 30
    while wharf.running() and time.monotonic() < deadline:
        try:
            if wharf.client.get("/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.05)
    assert wharf.client.get("/v2/").status_code == 401
    assert as_user(wharf, "alice").get("/v2/").status_code == 200


def test_no_password_or_token_reaches_the_log(auth_wharf, skopeo, tmp_path):
    alice = as_user(auth_wharf, "alice")
    alice.push_image("team/app", "v1")
    token = token_for(auth_wharf, "alice", "repository:team/app:pull")["token"]
    auth_wharf.client.get("/v2/team/app/tags/list", headers={"Authorization": f"Bearer {token}"})
    as_user(auth_wharf, "bob", "a-wrong-Password").get("/v2/")
    requests.get(f"{auth_wharf.base}/auth/token?service=wharf&scope=repository:team/app:pull",
                 headers={"Authorization": basic("carol")}, timeout=10)
    skopeo("inspect", "--tls-verify=false", "--creds", f"alice:{USERS['alice']}", f"docker://{auth_wharf.host}/team/app:v1")
    text = auth_wharf.log_text()
    assert "/auth/token" in text, "the token endpoint's requests are logged (without their query)"
    for secret in [*USERS.values(), "a-wrong-Password", token, token.split(".")[2], basic("alice").split()[1]]:
        assert secret not in text, "a credential reached the log"


def test_requests_without_valid_credentials_are_refused_before_they_can_take_a_request_slot(auth_wharf_factory):
    # One read slot, no queue: while alice's download holds it, a client without credentials (or
    # with a wrong password) must get 401, not 429, and must not take the slot from the next user.
    wharf = auth_wharf_factory(sections={"openshift": {"requests": {"read": {"maxrunning": 1, "maxinqueue": 0}}}})
    alice = as_user(wharf, "alice")
    data = os.urandom(48 * 1024 * 1024)  # far more than the socket buffers: the send stays under way
    digest = alice.push_blob("team/app", data)
    held = alice.session.get(f"{wharf.base}/v2/team/app/blobs/{digest}", stream=True, timeout=60)
    assert held.status_code == 200
    try:
        anonymous = requests.get(f"{wharf.base}/v2/team/app/blobs/{digest}", timeout=30)
        assert anonymous.status_code == 401, (anonymous.status_code, anonymous.text[:300])
        assert error_codes(anonymous) == ["UNAUTHORIZED"]
        wrong = requests.get(f"{wharf.base}/v2/team/app/tags/list", headers={"Authorization": basic("bob", "not-his")}, timeout=30)
        assert wrong.status_code == 401, (wrong.status_code, wrong.text[:300])
        # an authenticated client over the limit is what the limiter is for
        bob = as_user(wharf, "bob").get(f"/v2/team/app/blobs/{digest}")
        assert bob.status_code == 429, (bob.status_code, bob.text[:300])
        assert error_codes(bob) == ["TOOMANYREQUESTS"]
    finally:
        received = sum(len(piece) for piece in held.iter_content(chunk_size=1 << 20))
        held.close()
    assert received == len(data)
