"""Real container engines pull through Wharf as their mirror: podman with a registries.conf
`[[registry.mirror]]` whose location carries the upstream as a path prefix, and containerd's
`ctr image pull --hosts-dir` with a hosts.toml mirror (containerd adds `?ns=<registry>`).

In both, the registry's own location is a closed port, so the pull can only succeed through
Wharf. Both engines run as root with scratch directories; a test is skipped, with the reason,
only when its engine cannot start here.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import free_port, require_tool
from mirror_support import stored_size

ENGINE_TIMEOUT = 180


def closed_port() -> int:
    return free_port()  # nobody listens there once the probe socket is closed


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["NO_PROXY"] = "*"
    env.update(extra)
    return env


def amd64_child(image):
    return next(child for child in image.children if b'"amd64"' in child.blobs[json.loads(child.body)["config"]["digest"]])


def assert_committed(wharf, blobs):
    for digest, body in blobs.items():
        assert stored_size(wharf.root, digest) == len(body), f"{digest} not committed in Wharf's store"


@pytest.fixture
def short_dir():
    made = []

    def make():
        made.append(tempfile.mkdtemp(prefix="wharf-pm-"))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def mirrored_image(docker_registry_factory, mirror_factory):
    upstream = docker_registry_factory()
    image = upstream.client.push_multiarch("eng/app", "v1")
    wharf = mirror_factory(mirror={"upstreams": [{"registry": upstream.host}]})
    return upstream, wharf, image


def test_podman_pulls_through_registries_conf_mirror_with_upstream_path_prefix(mirrored_image, short_dir, tmp_path):
    """The mirror location is `WHARF/127.0.0.1_PORT`: containers/image rejects a `:` there
    ("rewriting reference: invalid reference format"), so the port is written `_PORT`."""
    podman = require_tool("podman")
    upstream, wharf, image = mirrored_image
    upstream_in_path = upstream.host.replace(":", "_")
    conf = tmp_path / "registries.conf"
    conf.write_text(
        "[[registry]]\n"
        f'prefix = "{upstream.host}"\n'
        f'location = "127.0.0.1:{closed_port()}"\n'
        "insecure = true\n"
        "[[registry.mirror]]\n"
        f'location = "{wharf.host}/{upstream_in_path}"\n'
        "insecure = true\n"
    )
    runroot = short_dir()  # podman refuses a runroot path of 50 characters or more
    base = [podman, "--root", str(tmp_path / "root"), "--runroot", runroot,
            "--storage-driver", "vfs", "--tmpdir", str(tmp_path / "tmp"),
            "--events-backend", "file", "--cgroup-manager", "cgroupfs"]
    env = clean_env(CONTAINERS_REGISTRIES_CONF=str(conf), TMPDIR=str(tmp_path))
    reference = f"{upstream.host}/eng/app:v1"
    pulled = subprocess.run([*base, "pull", "--platform", "linux/amd64", reference],
                            capture_output=True, text=True, timeout=ENGINE_TIMEOUT, env=env)
    if pulled.returncode != 0 and "cannot" in pulled.stderr.lower() and "storage" in pulled.stderr.lower():
        pytest.skip(f"podman cannot set up storage here: {pulled.stderr.strip()[-400:]}")
    assert pulled.returncode == 0, f"podman pull {reference} via {conf.read_text()}\n{pulled.stdout}\n{pulled.stderr}"

    inspected = subprocess.run([*base, "image", "inspect", "--format", "{{.Digest}}", reference],
                               capture_output=True, text=True, timeout=60, env=env)
    assert inspected.returncode == 0, inspected.stderr
    child = amd64_child(image)
    assert inspected.stdout.strip() in (image.digest, child.digest), inspected.stdout
    assert_committed(wharf, child.blobs)


def start_containerd(tmp_path):
    binary = require_tool("containerd")
    root, state = tmp_path / "ctrd-root", tmp_path / "ctrd-state"
    root.mkdir()
    state.mkdir()
    socket_path = state / "containerd.sock"
    config = tmp_path / "containerd.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{root}"\n'
        f'state = "{state}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        "[grpc]\n"
        f'  address = "{socket_path}"\n'
        "[ttrpc]\n"
        f'  address = "{socket_path}.ttrpc"\n'
        "[debug]\n"
        f'  address = "{state}/debug.sock"\n'
        "[metrics]\n"
        '  address = ""\n'
    )
    log = open(tmp_path / "containerd.log", "wb")
    process = subprocess.Popen([binary, "--config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if socket_path.exists():
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(str(socket_path))
                return process, socket_path
            except OSError:
                pass
        time.sleep(0.1)
    text = (tmp_path / "containerd.log").read_text(errors="replace")[-2000:]
    stop(process)
    pytest.skip(f"containerd did not start here: {text}")


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_containerd_pulls_through_hosts_toml_mirror_using_ns(mirrored_image, tmp_path):
    ctr = require_tool("ctr")
    upstream, wharf, image = mirrored_image
    hosts_dir = tmp_path / "certs.d"
    host_dir = hosts_dir / upstream.host
    host_dir.mkdir(parents=True)
    (host_dir / "hosts.toml").write_text(
        f'server = "http://127.0.0.1:{closed_port()}"\n\n'
        f'[host."http://{wharf.host}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )
    process, socket_path = start_containerd(tmp_path)
    try:
        reference = f"{upstream.host}/eng/app:v1"
        base = [ctr, "--address", str(socket_path), "--namespace", "wharf-test"]
        pulled = subprocess.run([*base, "image", "pull", "--hosts-dir", str(hosts_dir), "--platform", "linux/amd64",
                                 "--snapshotter", "native", reference],
                                capture_output=True, text=True, timeout=ENGINE_TIMEOUT, env=clean_env())
        assert pulled.returncode == 0, f"ctr image pull {reference}:\n{pulled.stdout}\n{pulled.stderr}"
        listed = subprocess.run([*base, "image", "ls"], capture_output=True, text=True, timeout=60, env=clean_env())
        assert listed.returncode == 0, listed.stderr
        line = next((l for l in listed.stdout.splitlines() if l.startswith(reference)), "")
        assert image.digest in line, listed.stdout
        assert_committed(wharf, amd64_child(image).blobs)
        stored_as = upstream.host.replace(":", "_") + "/eng/app"
        assert (wharf.root / "docker/registry/v2/repositories" / stored_as).is_dir(), "not routed by ?ns="
    finally:
        stop(process)
        shutil.rmtree(tmp_path / "ctrd-state", ignore_errors=True)
