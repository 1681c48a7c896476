"""The files in deploy/ say what Wharf reads: a kubectl-free check of the Kubernetes
manifests, the systemd unit and the image build file.

Every manifest must parse as YAML and hang together (names, ports, mounts), the
ConfigMap's config.yml must pass `wharf check-config` with the container's REGISTRY_*
variables and no warnings, and a Wharf started on exactly that configuration must answer
the probe paths the manifests name.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from conftest import REPO_ROOT, free_port, wharf_binary

DEPLOY = REPO_ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def all_objects() -> list[dict]:
    objects = []
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        objects.extend(documents(path))
    return objects


def by_kind(kind: str) -> list[dict]:
    return [o for o in all_objects() if o["kind"] == kind]


def workloads() -> list[dict]:
    return by_kind("Deployment") + by_kind("DaemonSet")


def wharf_container(workload: dict) -> dict:
    containers = workload["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "wharf")


def config_text() -> str:
    (config_map,) = by_kind("ConfigMap")
    return config_map["data"]["config.yml"]


def container_env(container: dict) -> dict[str, str]:
    return {item["name"]: str(item["value"]) for item in container.get("env", [])}


def config_argument(container: dict) -> str:
    args = container["args"]
    return args[args.index("--config") + 1]


def check_config(tmp_path: Path, text: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    binary = wharf_binary()
    if not binary.exists():
        pytest.skip(f"Wharf binary not found at {binary}")
    path = tmp_path / "config.yml"
    path.write_text(text)
    return subprocess.run([str(binary), "check-config", str(path)], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, timeout=30)


def test_every_manifest_parses_and_names_its_kind():
    objects = all_objects()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "DaemonSet", "Deployment", "PersistentVolumeClaim", "Service"]
    for o in objects:
        assert o["apiVersion"] and o["metadata"]["name"], o


def test_kustomizations_list_files_that_exist():
    for kustomization in KUBERNETES.rglob("kustomization.yaml"):
        (doc,) = documents(kustomization)
        assert doc["kind"] == "Kustomization"
        for resource in doc["resources"]:
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource} is missing"


def test_workloads_mount_the_config_where_they_read_it_and_the_store_where_the_config_puts_it():
    config = yaml.safe_load(config_text())
    root = config["storage"]["filesystem"]["rootdirectory"]
    (config_map,) = by_kind("ConfigMap")
    claims = {c["metadata"]["name"] for c in by_kind("PersistentVolumeClaim")}
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        container = wharf_container(workload)
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        config_path = config_argument(container)
        config_dir = str(Path(config_path).parent)
        assert config_dir in mounts, f"{workload['kind']}: {config_path} is not on a mounted volume"
        config_volume = volumes[mounts[config_dir]]
        assert config_volume["configMap"]["name"] == config_map["metadata"]["name"]
        assert Path(config_path).name in config_map["data"]
        assert root in mounts, f"{workload['kind']}: the store {root} is not a mounted volume"
        store = volumes[mounts[root]]
        assert ("persistentVolumeClaim" in store and store["persistentVolumeClaim"]["claimName"] in claims) \
            or store.get("hostPath", {}).get("path") == root
        # Wharf's drain timeout must fit in the grace period Kubernetes gives after SIGTERM.
        drain = config["http"]["draintimeout"]
        assert drain.endswith("s") and int(drain[:-1]) < pod["terminationGracePeriodSeconds"]


def test_probes_and_ports_match_the_address_wharf_listens_on():
    config = yaml.safe_load(config_text())
    for workload in workloads():
        container = wharf_container(workload)
        address = container_env(container).get("REGISTRY_HTTP_ADDR", config["http"]["addr"])
        port = int(address.rsplit(":", 1)[1])
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["registry"] == port
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for probe in ("livenessProbe", "readinessProbe"):
            probe_port = container[probe]["httpGet"]["port"]
            assert probe_port in (port, "registry")
            if address.startswith("127.0.0.1"):
                # A loopback listener is reachable by the kubelet only on the host network.
                assert workload["spec"]["template"]["spec"].get("hostNetwork") is True
                assert container[probe]["httpGet"]["host"] == "127.0.0.1"
    (service,) = by_kind("Service")
    deployment = by_kind("Deployment")[0]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    target = service["spec"]["ports"][0]["targetPort"]
    assert target in {p["name"] for p in wharf_container(deployment)["ports"]}


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet"])
def test_the_config_map_passes_check_config_with_each_workloads_environment(tmp_path, kind):
    (workload,) = by_kind(kind)
    result = check_config(tmp_path, config_text(), container_env(wharf_container(workload)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stdout + result.stderr


def test_a_wharf_on_the_config_map_answers_the_probe_paths(wharf_factory, tmp_path):
    port = free_port()
    # The real configuration, moved to a scratch store and port the way an operator would.
    env = {"REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}",
           "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path / "store")}
    server = wharf_factory(config_text=config_text(), port=port, env=env)
    for workload in workloads():
        container = wharf_container(workload)
        for probe in ("livenessProbe", "readinessProbe"):
            path = container[probe]["httpGet"]["path"]
            response = requests.get(f"http://127.0.0.1:{server.port}{path}", timeout=5)
            assert response.status_code == 200, f"{workload['kind']} {probe} {path}: {response.status_code}"


def test_the_example_config_and_the_systemd_unit_agree(tmp_path):
    unit = (DEPLOY / "wharf.service").read_text()
    exec_start = re.search(r"^ExecStart=(\S+) serve --config (\S+)$", unit, re.M)
    assert exec_start, "ExecStart must run `wharf serve --config <file>`"
    config = yaml.safe_load((DEPLOY / "config.yml").read_text())
    assert f"ReadWritePaths={config['storage']['filesystem']['rootdirectory']}" in unit
    result = check_config(tmp_path, (DEPLOY / "config.yml").read_text(), {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stdout + result.stderr


def test_the_image_build_file_installs_what_the_manifests_run():
    containerfile = (DEPLOY / "Containerfile").read_text()
    entrypoint = re.search(r'^ENTRYPOINT \["([^"]+)"\]', containerfile, re.M)
    assert entrypoint, "the image needs an ENTRYPOINT running wharf"
    assert re.search(rf"^COPY .*\s{re.escape(entrypoint.group(1))}$", containerfile, re.M)
    user = re.search(r"^USER (\d+):(\d+)$", containerfile, re.M)
    assert user, "the image runs as a numeric non-root user"
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        assert str(pod["securityContext"]["runAsUser"]) == user.group(1)
        container = wharf_container(workload)
        assert container["args"][0] == "serve"
