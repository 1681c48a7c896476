"""A small client for the registry HTTP API (OCI Distribution v1.1), used by the
integration tests to push and pull images without any container tooling.

Everything here speaks plain HTTP to a loopback address. Images are built from
random bytes, so every test run pushes content no earlier run has seen.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ALL_MANIFEST_ACCEPT = ", ".join(MANIFEST_TYPES)

EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

DEFAULT_PLATFORMS = (("linux", "amd64", None), ("linux", "arm64", "v8"))


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value) -> bytes:
    """Compact, key-sorted JSON: deterministic bytes for a given value."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    d = {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}
    d.update(extra)
    return d


def random_layer(size: int = 2048) -> tuple[bytes, str]:
    """A gzip'd tar holding one file of `size` random bytes.

    Returns (compressed bytes, diff id), where the diff id is the digest of the
    uncompressed tar, as an image config's rootfs lists it."""
    payload = os.urandom(size)
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name="data/" + payload[:6].hex())
        info.size = len(payload)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
    raw_tar = tar_buffer.getvalue()
    compressed = gzip.compress(raw_tar, mtime=0)
    return compressed, sha256_digest(raw_tar)


def image_config(os_name: str, arch: str, variant: str | None, diff_ids: list[str]) -> bytes:
    config = {
        "architecture": arch,
        "os": os_name,
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "wharf integration test"} for _ in diff_ids],
    }
    if variant:
        config["variant"] = variant
    return canonical_json(config)


@dataclass
class PushedImage:
    """What push_image / push_multiarch wrote, so tests can compare."""

    repo: str
    reference: str
    digest: str
    media_type: str
    body: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)  # digest -> bytes
    children: list["PushedImage"] = field(default_factory=list)

    def all_manifests(self) -> dict[str, bytes]:
        out = {self.digest: self.body}
        for child in self.children:
            out.update(child.all_manifests())
        return out

    def all_blobs(self) -> dict[str, bytes]:
        out = dict(self.blobs)
        for child in self.children:
            out.update(child.all_blobs())
        return out


class RegistryError(AssertionError):
    pass


class Registry:
    """HTTP API client for one registry at `base` (e.g. http://127.0.0.1:5000)."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False  # never go through a proxy from the environment

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc

    def url(self, path: str) -> str:
        return self.base + path

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("allow_redirects", False)
        target = path if path.startswith("http") else self.url(path)
        return self.session.request(method, target, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def absolute(self, location: str) -> str:
        """Resolve a Location header (absolute or relative) against the base."""
        return urljoin(self.base + "/", location)

    # -- uploads ---------------------------------------------------------

    def start_upload(self, repo: str) -> requests.Response:
        return self.post(f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})

    def push_blob(self, repo: str, data: bytes) -> str:
        """POST then monolithic PUT. Returns the digest; raises unless 201."""
        digest = sha256_digest(data)
        started = self.start_upload(repo)
        if started.status_code != 202:
            raise RegistryError(f"POST upload {repo}: {started.status_code} {started.text}")
        location = self.absolute(started.headers["Location"])
        separator = "&" if "?" in location else "?"
        done = self.put(
            location + separator + "digest=" + digest,
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if done.status_code != 201:
            raise RegistryError(f"PUT blob {repo} {digest}: {done.status_code} {done.text}")
        return digest

    def push_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> requests.Response:
        return self.put(
            f"/v2/{repo}/manifests/{reference}",
            data=body,
            headers={"Content-Type": media_type},
        )

    def push_manifest_ok(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        response = self.push_manifest(repo, reference, body, media_type)
        if response.status_code != 201:
            raise RegistryError(
                f"PUT manifest {repo}:{reference}: {response.status_code} {response.text}"
            )
        return sha256_digest(body)

    # -- images ----------------------------------------------------------

    def push_image(
        self,
        repo: str,
        tag: str | None,
        *,
        docker: bool = False,
        platform: tuple[str, str, str | None] = ("linux", "amd64", None),
        layers: int = 2,
        layer_size: int = 2048,
        subject: dict | None = None,
        annotations: dict | None = None,
    ) -> PushedImage:
        """Push a single-platform image (config + random gzip'd tar layers)."""
        os_name, arch, variant = platform
        blobs: dict[str, bytes] = {}
        layer_descriptors = []
        diff_ids = []
        layer_type = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
        for _ in range(layers):
            compressed, diff_id = random_layer(layer_size)
            blobs[self.push_blob(repo, compressed)] = compressed
            layer_descriptors.append(descriptor(layer_type, compressed))
            diff_ids.append(diff_id)
        config = image_config(os_name, arch, variant, diff_ids)
        blobs[self.push_blob(repo, config)] = config
        manifest = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
            "layers": layer_descriptors,
        }
        if subject is not None:
            manifest["subject"] = subject
        if annotations:
            manifest["annotations"] = annotations
        body = json.dumps(manifest, indent=3).encode()  # deliberately not compact
        media_type = manifest["mediaType"]
        digest = sha256_digest(body)
        self.push_manifest_ok(repo, tag or digest, body, media_type)
        return PushedImage(repo, tag or digest, digest, media_type, body, blobs)

    def push_multiarch(
        self,
        repo: str,
        tag: str,
        *,
        docker: bool = False,
        platforms=DEFAULT_PLATFORMS,
        layers: int = 2,
    ) -> PushedImage:
        """Push one child manifest per platform (by digest), then the OCI index
        or Docker manifest list under `tag`."""
        children = []
        entries = []
        for platform in platforms:
            child = self.push_image(repo, None, docker=docker, platform=platform, layers=layers)
            children.append(child)
            os_name, arch, variant = platform
            plat = {"architecture": arch, "os": os_name}
            if variant:
                plat["variant"] = variant
            entries.append(
                {
                    "mediaType": child.media_type,
                    "digest": child.digest,
                    "size": len(child.body),
                    "platform": plat,
                }
            )
        media_type = DOCKER_LIST if docker else OCI_INDEX
        index = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
        body = json.dumps(index, indent=2).encode()
        digest = self.push_manifest_ok(repo, tag, body, media_type)
        return PushedImage(repo, tag, digest, media_type, body, {}, children)

    # -- pulls -----------------------------------------------------------

    def get_manifest(self, repo: str, reference: str, accept: str = ALL_MANIFEST_ACCEPT) -> requests.Response:
        return self.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept})

    def get_blob(self, repo: str, digest: str, **kw) -> requests.Response:
        return self.get(f"/v2/{repo}/blobs/{digest}", **kw)

    def tags(self, repo: str) -> list[str]:
        response = self.get(f"/v2/{repo}/tags/list")
        if response.status_code != 200:
            raise RegistryError(f"tags/list {repo}: {response.status_code} {response.text}")
        return response.json()["tags"] or []

    def walk(self, repo: str, reference: str) -> tuple[str, dict[str, bytes], dict[str, bytes]]:
        """Fetch a manifest and everything beneath it.

        Returns (top digest, {manifest digest: bytes}, {blob digest: bytes}) and
        checks along the way that every served digest matches the bytes."""
        manifests: dict[str, bytes] = {}
        blobs: dict[str, bytes] = {}
        top = self._walk_manifest(repo, reference, manifests, blobs)
        return top, manifests, blobs

    def _walk_manifest(self, repo, reference, manifests, blobs) -> str:
        response = self.get_manifest(repo, reference)
        if response.status_code != 200:
            raise RegistryError(f"GET manifest {repo}@{reference}: {response.status_code} {response.text}")
        body = response.content
        digest = sha256_digest(body)
        served = response.headers.get("Docker-Content-Digest")
        if served is not None and served != digest:
            raise RegistryError(f"{repo}@{reference}: Docker-Content-Digest {served} but body is {digest}")
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(f"{repo}@{reference}: body digest is {digest}")
        manifests[digest] = body
        document = json.loads(body)
        if document.get("manifests") is not None:
            for entry in document["manifests"]:
                self._walk_manifest(repo, entry["digest"], manifests, blobs)
        else:
            for entry in [document["config"], *document.get("layers", [])]:
                blob = self.get_blob(repo, entry["digest"])
                if blob.status_code != 200:
                    raise RegistryError(f"GET blob {repo}@{entry['digest']}: {blob.status_code}")
                if sha256_digest(blob.content) != entry["digest"]:
                    raise RegistryError(f"blob {entry['digest']} in {repo} has other bytes")
                blobs[entry["digest"]] = blob.content
        return digest


def error_codes(response: requests.Response) -> list[str]:
    """The `code`s of an OCI error body, or [] when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return []
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return []
    return [e.get("code") for e in body["errors"] if isinstance(e, dict)]


def blob_path(root, digest: str):
    """Where Distribution's filesystem layout keeps a blob's bytes."""
    algorithm, hex_part = digest.split(":", 1)
    return Path(root) / "docker/registry/v2/blobs" / algorithm / hex_part[:2] / hex_part / "data"
