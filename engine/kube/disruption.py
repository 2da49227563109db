"""PodDisruptionBudgets (policy/v1) -> IR disruption budgets, for ``placer migrate``.

A budget selects pods of its own namespace with a label selector (``{}`` selects every pod of the
namespace, a missing selector none); it gives ``minAvailable`` or ``maxUnavailable``, an integer or
a percentage. The selected groups get a synthetic label, as pod affinity terms do, so the IR
selector picks exactly the pods the disruption controller would count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .objects import bad, mapping, namespace_of, ref
from .selectors import LabelSelector, parse_label_selector


class _View(Protocol):
    namespace: str
    labels: dict[str, str]
    terminating: bool


class _Grouped(Protocol):
    view: _View


Labeler = Callable[[tuple[Any, ...], Callable[[Any], bool], LabelSelector | None], dict[str, str]]


def _number(pdb: Mapping[str, Any], field: str, value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        if int(value[:-1]) <= 100:
            return value
    raise bad(
        pdb, f"spec.{field}", f"expected a non-negative integer or a percentage, got {value!r}"
    )


def disruption_budgets(
    pdbs: list[dict[str, Any]], label: Labeler, notes: list[str]
) -> list[dict[str, Any]]:
    """IR ``disruption_budgets`` entries; ``label`` marks the groups a selector picks."""
    out = []
    for pdb in pdbs:
        spec = mapping(pdb, pdb.get("spec"), "spec")
        low = _number(pdb, "minAvailable", spec.get("minAvailable"))
        high = _number(pdb, "maxUnavailable", spec.get("maxUnavailable"))
        if low is not None and high is not None:
            raise bad(pdb, "spec", "minAvailable and maxUnavailable are mutually exclusive")
        selector = parse_label_selector(pdb, spec.get("selector"), "spec.selector")
        if selector is None or (low is None and high is None):
            notes.append(f"{ref(pdb)}: selects no pod or limits nothing; ignored")
            continue
        ns = namespace_of(pdb)

        def selects(g: _Grouped, ns: str = ns, selector: LabelSelector = selector) -> bool:
            view = g.view
            return view.namespace == ns and not view.terminating and selector.matches(view.labels)

        entry: dict[str, Any] = {
            "name": ref(pdb),
            "selector": label(("pdb", ns, selector.canonical()), selects, selector),
        }
        entry["min_available" if low is not None else "max_unavailable"] = (
            low if low is not None else high
        )
        out.append(entry)
    return out


__all__ = ["disruption_budgets"]
