"""Helpers for the CDN tests (test_cdn.py): RSA key pairs minted with openssl, URLs signed
with `wharf sign-url`, CloudFront's URL-safe base64, origin and edge configs, and the
digests named by the servers' "blob redirected to the CDN" / "blob fetched from origin"
log lines.

Everything talks to 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from conftest import LOOPBACK, wharf_binary

KEY_PAIR_ID = "KTEST"
REDIRECTED = "blob redirected to the CDN"
FETCHED = "blob fetched from origin"
REFUSED = "signed URL refused"
DIGEST_FIELD = re.compile(r"\boci\.digest=(sha256:[0-9a-f]{64})\b")
REASON_FIELD = re.compile(r"\breason=(\S+)")
COMMAND_TIMEOUT = 60


def mint_key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """`openssl genrsa` 2048-bit private key and its SPKI public key: (private, public) paths."""
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / f"{name}-private.pem"
    public = directory / f"{name}-public.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"],
                   check=True, capture_output=True, timeout=COMMAND_TIMEOUT)
    subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout", "-out", str(public)],
                   check=True, capture_output=True, timeout=COMMAND_TIMEOUT)
    return private, public


def sign_url(private_key: Path, url: str, *, key_pair_id: str = KEY_PAIR_ID, expires_in: int | None = None,
             hash_algorithm: str | None = None, client_ip: str | None = None,
             not_before: int | None = None) -> str:
    """The URL `wharf sign-url` prints (raises with its output when it fails)."""
    argv = [str(wharf_binary()), "sign-url", "--private-key", str(private_key), "--key-pair-id", key_pair_id]
    if expires_in is not None:
        argv += ["--expires-in", str(expires_in)]
    if hash_algorithm is not None:
        argv += ["--hash-algorithm", hash_algorithm]
    if client_ip is not None:
        argv += ["--client-ip", client_ip]
    if not_before is not None:
        argv.append(f"--not-before={not_before}")
    argv.append(url)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"sign-url printed {result.stdout!r}"
    return lines[0]


def cloudfront_b64decode(text: str) -> bytes:
    """CloudFront's URL-safe base64 back to bytes: `-`→`+`, `_`→`=`, `~`→`/`."""
    standard = text.replace("-", "+").replace("_", "=").replace("~", "/")
    return base64.b64decode(standard, validate=True)


def split_signed(url: str) -> tuple[str, list[tuple[str, str]]]:
    """(the URL before `?`, [(name, value) of every query parameter, in order])."""
    base, _, query = url.partition("?")
    params = []
    for item in query.split("&") if query else []:
        name, _, value = item.partition("=")
        params.append((name, value))
    return base, params


def param(url: str, name: str) -> str:
    values = [value for key, value in split_signed(url)[1] if key == name]
    assert len(values) == 1, f"{url} has {len(values)} {name} parameters"
    return values[0]


def with_param(url: str, name: str, value: str) -> str:
    """`url` with the value of its (single) `name` parameter replaced."""
    base, params = split_signed(url)
    assert [key for key, _ in params].count(name) == 1, f"{url} has no single {name}"
    return base + "?" + "&".join(f"{key}={value if key == name else old}" for key, old in params)


def custom_policy(url: str) -> dict:
    """The decoded `Policy` parameter of a custom-policy URL."""
    return json.loads(cloudfront_b64decode(param(url, "Policy")))


def canned_policy(resource: str, expires: int) -> bytes:
    """The canned policy CloudFront rebuilds from a URL and its `Expires`, byte for byte."""
    return ('{"Statement":[{"Resource":"' + resource + '","Condition":{"DateLessThan":{"AWS:EpochTime":'
            + str(expires) + "}}}]}").encode()


def iso8601(epoch: int) -> str:
    """Unix seconds as Foundation's ISO8601DateFormatter prints them (UTC, `Z`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def storage_path(digest: str) -> str:
    """Distribution's storage path of a blob, as the CDN URL carries it."""
    algorithm, hex_part = digest.split(":", 1)
    return f"docker/registry/v2/blobs/{algorithm}/{hex_part[:2]}/{hex_part}/data"


def edge_url(edge_port: int, digest: str) -> str:
    return f"http://{LOOPBACK}:{edge_port}/{storage_path(digest)}"


def signed_location_pattern(edge_port: int, digest: str) -> re.Pattern:
    """A canned-policy Location for `digest` under the edge base URL, as the origin signs it."""
    return re.compile(
        re.escape(edge_url(edge_port, digest))
        + r"\?Expires=(\d+)&Signature=([A-Za-z0-9~_-]+)&Key-Pair-Id=" + re.escape(KEY_PAIR_ID) + r"$"
    )


# -- configs ----------------------------------------------------------------

def base_config(root: Path, port: int) -> dict:
    return {
        "version": 0.1,
        "log": {"level": "info"},
        "http": {"addr": f"{LOOPBACK}:{port}"},
        "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
    }


def origin_config(root: Path, port: int, edge_port: int, private_key: Path, *, redirect_disabled: bool = False,
                  options: dict | None = None) -> dict:
    """An origin redirecting blob downloads to signed URLs under the edge's address."""
    config = base_config(root, port)
    cloudfront = {
        "baseurl": f"http://{LOOPBACK}:{edge_port}/",
        "privatekey": str(private_key),
        "keypairid": KEY_PAIR_ID,
        "duration": "5m",
    }
    cloudfront.update(options or {})
    config["middleware"] = {"storage": [{"name": "cloudfront", "options": cloudfront}]}
    if redirect_disabled:
        config["storage"]["redirect"] = {"disable": True}
    return config


def edge_config(root: Path, port: int, origin_port: int, public_key: Path) -> dict:
    """An edge that trusts KTEST's public key and fills from the origin."""
    config = base_config(root, port)
    config["cdn"] = {"edge": {
        "origin": f"http://{LOOPBACK}:{origin_port}",
        "keys": [{"keypairid": KEY_PAIR_ID, "publickey": str(public_key)}],
    }}
    return config


# -- logs -------------------------------------------------------------------

def logged_digests(log_text: str, message: str) -> list[str]:
    """The `oci.digest` of every log line whose message is `message`, in order."""
    out = []
    for line in log_text.splitlines():
        if line.rstrip().endswith("] " + message):
            match = DIGEST_FIELD.search(line)
            assert match is not None, f"no oci.digest in {line!r}"
            out.append(match.group(1))
    return out


def refusal_reasons(log_text: str) -> list[str]:
    out = []
    for line in log_text.splitlines():
        if line.rstrip().endswith("] " + REFUSED):
            match = REASON_FIELD.search(line)
            out.append(match.group(1) if match else "")
    return out


def wait_for_digests(server, message: str, at_least: int, timeout: float = 15.0) -> list[str]:
    """Poll `server`'s log until `at_least` lines with `message` are there (or time runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        digests = logged_digests(server.log_text(), message)
        if len(digests) >= at_least or time.monotonic() > deadline:
            return digests
        time.sleep(0.05)


def host_of(url: str) -> str:
    return urlsplit(url).netloc
