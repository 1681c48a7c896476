"""Metrics at /extensions/v2/metrics (OpenShift's path and secret): who may scrape, and what a
pull through the mirror and a CDN redirect add to the counters."""

import os
import subprocess

from cdn_support import (
    KEY_PAIR_ID, edge_config, mint_key_pair, origin_config, with_param,
)
from conftest import PortInUse, free_port, require_tool, wharf_binary
from metrics_support import (
    METRICS_PATH, SECRET, metrics_section, scrape, series, session, start_wharf, value, wait_for_value,
)
from mirror_support import access_lines, wait_for_blob, wait_for_lines, yaml_text
from registry_client import error_codes


def test_metrics_endpoint_needs_the_secret_as_a_bearer_token(wharf_factory, tmp_path):
    wharf = start_wharf(wharf_factory, tmp_path, "wharf", openshift=metrics_section())
    url = wharf.base + METRICS_PATH
    refusals = {
        "no header": {},
        "wrong secret": {"Authorization": "Bearer not-the-secret"},
        "secret prefix": {"Authorization": f"Bearer {SECRET[:-1]}"},
        "basic scheme": {"Authorization": f"Basic {SECRET}"},
        "bare secret": {"Authorization": SECRET},
    }
    for case, headers in refusals.items():
        response = session().get(url, headers=headers, timeout=10)
        assert response.status_code == 401, (case, response.status_code, response.text)
        assert error_codes(response) == ["UNAUTHORIZED"], (case, response.text)
        assert response.headers["Content-Type"] == "application/json"
    head = session().head(url, timeout=10)
    assert head.status_code == 401

    ok = session().get(url, headers={"Authorization": f"Bearer {SECRET}"}, timeout=10)
    assert ok.status_code == 200, ok.text
    assert ok.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE wharf_http_requests_total counter" in ok.text
    assert "# TYPE wharf_http_request_duration_seconds histogram" in ok.text
    # The refused scrapes were counted like any request, under route="metrics".
    samples = scrape(wharf)
    assert value(samples, "wharf_http_requests_total", route="metrics", method="GET", code="401") == len(refusals)
    assert value(samples, "wharf_http_requests_total", route="metrics", method="HEAD", code="401") == 1
    # A scheme name in any case is still the scheme.
    lower = session().get(url, headers={"Authorization": f"bearer {SECRET}"}, timeout=10)
    assert lower.status_code == 200


def test_metrics_endpoint_is_404_when_metrics_are_disabled(wharf):
    for headers in ({}, {"Authorization": f"Bearer {SECRET}"}):
        response = session().get(wharf.base + METRICS_PATH, headers=headers, timeout=10)
        assert response.status_code == 404, response.text
        assert error_codes(response) == ["UNSUPPORTED"], response.text
    assert "openshift.metrics.enabled" in response.json()["errors"][0]["message"]


def test_metrics_are_enabled_by_openshift_environment_variables(wharf_factory):
    wharf = wharf_factory(env={
        "REGISTRY_OPENSHIFT_METRICS_ENABLED": "true",
        "REGISTRY_OPENSHIFT_METRICS_SECRET": "from-the-environment",
    })
    assert session().get(wharf.base + METRICS_PATH, timeout=10).status_code == 401
    samples = scrape(wharf, secret="from-the-environment")
    assert value(samples, "wharf_http_requests_total", route="base", method="GET", code="200") >= 1


def test_enabled_metrics_without_a_secret_is_a_configuration_error(tmp_path):
    config = tmp_path / "config.yml"
    config.write_text(yaml_text({
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "store")}},
        "openshift": {"metrics": {"enabled": True}},
    }) + "\n")
    result = subprocess.run([str(wharf_binary()), "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "openshift.metrics.secret: required when metrics are enabled" in result.stdout + result.stderr


def test_a_pull_through_the_mirror_counts_misses_hits_bytes_and_upstream_requests(docker_registry_factory, wharf_factory, tmp_path):
    upstream = docker_registry_factory()
    wharf = start_wharf(wharf_factory, tmp_path, "mirror", openshift=metrics_section(),
                        proxy={"remoteurl": upstream.base})
    registry = upstream.host  # the proxy's registry: a configured upstream, so its own label value
    data = os.urandom(3 * 1024 * 1024 + 17)
    size = len(data)
    digest = upstream.client.push_blob("team/app", data)
    image = upstream.client.push_image("team/app", "v1")

    before = scrape(wharf)
    for result in ("hit", "miss", "join", "redirect", "stale"):
        assert value(before, "wharf_cache_results_total", route="blob", result=result) == 0
    assert value(before, "wharf_fills_in_flight") == 0
    assert {"registry": registry, "operation": "blob_get", "outcome": "ok"} in series(before, "wharf_upstream_requests_total")

    # First GET: a miss, every byte from upstream.
    first = wharf.client.get_blob("team/app", digest)
    assert first.status_code == 200 and first.content == data
    assert wait_for_blob(wharf.root, digest, size) == size
    wait_for_value(wharf, "wharf_cache_results_total", 1, route="blob", result="miss")
    # The fill is counted when it ends, a moment after its blob is in place (and fsynced).
    samples = wait_for_value(wharf, "wharf_fill_staging_bytes_total", size)
    assert value(samples, "wharf_cache_results_total", route="blob", result="miss") == 1
    assert value(samples, "wharf_cache_results_total", route="blob", result="hit") == 0
    assert value(samples, "wharf_cache_served_bytes_total", route="blob", source="upstream") == size
    assert value(samples, "wharf_cache_served_bytes_total", route="blob", source="cache") == 0
    assert value(samples, "wharf_upstream_requests_total", registry=registry, operation="blob_get", outcome="ok") == 1
    assert value(samples, "wharf_upstream_requests_total", operation="blob_head") == 0
    assert value(samples, "wharf_fill_staging_bytes_total") == size
    assert value(samples, "wharf_fill_duration_seconds_count", outcome="committed") == 1
    assert value(samples, "wharf_fill_duration_seconds_count", outcome="failed") == 0
    assert value(samples, "wharf_fills_in_flight") == 0

    # Second GET: a hit, every byte from the cache, nothing upstream.
    second = wharf.client.get_blob("team/app", digest)
    assert second.status_code == 200 and second.content == data
    samples = wait_for_value(wharf, "wharf_cache_results_total", 1, route="blob", result="hit")
    assert value(samples, "wharf_cache_results_total", route="blob", result="hit") == 1
    assert value(samples, "wharf_cache_results_total", route="blob", result="miss") == 1
    assert value(samples, "wharf_cache_served_bytes_total", route="blob", source="cache") == size
    assert value(samples, "wharf_cache_served_bytes_total", route="blob", source="upstream") == size
    assert value(samples, "wharf_upstream_requests_total", operation="blob_get") == 1
    assert value(samples, "wharf_http_requests_total", route="blob", method="GET", code="200") == 2
    assert value(samples, "wharf_http_request_duration_seconds_count", route="blob") == 2
    # The upstream saw exactly what the counter says.
    assert len(wait_for_lines(upstream.log_text, "GET", f"/v2/team/app/blobs/{digest}", 1)) == 1

    # A manifest by tag: fetched once, then served from the kept copy.
    accept = {"Accept": image.media_type}
    for _ in range(2):
        response = wharf.client.get("/v2/team/app/manifests/v1", headers=accept)
        assert response.status_code == 200 and response.content == image.body
    samples = wait_for_value(wharf, "wharf_cache_results_total", 1, route="manifest", result="hit")
    assert value(samples, "wharf_cache_results_total", route="manifest", result="miss") == 1
    assert value(samples, "wharf_cache_results_total", route="manifest", result="hit") == 1
    assert value(samples, "wharf_cache_served_bytes_total", route="manifest", source="upstream") == len(image.body)
    assert value(samples, "wharf_cache_served_bytes_total", route="manifest", source="cache") == len(image.body)
    assert value(samples, "wharf_upstream_requests_total", registry=registry, operation="manifest_get", outcome="ok") == 1
    assert len(access_lines(upstream.log_text(), "GET", "/v2/team/app/manifests/v1")) == 1

    # A blob the upstream lacks: a HEAD upstream, outcome not_found; a 404 counted under its code.
    missing = "sha256:" + "0" * 64
    assert wharf.client.head(f"/v2/team/app/blobs/{missing}").status_code == 404
    samples = wait_for_value(wharf, "wharf_upstream_requests_total", 1, operation="blob_head", outcome="not_found")
    assert value(samples, "wharf_upstream_requests_total", registry=registry, operation="blob_head", outcome="not_found") == 1
    assert value(samples, "wharf_http_requests_total", route="blob", method="HEAD", code="404") == 1

    # No label carries a repository name or a digest.
    text = session().get(wharf.base + METRICS_PATH, headers={"Authorization": f"Bearer {SECRET}"}, timeout=10).text
    assert "team/app" not in text and "sha256" not in text


def test_cdn_redirects_and_edge_verifications_are_counted(wharf_factory, tmp_path):
    require_tool("openssl")
    private, public = mint_key_pair(tmp_path / "keys", "ktest")
    for attempt in range(3):
        origin_port, edge_port = free_port(), free_port()
        if origin_port == edge_port:
            continue
        origin_cfg = origin_config(tmp_path / "origin", origin_port, edge_port, private)
        edge_cfg = edge_config(tmp_path / "edge", edge_port, origin_port, public)
        origin_cfg["openshift"] = metrics_section()
        edge_cfg["openshift"] = metrics_section()
        try:
            origin = wharf_factory(tmp_path / "origin", port=origin_port, config_text=yaml_text(origin_cfg))
            edge = wharf_factory(tmp_path / "edge", port=edge_port, config_text=yaml_text(edge_cfg))
            break
        except PortInUse:
            if attempt == 2:
                raise
    data = os.urandom(200_000)
    digest = origin.client.push_blob("cdn/app", data)

    redirect = session().get(f"{origin.base}/v2/cdn/app/blobs/{digest}", allow_redirects=False, timeout=30)
    assert redirect.status_code == 307, redirect.text
    location = redirect.headers["Location"]
    samples = wait_for_value(origin, "wharf_cdn_redirects_total", 1)
    assert value(samples, "wharf_cache_results_total", route="blob", result="redirect") == 1
    assert value(samples, "wharf_cache_served_bytes_total", route="blob") == 0

    served = session().get(location, timeout=30)
    assert served.status_code == 200 and served.content == data
    samples = wait_for_value(edge, "wharf_cdn_edge_verifications_total", 1, outcome="ok")
    assert value(samples, "wharf_cache_results_total", route="cdn", result="miss") == 1
    assert value(samples, "wharf_cache_served_bytes_total", route="cdn", source="upstream") == len(data)
    assert value(samples, "wharf_upstream_requests_total", registry="origin", operation="blob_get", outcome="ok") == 1
    # The origin checked the edge's fetch with its own key.
    samples = wait_for_value(origin, "wharf_cdn_edge_verifications_total", 1, outcome="ok")

    signature = location.split("Signature=")[1].split("&")[0]
    tampered = with_param(location, "Signature", ("B" if signature[0] == "A" else "A") + signature[1:])
    assert session().get(tampered, timeout=30).status_code == 403
    unknown = with_param(location, "Key-Pair-Id", KEY_PAIR_ID + "X")
    assert session().get(unknown, timeout=30).status_code == 403
    samples = wait_for_value(edge, "wharf_cdn_edge_verifications_total", 1, outcome="unknown_key")
    assert value(samples, "wharf_cdn_edge_verifications_total", outcome="bad_signature") == 1
    assert value(samples, "wharf_cdn_edge_verifications_total", outcome="ok") == 1
    assert value(samples, "wharf_http_requests_total", route="cdn", method="GET", code="403") == 2
    again = session().get(location, timeout=30)
    assert again.status_code == 200 and again.content == data
    samples = wait_for_value(edge, "wharf_cache_results_total", 1, route="cdn", result="hit")
    assert value(samples, "wharf_cache_served_bytes_total", route="cdn", source="cache") == len(data)
