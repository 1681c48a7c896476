#!/usr/bin/python3
"""Starts a CNCF Distribution (`docker-registry`) upstream on loopback for Wharf's upstream tests.

usage: upstream_registry.py FLAVOUR WORKDIR
  FLAVOUR: http       anonymous, plain HTTP
           tls-basic  HTTPS with a CA minted here (openssl) and htpasswd Basic auth (htpasswd -B)
           token      plain HTTP with Bearer token auth through a token server in this process
                      (RS256 JWTs whose `kid` is the libtrust key id of a key in rootcertbundle)

Seeds the storage with one image (repository test/app, tag v1: a config blob, a 3 MiB layer),
prints one JSON line describing it, and runs until standard input closes.
Needs: docker-registry, openssl, htpasswd (apache2-utils), python3-cryptography (Debian's).
"""
import base64, hashlib, http.server, json, os, random, socket, subprocess, sys, threading, time
from urllib.parse import urlparse, parse_qs

REPO, TAG = "test/app", "v1"
USER, PASSWORD = "wharf", "s3cret-pass"
SERVICE, ISSUER = "wharf-test-registry", "wharf-test-issuer"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def put_blob(root, data):
    digest = sha256(data)
    hexpart = digest.split(":")[1]
    path = os.path.join(root, "docker/registry/v2/blobs/sha256", hexpart[:2], hexpart)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "data"), "wb") as f:
        f.write(data)
    return digest


def link(root, rel, digest):
    path = os.path.join(root, "docker/registry/v2/repositories", REPO, rel)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "link"), "w") as f:
        f.write(digest)


def seed(root, workdir):
    rng = random.Random(42)
    layer = rng.randbytes(3 * 1024 * 1024 + 123)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}}).encode()
    layer_digest, config_digest = put_blob(root, layer), put_blob(root, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(layer)}],
    }, indent=2).encode()
    manifest_digest = put_blob(root, manifest)
    for d in (layer_digest, config_digest):
        link(root, "_layers/sha256/" + d.split(":")[1], d)
    link(root, "_manifests/revisions/sha256/" + manifest_digest.split(":")[1], manifest_digest)
    link(root, f"_manifests/tags/{TAG}/current", manifest_digest)
    link(root, f"_manifests/tags/{TAG}/index/sha256/" + manifest_digest.split(":")[1], manifest_digest)
    layer_copy = os.path.join(workdir, "layer.bin")
    with open(layer_copy, "wb") as f:
        f.write(layer)
    return {"repository": REPO, "tag": TAG, "manifest_digest": manifest_digest,
            "manifest_media_type": "application/vnd.oci.image.manifest.v1+json", "manifest_size": len(manifest),
            "layer_digest": layer_digest, "layer_size": len(layer), "layer_path": layer_copy,
            "config_digest": config_digest}


def mint_tls(workdir, port):
    """A CA and a server certificate for 127.0.0.1/localhost; the CA goes to certs.d/127.0.0.1:PORT/ca.crt."""
    tls = os.path.join(workdir, "tls")
    os.makedirs(tls, exist_ok=True)
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=tls)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Wharf Test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(tls, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
    certs_d = os.path.join(workdir, "certs.d", f"127.0.0.1:{port}")
    os.makedirs(certs_d, exist_ok=True)
    with open(os.path.join(tls, "ca.crt"), "rb") as src, open(os.path.join(certs_d, "ca.crt"), "wb") as dst:
        dst.write(src.read())
    return tls, os.path.join(workdir, "certs.d")


# --- token server ---------------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_kid(public_key):
    from cryptography.hazmat.primitives import serialization
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, 48, 4))


def make_signing_key(workdir):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    import datetime
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wharf test token issuer")])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    bundle = os.path.join(workdir, "token-root.crt")
    with open(bundle, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key, bundle


class TokenHandler(http.server.BaseHTTPRequestHandler):
    server_version = "wharf-test-token/1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, pw) != (USER, PASSWORD):
                user = "!bad"
        with open(self.server.log_path, "a") as f:
            f.write(json.dumps({"path": url.path, "service": q.get("service", [""])[0], "scope": q.get("scope", []),
                                "account": q.get("account", [""])[0], "user": user}) + "\n")
        if url.path != "/token" or user in (None, "!bad"):
            body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        access = []
        for scope in q.get("scope", []):
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) >= 3:
                    access.append({"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.server.kid}
        claims = {"iss": ISSUER, "sub": user, "aud": q.get("service", [SERVICE])[0], "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        signature = self.server.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        token = signing_input.decode() + "." + b64url(signature)
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300,
                           "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_token_server(workdir):
    key, bundle = make_signing_key(workdir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TokenHandler)
    server.key, server.kid = key, libtrust_kid(key.public_key())
    server.log_path = os.path.join(workdir, "token-requests.log")
    open(server.log_path, "w").close()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, bundle


# --- main -----------------------------------------------------------------------------------

def main():
    flavour, workdir = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(workdir, exist_ok=True)
    storage = os.path.join(workdir, "storage")
    info = seed(storage, workdir)
    port = free_port()
    info.update({"flavour": flavour, "registry": f"127.0.0.1:{port}", "workdir": workdir})
    config = {"version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": False}},
              "storage": {"filesystem": {"rootdirectory": storage}, "delete": {"enabled": True}},
              "http": {"addr": f"127.0.0.1:{port}", "secret": "wharf-upstream-tests"}}
    token_server = None
    if flavour == "tls-basic":
        tls, certs_d = mint_tls(workdir, port)
        config["http"]["tls"] = {"certificate": os.path.join(tls, "server.crt"), "key": os.path.join(tls, "server.key")}
        htpasswd = os.path.join(workdir, "htpasswd")
        line = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True).stdout.strip()
        with open(htpasswd, "w") as f:
            f.write(line + "\n")
        config["auth"] = {"htpasswd": {"realm": "wharf-test", "path": htpasswd}}
        info.update({"certs_dir": certs_d, "username": USER, "password": PASSWORD})
    elif flavour == "token":
        token_server, bundle = start_token_server(workdir)
        realm = f"http://127.0.0.1:{token_server.server_address[1]}/token"
        config["auth"] = {"token": {"realm": realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": bundle}}
        info.update({"username": USER, "password": PASSWORD, "token_log": token_server.log_path, "realm": realm})
    elif flavour != "http":
        sys.exit(f"unknown flavour {flavour}")
    config_path = os.path.join(workdir, "config.yml")
    with open(config_path, "w") as f:
        json.dump(config, f)  # JSON is YAML
    log = open(os.path.join(workdir, "registry.log"), "w")
    registry = subprocess.Popen(["docker-registry", "serve", config_path], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if registry.poll() is not None or time.time() > deadline:
                    sys.exit(f"docker-registry did not start; see {workdir}/registry.log")
                time.sleep(0.05)
        print(json.dumps(info), flush=True)
        sys.stdin.read()  # until the test closes our standard input
    finally:
        registry.terminate()
        registry.wait(timeout=10)
        if token_server:
            token_server.shutdown()


if __name__ == "__main__":
    main()
