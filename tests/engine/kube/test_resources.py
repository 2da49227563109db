"""Effective pod requests and node allocatable, as kube-scheduler computes them."""

from __future__ import annotations

import pytest

from engine.errors import InputError
from engine.kube import node_allocatable, pod_request

from .builders import node


def _container(
    name: str, cpu: str | None = None, memory: str | None = None, always: bool = False
) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    c: dict = {"name": name, "image": "x", "resources": {"requests": requests}}
    if always:
        c["restartPolicy"] = "Always"
    return c


def _pod(containers: list, init: list | None = None, **spec: object) -> dict:
    return {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": containers, "initContainers": init or [], **spec},
    }


def test_sum_of_app_containers_plus_one_pod_slot() -> None:
    p = _pod([_container("a", "500m", "512Mi"), _container("b", "250m", "256Mi")])
    assert pod_request(p) == {"cpu": 750, "memory": 768 * 2**20, "pods": 1}


def test_init_container_peak_wins_when_larger() -> None:
    # docs: the effective init request is the highest init request; the pod takes the larger of
    # that and the sum of the app containers, per resource
    p = _pod(
        [_container("a", "500m", "512Mi"), _container("b", "250m", "256Mi")],
        [_container("i", "100m", "1Gi")],
    )
    assert pod_request(p) == {"cpu": 750, "memory": 2**30, "pods": 1}


def test_sidecars_add_to_the_app_sum_and_to_later_init_steps() -> None:
    init = [
        _container("sidecar-1", "100m", always=True),
        _container("big-init", "900m"),  # runs next to sidecar-1: 1000m
        _container("sidecar-2", "50m", always=True),
    ]
    p = _pod([_container("app", "500m"), _container("app2", "200m")], init)
    # app sum 700m + sidecars 150m = 850m < init peak 1000m
    assert pod_request(p)["cpu"] == 1000


def test_sidecar_sum_dominates_when_init_is_small() -> None:
    init = [_container("sidecar", "300m", always=True), _container("small-init", "100m")]
    p = _pod([_container("app", "500m")], init)
    assert pod_request(p)["cpu"] == 800


def test_overhead_is_added() -> None:
    p = _pod([_container("app", "500m", "1Gi")], overhead={"cpu": "250m", "memory": "120Mi"})
    assert pod_request(p) == {"cpu": 750, "memory": 2**30 + 120 * 2**20, "pods": 1}


def test_limits_only_default_the_request_and_extended_resources_count() -> None:
    c = {"name": "gpu", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "2", "cpu": "1"}}}
    assert pod_request(_pod([c])) == {"nvidia.com/gpu": 2, "cpu": 1000, "pods": 1}


def test_pod_without_requests_takes_only_a_slot() -> None:
    assert pod_request(_pod([{"name": "a", "image": "x"}])) == {"pods": 1}


def test_bad_quantity_names_pod_and_field() -> None:
    with pytest.raises(InputError) as err:
        pod_request(_pod([_container("a", "lots")]))
    assert "Pod/ns/p" in str(err.value)
    assert "spec.containers[0].resources.requests.cpu" in str(err.value)


def test_allocatable_not_capacity() -> None:
    n = node("n1", cpu="3800m", memory="15Gi", extra={"nvidia.com/gpu": "4"})
    n["status"]["capacity"] = {"cpu": "4", "memory": "16Gi", "pods": "110"}
    assert node_allocatable(n) == {
        "cpu": 3800,
        "memory": 15 * 2**30,
        "pods": 110,
        "nvidia.com/gpu": 4,
    }


def test_capacity_is_the_fallback_and_pods_default_to_110() -> None:
    n = {"kind": "Node", "metadata": {"name": "n"}, "status": {"capacity": {"cpu": "2"}}}
    assert node_allocatable(n) == {"cpu": 2000, "pods": 110}
