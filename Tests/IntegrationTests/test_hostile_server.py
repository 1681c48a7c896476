"""Hostile clients against a real Wharf: slowloris heads, idle and trickling connections,
more connections than `http.maxconnections`, `Expect: 100-continue` before authorization,
password probing by timing and by costly hashes, forged log lines, and TLS client
certificates and minimum versions (`http.tls.clientcas`, `http.tls.minimumtls`)."""

import re
import select
import shutil
import socket
import ssl
import statistics
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from auth_support import auth_wharf_factory, basic, make_htpasswd  # noqa: F401 (fixture)
from conftest import LOOPBACK, free_port, registry_config, to_yaml, wharf_binary

ROOT = Path(__file__).resolve().parents[2]


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def connect(port, timeout=5.0):
    sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
    return sock


def closed_by_peer(sock, wait):
    """True if the server closes `sock` within `wait` seconds (EOF or reset)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            continue
        try:
            if sock.recv(65536) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def read_response(sock, timeout=10):
    """Reads one response head (and a Content-Length body); returns (status, headers, body)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0")) if status >= 200 else 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


# MARK: timeouts


def test_slowloris_half_headers_are_closed_within_the_header_timeout_and_memory_stays_flat(wharf_factory):
    wharf = wharf_factory(extra={"http": {"timeouts": {"header": "2s", "idle": "2s"}}})
    for _ in range(20):
        requests.get(f"{wharf.base}/v2/", timeout=10)
    baseline = rss_kib(wharf.pid)
    sockets = []
    try:
        for index in range(500):
            sock = connect(wharf.port)
            sock.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {wharf.host}\r\nUser-Agent: slow-{index}\r\nX-Pad: ".encode())
            sockets.append(sock)
        opened = time.monotonic()
        time.sleep(0.5)
        peak = rss_kib(wharf.pid)
        still_open = list(sockets)
        deadline = opened + 2 + 4  # the timeout plus slack for 500 closes on a busy machine
        while still_open and time.monotonic() < deadline:
            ready, _, _ = select.select(still_open, [], [], 0.2)
            for sock in ready:
                try:
                    if sock.recv(4096) == b"":
                        still_open.remove(sock)
                except (ConnectionResetError, BrokenPipeError):
                    still_open.remove(sock)
        elapsed = time.monotonic() - opened
        assert not still_open, f"{len(still_open)} of 500 half-header connections still open after {elapsed:.1f}s"
        assert elapsed >= 1.5, f"closed after {elapsed:.1f}s, before the 2s header timeout"
        after = rss_kib(wharf.pid)
    finally:
        for sock in sockets:
            sock.close()
    # 500 half-open connections cost a few KiB each, not buffers that grow with them.
    assert peak - baseline < 48 * 1024, f"RSS grew {peak - baseline} KiB with 500 slow connections"
    assert after - baseline < 48 * 1024, f"RSS grew {after - baseline} KiB after they closed"
    assert requests.get(f"{wharf.base}/v2/", timeout=10).status_code == 200
    assert "header timeout" in wharf.log_text()


def test_header_timeout_counts_from_the_first_byte_even_if_bytes_keep_coming(wharf_factory):
    wharf = wharf_factory(extra={"http": {"timeouts": {"header": "2s", "idle": "30s"}}})
    sock = connect(wharf.port)
    try:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        # One header line every 0.3 s keeps bytes flowing, but the head never ends.
        while time.monotonic() - started < 6:
            try:
                sock.sendall(b"X-Drip: a\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_peer(sock, 0.3):
                closed = True
                break
        assert closed, "a head dripped line by line was never cut off"
        assert 1.5 <= time.monotonic() - started <= 4.5
    finally:
        sock.close()


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(wharf_factory):
    wharf = wharf_factory(extra={"http": {"timeouts": {"header": "30s", "idle": "1s"}}})
    sock = connect(wharf.port)
    try:
        sock.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {wharf.host}\r\n\r\n".encode())
        status, headers, _ = read_response(sock)
        assert status == 200 and headers.get("connection", "").lower() != "close"
        started = time.monotonic()
        assert closed_by_peer(sock, 5), "an idle kept-alive connection stayed open"
        assert 0.8 <= time.monotonic() - started <= 4
    finally:
        sock.close()
    # A connection that never sends a byte is idle too.
    silent = connect(wharf.port)
    try:
        assert closed_by_peer(silent, 5)
    finally:
        silent.close()


def test_a_body_trickled_at_one_byte_a_second_is_cut_off_and_a_fast_one_is_not(wharf_factory):
    wharf = wharf_factory(extra={"http": {"timeouts": {"body": "2s"}, "minbodyrate": "1KiB"}})
    started = requests.post(f"{wharf.base}/v2/slow/app/blobs/uploads/", timeout=10)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    sock = connect(wharf.port)
    try:
        sock.sendall((f"PATCH {location} HTTP/1.1\r\nHost: {wharf.host}\r\nContent-Type: application/octet-stream\r\n"
                      "Content-Length: 100000\r\n\r\n").encode())
        began = time.monotonic()
        cut = False
        while time.monotonic() - began < 10:
            try:
                sock.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            if closed_by_peer(sock, 1.0):
                cut = True
                break
        assert cut, "a 1 byte/s body was never cut off"
        assert time.monotonic() - began <= 6
    finally:
        sock.close()
    assert "request body below the minimum rate" in wharf.log_text()
    # A normal client is not affected: a 4 MiB PATCH goes through.
    again = requests.post(f"{wharf.base}/v2/slow/app/blobs/uploads/", timeout=10)
    data = b"y" * (4 << 20)
    patched = requests.patch(f"{wharf.base}{again.headers['Location']}", data=data, timeout=60,
                             headers={"Content-Type": "application/octet-stream"})
    assert patched.status_code == 202, patched.text
    assert patched.headers["Range"] == f"0-{len(data) - 1}"


@pytest.mark.parametrize("tail", [b"zz\r\n", b"ffffffffffffffffffff\r\n", b"-1\r\n", b"3\r\nabcXX\r\n"])
def test_a_malformed_chunked_body_gets_one_400_and_wharf_lives(wharf_factory, tail):
    # NIO answers a body that is not HTTP with 400 itself; a second response from the request's
    # handler used to trip NIO's pipeline assertion and kill a debug build (seen on main).
    wharf = wharf_factory()
    for _ in range(20):
        started = requests.post(f"{wharf.base}/v2/chunks/app/blobs/uploads/", timeout=10)
        assert started.status_code == 202, started.text
        sock = connect(wharf.port)
        try:
            sock.sendall((f"PATCH {started.headers['Location']} HTTP/1.1\r\nHost: {wharf.host}\r\n"
                          "Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n4\r\nabcd\r\n").encode() + tail)
            status, _, _ = read_response(sock)
            assert status == 400
            assert closed_by_peer(sock, 5)
        finally:
            sock.close()
    assert requests.get(f"{wharf.base}/v2/", timeout=5).status_code == 200


# MARK: connection limit


def test_connections_beyond_maxconnections_get_503_with_retry_after_and_close(wharf_factory):
    wharf = wharf_factory(extra={"http": {"maxconnections": 3}})
    held = []
    request = f"GET /v2/ HTTP/1.1\r\nHost: {wharf.host}\r\n\r\n".encode()
    try:
        refusal = None
        for _ in range(5):
            sock = connect(wharf.port)
            sock.sendall(request)
            status, headers, body = read_response(sock)
            if status == 200:
                held.append(sock)
                continue
            refusal = (sock, status, headers, body)
            break
        # Three at most (the fixture's readiness probe may still hold one of them).
        assert 2 <= len(held) <= 3 and refusal is not None, (len(held), refusal)
        extra, status, headers, body = refusal
        assert status == 503
        assert headers["retry-after"] == "1" and headers["connection"].lower() == "close"
        assert b'"code":"UNAVAILABLE"' in body
        assert closed_by_peer(extra, 5)
        extra.close()
        # The held ones still work, and a freed slot is usable again.
        held[0].sendall(request)
        assert read_response(held[0])[0] == 200
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:
            sock = connect(wharf.port)
            sock.sendall(request)
            status = read_response(sock)[0]
            sock.close()
            if status == 200:
                break
            assert time.monotonic() < deadline, "a freed connection slot never came back"
            time.sleep(0.1)
    finally:
        for sock in held:
            sock.close()


# MARK: authorization before work


def test_expect_100_continue_is_answered_401_without_a_100_first(auth_wharf_factory):
    wharf = auth_wharf_factory()
    port = wharf.port

    def post(authorization):
        sock = connect(port)
        try:
            auth = f"Authorization: {authorization}\r\n" if authorization else ""
            sock.sendall((f"POST /v2/private/app/blobs/uploads/ HTTP/1.1\r\nHost: {wharf.host}\r\n{auth}"
                          "Expect: 100-continue\r\nContent-Length: 5\r\nContent-Type: application/octet-stream\r\n\r\n").encode())
            status, _, _ = read_response(sock)
            return status
        finally:
            sock.close()

    assert post(None) == 401
    assert post(basic("alice", "wrong-password")) == 401
    assert post(basic("bob")) == 403  # bob may not write private/**
    assert post(basic("alice")) == 100  # authorized: invited to send the body


def test_an_unknown_user_takes_as_long_as_a_wrong_password(auth_wharf_factory):
    wharf = auth_wharf_factory(cost=11)

    def timed(user, password):
        began = time.monotonic()
        response = requests.get(f"{wharf.base}/v2/", headers={"Authorization": basic(user, password)}, timeout=30)
        assert response.status_code == 401
        return time.monotonic() - began

    timed("alice", "warm-up")
    wrong = statistics.median(timed("alice", f"wrong-{i}") for i in range(5))
    unknown = statistics.median(timed(f"nobody-{i}", "whatever") for i in range(5))
    assert wrong > 0.02, f"a cost-11 bcrypt check took only {wrong * 1000:.1f} ms"
    assert unknown >= 0.6 * wrong, f"unknown user {unknown * 1000:.1f} ms vs wrong password {wrong * 1000:.1f} ms"


def test_htpasswd_entries_above_the_cost_cap_are_refused_at_start(wharf_factory, tmp_path):
    path = make_htpasswd(tmp_path / "users", {"alice": "alice-Secret-1"}, cost=5)
    text = path.read_text()
    path.write_text(re.sub(r"\$2y\$05\$", "$2y$15$", text))
    port = free_port()
    config = registry_config(tmp_path / "store", port)
    config["auth"] = {"htpasswd": {"realm": "r", "path": str(path)}}
    done = subprocess.run([str(wharf_binary()), "serve", "--config", str(write(tmp_path / "c.yml", to_yaml(config)))],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "bcrypt cost 15" in output and "line 1" in output and "alice" in output, output


def write(path, text):
    path.write_text(text + "\n")
    return path


# MARK: logs


def raw_request(port, lines):
    sock = connect(port)
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return read_response(sock)[0]
    finally:
        sock.close()


@pytest.mark.parametrize("formatter", ["text", "logfmt"])
def test_request_values_cannot_forge_log_lines_or_fields(wharf_factory, formatter):
    wharf = wharf_factory(extra={"log": {"formatter": formatter}})
    marker = uuid.uuid4().hex[:10]
    # `ns` is percent-decoded before it is logged: a CR LF there would start a line of its own.
    # Control characters travel percent-encoded (HTTP refuses them raw in a head).
    forged_ns = (f"docker.io%0d%0atime=2020-01-01T00:00:00Z%20level=error%20msg=forged-{marker}%20http.status=999"
                 "%1b[31m%7f%e2%80%a8")
    agent = f'agent-{marker}" level=error http.status=999 msg=forged'

    status = raw_request(wharf.port, [f"GET /v2/log/app/tags/list?ns={forged_ns} HTTP/1.1", f"Host: {wharf.host}",
                                      f"User-Agent: {agent}", "Connection: close"])
    assert status < 500
    deadline = time.monotonic() + 5
    while marker not in wharf.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in wharf.log_text().splitlines() if marker in line]
    assert len(lines) == 1, lines
    line = lines[0]
    assert "\x1b" not in line and "\x7f" not in line and "\r" not in line
    # Outside quoted values there is exactly one of each key: nothing was added.
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
    assert unquoted.count("level=") == (1 if formatter == "logfmt" else 0), unquoted
    assert unquoted.count("http.status=") == 1, unquoted
    assert "msg=forged" not in unquoted
    assert '\\r\\n' in line and '\\u001b' in line and '\\u007f' in line
    assert re.search(r'http\.useragent="agent-' + marker + r'\\" level=error', line), line


# MARK: TLS


def mint(directory: Path) -> Path:
    subprocess.run([str(ROOT / "certs/create-dev-certs"), str(directory), "127.0.0.1", "localhost"],
                   check=True, capture_output=True, text=True)
    return directory


def mint_client(ca_dir: Path, name: str) -> tuple[str, str]:
    key, csr, crt = ca_dir / f"{name}.key", ca_dir / f"{name}.csr", ca_dir / f"{name}.crt"
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", str(key),
                    "-out", str(csr)], check=True, capture_output=True)
    ext = ca_dir / f"{name}.ext"
    ext.write_text("extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_dir / "ca.crt"), "-CAkey", str(ca_dir / "ca.key"),
                    "-CAcreateserial", "-days", "30", "-sha256", "-extfile", str(ext), "-out", str(crt)],
                   check=True, capture_output=True)
    return str(crt), str(key)


def start_tls(wharf_factory, certs, tls_extra):
    tls = {"certificate": str(certs / "server.crt"), "key": str(certs / "server.key")}
    tls.update(tls_extra)
    wharf = wharf_factory(extra={"http": {"tls": tls}}, wait=False)
    deadline = time.monotonic() + 20
    while "listening" not in wharf.log_text():
        assert wharf.running() and time.monotonic() < deadline, wharf.log_text()[-2000:]
        time.sleep(0.05)
    return wharf


def handshake(port, ca, *, cert=None, maximum=None):
    """A real TLS client: returns the HTTP status of GET /v2/, or the error that ended it."""
    context = ssl.create_default_context(cafile=ca)
    if cert:
        context.load_cert_chain(*cert)
    if maximum:
        context.maximum_version = maximum
    try:
        with socket.create_connection((LOOPBACK, port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if not data:
                    return "closed"
                return int(data.split()[1])
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as error:
        return f"refused: {error}"


def test_clientcas_requires_a_client_certificate_from_those_cas(wharf_factory, tmp_path):
    certs = mint(tmp_path / "certs")
    other = mint(tmp_path / "other")
    good = mint_client(certs, "client")
    stranger = mint_client(other, "stranger")
    wharf = start_tls(wharf_factory, certs, {"clientcas": str(certs / "ca.crt")})
    ca = str(certs / "ca.crt")
    assert handshake(wharf.port, ca, cert=good) == 200
    assert str(handshake(wharf.port, ca)).startswith(("refused", "closed"))
    assert str(handshake(wharf.port, ca, cert=stranger)).startswith(("refused", "closed"))
    curl = shutil.which("curl")
    if curl:
        base = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca, f"https://127.0.0.1:{wharf.port}/v2/"]
        assert subprocess.run(base + ["--cert", good[0], "--key", good[1]], capture_output=True, text=True).stdout == "200"
        assert subprocess.run(base, capture_output=True, text=True).stdout != "200"


def test_minimumtls_tls13_refuses_a_tls12_only_client(wharf_factory, tmp_path):
    certs = mint(tmp_path / "certs")
    wharf = start_tls(wharf_factory, certs, {"minimumtls": "tls1.3"})
    ca = str(certs / "ca.crt")
    assert handshake(wharf.port, ca) == 200
    assert str(handshake(wharf.port, ca, maximum=ssl.TLSVersion.TLSv1_2)).startswith("refused")


def test_minimumtls_default_accepts_tls12(wharf_factory, tmp_path):
    certs = mint(tmp_path / "certs")
    wharf = start_tls(wharf_factory, certs, {})
    assert handshake(wharf.port, str(certs / "ca.crt"), maximum=ssl.TLSVersion.TLSv1_2) == 200


@pytest.mark.parametrize("tls_extra, message", [
    ({"minimumtls": "tls1.0"}, "http.tls.minimumtls"),
    ({"clientauth": "request-client-cert", "clientcas": "CA"}, "http.tls.clientauth"),
    ({"clientauth": "require-and-verify-client-cert"}, "http.tls.clientauth"),
])
def test_tls_settings_that_cannot_be_honoured_stop_start_up(wharf_factory, tmp_path, tls_extra, message):
    certs = mint(tmp_path / "certs")
    tls = {"certificate": str(certs / "server.crt"), "key": str(certs / "server.key")}
    tls.update({key: (str(certs / "ca.crt") if value == "CA" else value) for key, value in tls_extra.items()})
    config = registry_config(tmp_path / "store", free_port(), extra={"http": {"tls": tls}})
    done = subprocess.run([str(wharf_binary()), "serve", "--config", str(write(tmp_path / "c.yml", to_yaml(config)))],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and message in done.stdout + done.stderr, done.stdout + done.stderr
