"""Shared by test_auth.py and test_auth_clients.py: users made with `htpasswd -B`, a Wharf with
an `auth:` section, clients that send Basic credentials, tokens from Wharf's token endpoint, and
podman as root with scratch storage.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import free_port, registry_config, require_tool
from mirror_support import yaml_text
from registry_client import Registry

USERS = {"alice": "alice-Secret-1", "bob": "bob:Secret-2", "carol": "carol-Secret-3"}
# alice writes everywhere; bob reads team/**; carol reads shared/* only; anyone pulls public/**.
RULES = [
    {"repositories": ["**"], "write": ["alice"]},
    {"repositories": ["team/**"], "read": ["bob"]},
    {"repositories": ["shared/*"], "read": ["*"]},
]
ENGINE_TIMEOUT = 180


def make_htpasswd(path, users, cost=5):
    htpasswd = require_tool("htpasswd")
    path.unlink(missing_ok=True)
    for user, password in users.items():
        args = [htpasswd, "-B", "-C", str(cost), "-b", "-i"] + (["-c"] if not path.exists() else []) + [str(path), user]
        subprocess.run(args, input=password, check=True, capture_output=True, text=True)
    return path


def basic(user, password=None):
    password = USERS[user] if password is None else password
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def auth_wharf_factory(wharf_factory, tmp_path):
    """start(access=..., token=..., users=..., sections=...) -> Wharf with `auth:` (and any other
    top-level `sections`); its `.client` sends no credentials. Readiness is polled on /healthz, which is never behind auth."""
    counter = [0]

    def start(*, access=None, token=None, users=USERS, cost=5, root=None, tls=None, sections=None):
        counter[0] += 1
        htpasswd = make_htpasswd(tmp_path / f"htpasswd-{counter[0]}", users, cost)
        auth = {"htpasswd": {"realm": "wharf-test", "path": str(htpasswd)}}
        if token is not None:
            auth["token"] = token
        auth["access"] = access if access is not None else {"rules": RULES, "anonymouspull": ["public/**"]}
        port = free_port()
        store = root or tmp_path / f"auth-{counter[0]}-store"
        config = registry_config(store, port)
        config["auth"] = auth
        config.update(sections or {})
        if tls is not None:
            config["http"]["tls"] = {"certificate": str(tls / "server.crt"), "key": str(tls / "server.key")}
        wharf = wharf_factory(store, config_text=yaml_text(config), port=port, wait=False)
        if tls is not None:
            wharf.client = Registry(f"https://{wharf.host}")
            wharf.client.session.verify = str(tls / "ca.crt")
        deadline = time.monotonic() + 30
        while True:
            try:
                if wharf.client.get("/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if not wharf.running() or time.monotonic() > deadline:
                raise AssertionError(f"Wharf with auth did not start:\n{wharf.log_text()[-3000:]}")
            time.sleep(0.05)
        wharf.htpasswd = htpasswd
        return wharf

    return start


@pytest.fixture
def auth_wharf(auth_wharf_factory):
    return auth_wharf_factory()


def as_user(wharf, user, password=None):
    client = Registry(wharf.client.base)
    client.session.verify = wharf.client.session.verify
    client.session.headers["Authorization"] = basic(user, password)
    return client


def token_for(wharf, user, *scopes, password=None):
    params = [("service", "wharf")] + [("scope", scope) for scope in scopes]
    headers = {"Authorization": basic(user, password)} if user else {}
    response = requests.get(f"{wharf.base}/auth/token", params=params, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def podman(tmp_path):
    """run(*args, check=True) -> CompletedProcess of podman as root with scratch storage and
    its own auth file; skips, with the reason, when podman cannot set up storage here."""
    binary = require_tool("podman")
    runroot = tempfile.mkdtemp(prefix="wharf-pa-")  # podman refuses a long runroot path
    base = [binary, "--root", str(tmp_path / "podman-root"), "--runroot", runroot, "--storage-driver", "vfs",
            "--tmpdir", str(tmp_path / "podman-tmp"), "--events-backend", "file", "--cgroup-manager", "cgroupfs"]
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(NO_PROXY="*", TMPDIR=str(tmp_path), REGISTRY_AUTH_FILE=str(tmp_path / "podman-auth.json"))

    def run(*args, check=True):
        result = subprocess.run([*base, *args], capture_output=True, text=True, timeout=ENGINE_TIMEOUT, env=env)
        if check and result.returncode != 0:
            if "cannot" in result.stderr.lower() and "storage" in result.stderr.lower():
                pytest.skip(f"podman cannot set up storage here: {result.stderr.strip()[-400:]}")
            pytest.fail(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    run.authfile = tmp_path / "podman-auth.json"
    yield run
    shutil.rmtree(runroot, ignore_errors=True)
