"""Hypothesis strategies for small random, *valid* ``engine.ir.Problem`` instances.

The tests' property strategies, and the random problems of ``python -m bench audit`` (here, in
the bench package, so an installed placer has them). Stable API (test modules import these; add
keyword arguments, never change the meaning):

``problems(max_bins=4, max_groups=4, max_count=4, constraints=True, objectives=True, *,
min_bins=1, min_groups=1, tenants=True, placed=True, soft=True) -> SearchStrategy[Problem]``
    Bins ``b0..`` with cpu/memory/pods capacity, ``kubernetes.io/hostname`` = name and (usually)
    a ``topology.kubernetes.io/zone`` label in z0..z2, bin cost 0.5/1/2. Groups ``g0..`` with
    counts 1..max_count, cpu/memory demands, labels ``{app: <name>, tier: a|b}``, priorities 0..2,
    optional ``allowed`` lists, per-bin ``cost``, items already ``placed`` (fitting the remaining
    capacity, ``movable`` or not), ``required`` flags and tenants. With ``constraints=True`` up to
    three constraints of every kind: anti_affinity (with and without ``target``), affinity,
    spread (``max_skew``, ``min_domains``, ``bins``), gang, quota (with tenants); with
    ``soft=True`` some carry a ``weight``. With ``objectives=True`` the objective has 1..3
    lexicographic levels over placed, bins_used, cost, balance, moves, fairness, soft (each term
    at most once); otherwise it is ``[placed]``.

``pure_packing_problems(max_bins=4, max_groups=4, max_count=4) -> SearchStrategy[Problem]``
    Capacity only: cpu/memory bins and groups, no labels used, no constraints, no placed items,
    objective ``[placed, {bins_used: 1}]``.

Selectors always use the ``app``/``tier`` labels, topologies the hostname/zone keys, so
constraints select real groups. Problems may be infeasible when items are ``required``; that is
on purpose (backends must then report ``infeasible`` or ``unknown``, never a wrong plan).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from engine.ir import Problem

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
TOPOLOGIES = (HOSTNAME, ZONE)
ZONES = ("z0", "z1", "z2")
CPU_CAPACITIES = ("0", "1", "2", "4")
MEMORY_CAPACITIES = ("1Gi", "2Gi", "4Gi", "8Gi")
CPU_DEMANDS = (0, 250, 500, 1000, 1500)  # millicores
MEMORY_DEMANDS = (0, 256, 512, 1024, 2048)  # MiB
OBJECTIVE_TERMS = ("placed", "bins_used", "cost", "balance", "moves", "fairness", "soft")
WEIGHTS = (0.5, 1.0, 2.0)

__all__ = ["problems", "pure_packing_problems"]


def _cpu(millis: int) -> str:
    return f"{millis}m"


def _mem(mib: int) -> str:
    return f"{mib}Mi"


@st.composite
def _bins(draw: st.DrawFn, min_bins: int, max_bins: int, labels: bool) -> list[dict[str, Any]]:
    n = draw(st.integers(min_bins, max_bins))
    out = []
    for k in range(n):
        name = f"b{k}"
        capacity: dict[str, Any] = {
            "cpu": draw(st.sampled_from(CPU_CAPACITIES)),
            "memory": draw(st.sampled_from(MEMORY_CAPACITIES)),
        }
        if draw(st.booleans()):
            capacity["pods"] = draw(st.integers(1, 6))
        bin_: dict[str, Any] = {"name": name, "capacity": capacity}
        if labels:
            bin_labels = {HOSTNAME: name}
            if draw(st.integers(0, 9)) > 0:  # now and then a bin without a zone
                bin_labels[ZONE] = draw(st.sampled_from(ZONES))
            bin_["labels"] = bin_labels
            bin_["cost"] = draw(st.sampled_from((0.5, 1.0, 1.0, 2.0)))
        out.append(bin_)
    return out


def _remaining(bins: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Capacity left per bin in millicores / MiB / pods, to place pre-placed items that fit."""
    out = {}
    for b in bins:
        cap = b["capacity"]
        out[b["name"]] = {
            "cpu": int(cap["cpu"]) * 1000,
            "memory": int(cap["memory"].removesuffix("Gi")) * 1024,
            "pods": cap.get("pods", 0) if "pods" in cap else 10**6,
        }
    return out


@st.composite
def _groups(
    draw: st.DrawFn,
    bins: list[dict[str, Any]],
    min_groups: int,
    max_groups: int,
    max_count: int,
    rich: bool,
    tenants: list[str],
    placed: bool,
) -> list[dict[str, Any]]:
    n = draw(st.integers(min_groups, max_groups))
    names = [b["name"] for b in bins]
    left = _remaining(bins)
    out = []
    for k in range(n):
        name = f"g{k}"
        cpu = draw(st.sampled_from(CPU_DEMANDS))
        mem = draw(st.sampled_from(MEMORY_DEMANDS))
        group: dict[str, Any] = {
            "name": name,
            "count": draw(st.integers(1, max_count)),
            "demand": {"cpu": _cpu(cpu), "memory": _mem(mem)},
        }
        if any("pods" in b["capacity"] for b in bins):
            group["demand"]["pods"] = 1
        if rich:
            group["labels"] = {"app": name, "tier": draw(st.sampled_from(("a", "b")))}
            group["priority"] = draw(st.sampled_from((0, 0, 1, 2)))
            if tenants and draw(st.booleans()):
                group["tenant"] = draw(st.sampled_from(tenants))
            if names and draw(st.integers(0, 3)) == 0:
                group["allowed"] = draw(
                    st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True)
                )
            if names and draw(st.integers(0, 2)) == 0:
                group["cost"] = {
                    b: draw(st.sampled_from((0.0, 1.0, 2.5, 5.0)))
                    for b in draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
                }
            if placed and names and draw(st.integers(0, 3)) == 0:
                where: dict[str, int] = {}
                for _ in range(draw(st.integers(1, group["count"]))):
                    b = draw(st.sampled_from(names))
                    room = left[b]
                    pods = 1 if "pods" in group["demand"] else 0
                    if room["cpu"] >= cpu and room["memory"] >= mem and room["pods"] >= pods:
                        room["cpu"] -= cpu
                        room["memory"] -= mem
                        room["pods"] -= pods
                        where[b] = where.get(b, 0) + 1
                if where:
                    group["placed"] = where
                    group["movable"] = draw(st.booleans())
            group["required"] = draw(st.integers(0, 4)) == 0
        out.append(group)
    return out


@st.composite
def _selector(draw: st.DrawFn, groups: list[dict[str, Any]]) -> dict[str, str]:
    if draw(st.booleans()):
        return {"app": draw(st.sampled_from([g["name"] for g in groups]))}
    return {"tier": draw(st.sampled_from(("a", "b")))}


@st.composite
def _constraint(
    draw: st.DrawFn,
    bins: list[dict[str, Any]],
    groups: list[dict[str, Any]],
    tenants: list[str],
    soft: bool,
) -> dict[str, Any]:
    kinds = ["anti_affinity", "anti_affinity_target", "affinity", "spread", "gang"]
    if tenants:
        kinds.append("quota")
    kind = draw(st.sampled_from(kinds))
    c: dict[str, Any]
    if kind == "gang":
        members = draw(
            st.lists(
                st.sampled_from([g["name"] for g in groups]), min_size=1, max_size=2, unique=True
            )
        )
        return {"kind": "gang", "items": members}
    if kind == "quota":
        limits = {"cpu": _cpu(draw(st.sampled_from((500, 1000, 2000, 4000))))}
        if draw(st.booleans()):
            limits["memory"] = _mem(draw(st.sampled_from((512, 1024, 4096))))
        return {"kind": "quota", "tenant": draw(st.sampled_from(tenants)), "limits": limits}
    topology = draw(st.sampled_from(TOPOLOGIES))
    selector = draw(_selector(groups))
    if kind == "anti_affinity":
        c = {"kind": kind, "selector": selector, "topology": topology}
        c["max_per_domain"] = draw(st.integers(1, 2))
    elif kind == "anti_affinity_target":
        c = {"kind": "anti_affinity", "selector": selector, "topology": topology}
        c["target"] = draw(_selector(groups))
    elif kind == "affinity":
        c = {"kind": kind, "selector": selector, "topology": topology}
        c["target"] = draw(_selector(groups))
    else:
        c = {"kind": "spread", "selector": selector, "topology": topology}
        c["max_skew"] = draw(st.integers(1, 2))
        if draw(st.integers(0, 3)) == 0:
            c["min_domains"] = draw(st.integers(1, 4))
        if bins and draw(st.integers(0, 3)) == 0:
            c["bins"] = draw(
                st.lists(st.sampled_from([b["name"] for b in bins]), min_size=1, unique=True)
            )
    if soft and draw(st.integers(0, 2)) == 0:
        c["weight"] = draw(st.sampled_from(WEIGHTS))
    return c


@st.composite
def _objective(draw: st.DrawFn) -> list[Any]:
    terms = draw(st.permutations(OBJECTIVE_TERMS))
    n_terms = draw(st.integers(1, 4))
    chosen = list(terms[:n_terms])
    if "placed" not in chosen and draw(st.booleans()):
        chosen.insert(0, "placed")
    levels: list[Any] = []
    while chosen:
        size = draw(st.integers(1, min(2, len(chosen))))
        level, chosen = chosen[:size], chosen[size:]
        if size == 1 and draw(st.booleans()):
            levels.append(level[0])
        else:
            levels.append({t: draw(st.sampled_from(WEIGHTS)) for t in level})
        if len(levels) == 3:
            break
    return levels


@st.composite
def problems(
    draw: st.DrawFn,
    max_bins: int = 4,
    max_groups: int = 4,
    max_count: int = 4,
    constraints: bool = True,
    objectives: bool = True,
    *,
    min_bins: int = 1,
    min_groups: int = 1,
    tenants: bool = True,
    placed: bool = True,
    soft: bool = True,
) -> Problem:
    """A small random valid Problem (see the module docstring for what it covers)."""
    bins = draw(_bins(min_bins, max_bins, labels=True))
    tenant_names: list[str] = []
    tenant_rows: list[dict[str, Any]] = []
    if tenants and draw(st.booleans()):
        for k in range(draw(st.integers(1, 2))):
            row: dict[str, Any] = {"name": f"t{k}", "weight": draw(st.sampled_from(WEIGHTS))}
            if draw(st.integers(0, 3)) == 0:
                row["quota"] = {"cpu": _cpu(draw(st.sampled_from((1000, 2000, 3000))))}
            tenant_rows.append(row)
            tenant_names.append(row["name"])
    groups = draw(
        _groups(bins, min_groups, max_groups, max_count, True, tenant_names, placed=placed)
    )
    data: dict[str, Any] = {
        "apiVersion": "placer/v1",
        "kind": "Problem",
        "name": "random",
        "bins": bins,
        "items": groups,
        "tenants": tenant_rows,
    }
    if constraints and groups:
        data["constraints"] = draw(
            st.lists(_constraint(bins, groups, tenant_names, soft), max_size=3)
        )
    data["objective"] = draw(_objective()) if objectives else ["placed"]
    return Problem.model_validate(data)


@st.composite
def pure_packing_problems(
    draw: st.DrawFn, max_bins: int = 4, max_groups: int = 4, max_count: int = 4
) -> Problem:
    """Capacity only: bins and groups, no constraints, objective [placed, {bins_used: 1}]."""
    bins = draw(_bins(1, max_bins, labels=False))
    groups = draw(_groups(bins, 1, max_groups, max_count, False, [], placed=False))
    return Problem.model_validate(
        {
            "name": "packing",
            "bins": bins,
            "items": groups,
            "objective": ["placed", {"bins_used": 1.0}],
        }
    )
