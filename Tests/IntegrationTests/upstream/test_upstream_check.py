"""`wharf check-upstream` end to end: the diagnosis an operator reads for an untrusted CA, a wrong
password and a missing repository, against docker-registry upstreams (upstream_registry.py).

The binary is $WHARF_CHECK_UPSTREAM, else .build/debug/wharf-check-upstream (the temporary target),
else .build/debug/wharf with the `check-upstream` subcommand once it is registered there.
"""
import json, os, subprocess, tempfile
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def command():
    if os.environ.get("WHARF_CHECK_UPSTREAM"):
        return [os.environ["WHARF_CHECK_UPSTREAM"]]
    standalone = os.path.join(ROOT, ".build/debug/wharf-check-upstream")
    if os.path.exists(standalone):
        return [standalone]
    return [os.path.join(ROOT, ".build/debug/wharf"), "check-upstream"]


class Upstream:
    def __init__(self, flavour):
        self.tmp = tempfile.TemporaryDirectory(prefix="wharf-upstream-py-")
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "upstream_registry.py"), flavour, self.tmp.name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline())

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.tmp.cleanup()

    def check(self, target_suffix, *args):
        target = self.info["registry"] + target_suffix
        return subprocess.run(command() + [target, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def tls_basic():
    u = Upstream("tls-basic")
    yield u
    u.stop()


@pytest.fixture(scope="module")
def token():
    u = Upstream("token")
    yield u
    u.stop()


def test_upstream_check_ok_prints_each_step(token):
    r = token.check("/test/app:v1", "--username", "wharf", "--password", "s3cret-pass", "--ca-dir", "/nonexistent")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "CA directory searched: /nonexistent/" in out
    assert 'challenge: Bearer realm="' in out
    assert "token: GET " in out and "token received (not shown)" in out
    assert token.info["manifest_digest"] in out and "application/vnd.oci.image.manifest.v1+json" in out
    assert "eyJ" not in out  # the JWT never shows


def test_upstream_check_untrusted_ca(tls_basic):
    empty = tempfile.mkdtemp()
    r = tls_basic.check("/test/app:v1", "--ca-dir", empty, "--username", "wharf", "--password", "s3cret-pass")
    assert r.returncode == 1
    last = r.stdout.strip().splitlines()[-1]
    assert "FAILED at step 'connect' (tls)" in last
    assert "not trusted" in last
    assert f"searched {empty}/{tls_basic.info['registry']} for CA certificates: none found" in last


def test_upstream_check_trusted_with_ca_dir(tls_basic):
    r = tls_basic.check("/test/app:v1", "--ca-dir", tls_basic.info["certs_dir"], "--username", "wharf", "--password", "s3cret-pass")
    assert r.returncode == 0, r.stdout
    assert "certificate trusted" in r.stdout


def test_upstream_check_wrong_password_basic(tls_basic):
    r = tls_basic.check("/test/app:v1", "--ca-dir", tls_basic.info["certs_dir"], "--username", "wharf", "--password", "nope")
    assert r.returncode == 1
    assert "FAILED at step 'manifest' (unauthorized): wrong credentials" in r.stdout


def test_upstream_check_wrong_password_token_via_auth_file(token, tmp_path):
    import base64
    auth = base64.b64encode(b"wharf:nope").decode()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"auths": {token.info["registry"]: {"auth": auth}}}))
    r = token.check("/test/app:v1", "--auth-file", str(cfg))
    assert r.returncode == 1
    assert "credentials: user wharf (from auth file" in r.stdout
    assert "FAILED at step 'token' (unauthorized): wrong credentials: the token server" in r.stdout


def test_upstream_check_missing_repository(token):
    r = token.check("/no/such-repo:v1", "--username", "wharf", "--password", "s3cret-pass")
    assert r.returncode == 1
    assert "FAILED at step 'manifest' (notFound): repository no/such-repo not found" in r.stdout


def test_upstream_check_insecure_skips_verification(tls_basic):
    r = tls_basic.check("/test/app:v1", "--insecure", "--ca-dir", "/nonexistent", "--username", "wharf", "--password", "s3cret-pass")
    assert r.returncode == 0, r.stdout
    assert "insecure: certificate verification off" in r.stdout
    assert f"GET https://{tls_basic.info['registry']}/v2/ answered 401" in r.stdout
