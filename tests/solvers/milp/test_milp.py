"""The milp backend: known answers for every constraint kind and term, status honesty, limits."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import pytest

from engine.errors import BackendUnavailable, PlacerError
from engine.ir import Problem
from engine.solution import Progress, Status
from engine.solve import solve
from engine.verify import verify
from solvers.lowering import lower
from solvers.lowering.starts import first_fit_decreasing
from solvers.milp import drivers as milp_run
from solvers.milp.backend import MilpBackend
from solvers.milp.drivers import cbc_path

from .cases import CASES, item, nodes, problem

SOLVERS = ["highs", "cbc"]


def _close(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6) for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(("case", "p", "expected"), CASES, ids=[c[0] for c in CASES])
def test_known_answer(
    case: str, p: Problem, expected: tuple[float, ...] | None, solver: str
) -> None:
    sol = solve(p, "milp", time_limit=20, threads=1, solver=solver)
    if expected is None:
        assert sol.status == Status.INFEASIBLE
        return
    assert sol.status == Status.OPTIMAL, sol.info
    assert sol.verified
    assert _close(sol.objective, expected), (sol.objective, expected)
    assert sol.bound is not None and _close(tuple(v or 0.0 for v in sol.bound), expected)


def test_plan_keeps_pinned_items_and_reports_unplaced() -> None:
    p = problem(nodes(2), [item("db", 2, "1500m", placed={"n0": 2}), item("web", 3, "1500m")])
    sol = solve(p, "milp", time_limit=10, threads=1)
    assert sol.counts()[("db", "n0")] == 2
    assert {u.item: u.count for u in sol.unplaced} == {"web": 1}


def test_negative_weight_on_one_sided_term_is_refused() -> None:
    p = problem(nodes(2), [item("web", 2)], objective=["placed", {"balance": -1.0}])
    with pytest.raises(PlacerError, match="balance"):
        solve(p, "milp", time_limit=5)


def test_negative_weight_on_bins_used_is_exact() -> None:
    # bins_used is modelled exactly both ways: maximising it spreads over every bin
    p = problem(nodes(3), [item("web", 3)], objective=["placed", {"bins_used": -1.0}])
    sol = solve(p, "milp", time_limit=10, threads=1)
    assert sol.status == Status.OPTIMAL
    assert _close(sol.objective, (3, -3.0))


@pytest.mark.parametrize("params", [{"solver": "gurobi"}, {"gap": 2}, {"colour": "red"}])
def test_bad_parameters_are_clear_errors(params: dict[str, object]) -> None:
    with pytest.raises(PlacerError):
        solve(problem(nodes(1), [item("web", 1)]), "milp", **params)


def test_progress_is_reported_per_level() -> None:
    seen: list[Progress] = []
    p = problem(nodes(2), [item("web", 3)], objective=["placed", {"bins_used": 1}])
    solve(p, "milp", time_limit=10, threads=1, on_progress=seen.append)
    # the warm start at once (every level, no bound yet), then each level as it is solved
    assert [len(s.objective) for s in seen] == [2, 1, 2]
    assert seen[0].bound is None


def test_no_time_means_unknown_not_a_guess() -> None:
    p = problem(nodes(3), [item("web", 5)])
    sol = MilpBackend().solve(p, _options(time_limit=1e-9))
    assert sol.status == Status.UNKNOWN
    assert not sol.placements


def test_warm_start_is_capacity_feasible() -> None:
    p = problem(nodes(3, "2"), [item("a", 4, "1500m"), item("b", 5, "500m", placed={"n2": 1})])
    counts = first_fit_decreasing(lower(p))
    from engine.verify import check_capacity, check_pinned

    assert not list(check_capacity(p, counts))
    assert not list(check_pinned(p, counts))
    # largest first: one a per bin (the fourth has no room), then b fills what is left
    assert sum(n for (g, _), n in counts.items() if g == "a") == 3
    assert sum(n for (g, _), n in counts.items() if g == "b") == 1 + 2


def test_time_limited_run_is_feasible_with_open_bound(tmp_path: Path) -> None:
    """A CBC that never answers is killed from outside; the warm start is kept, not claimed optimal."""
    fake = tmp_path / "cbc"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    p = problem(nodes(2), [item("web", 3)], objective=["placed", {"bins_used": 1}])
    sol = solve(p, "milp", time_limit=0.5, threads=1, solver="cbc", cbc_path=str(fake))
    assert sol.status == Status.FEASIBLE
    assert sol.verified
    # level 1 needs no solve (the start places every item); level 2's CBC is killed: no bound
    assert sol.bound == (3.0, None)
    assert sol.info["stages"][0]["floor"] == "reached"
    assert "killed" in sol.info["stages"][1]["stopped"]
    assert sol.seconds < 10


def test_cbc_without_solution_is_not_a_plan(tmp_path: Path) -> None:
    """CBC stopped with only the LP relaxation: its values must not become a plan."""
    fake = tmp_path / "cbc"
    fake.write_text(
        "#!/bin/sh\n"
        'for a; do last="$prev"; prev="$a"; done\n'
        'sol="$prev"\n'
        'echo "Result - Stopped on time limit"\n'
        'echo "Lower bound:                    1.5"\n'
        'echo "Stopped on time (no integer solution - continuous used) - objective value 1.5"'
        ' > "$sol"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    p = problem(nodes(2), [item("web", 3)])
    sol = solve(p, "milp", time_limit=5, solver="cbc", cbc_path=str(fake), warm_start=False)
    assert sol.info["stages"][0]["outcome"] == "none"  # CBC's LP values were not taken
    # the answer is the greedy start plan, said to be one (see solvers.composites.QuickStart)
    assert sol.info["returned_start"] == "greedy" and sol.verified
    bare = solve(p, "milp", time_limit=5, solver="cbc", cbc_path=str(fake), start="none")
    assert bare.status == Status.UNKNOWN


def test_cbc_missing_is_reported_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milp_run.os, "access", lambda *_: False)
    monkeypatch.setattr(milp_run.shutil, "which", lambda *_: None)
    with pytest.raises(BackendUnavailable, match="cbc_path=PATH"):
        cbc_path()
    with pytest.raises(BackendUnavailable):
        solve(problem(nodes(1), [item("web", 1)]), "milp", solver="cbc")


def test_cbc_is_detected() -> None:
    path = cbc_path()
    assert os.access(path, os.X_OK)


def test_plans_verify_independently() -> None:
    for _, p, expected in CASES:
        if expected is None:
            continue
        sol = solve(p, "milp", time_limit=10, threads=1)
        assert verify(p, sol).ok


def _options(**kw: object):  # type: ignore[no-untyped-def]
    from solvers.base import Options

    return Options(**kw)  # type: ignore[arg-type]


def test_identical_bins_are_used_in_order() -> None:
    """Symmetry breaking joins only bins no plan can tell apart (the lowering's classes), and
    the rows follow the lowering's canonical order."""
    from solvers.milp.model import build

    p = problem(
        nodes(3, "4", zones=["z0", "z0", "z1"]),
        [item("web", 2, allowed=None)],
        objective=["placed", {"bins_used": 1}],
    )
    model = build(lower(p))
    rows = [str(c) for c in model.lp.constraints() if c.name.startswith("symmetry")]
    assert rows == ["y_n0 - y_n1 >= 0", "y_n1 - y_n2 >= 0"]  # no rule looks at zones
    sol = solve(p, "milp", time_limit=10, threads=1)
    assert sol.status == Status.OPTIMAL
    assert _close(sol.objective, (2, 1.0))


def test_colliding_names_stay_distinct() -> None:
    p = problem(nodes(1), [item("a-b", 1), item("a_b", 2)], objective=["placed"])
    sol = solve(p, "milp", time_limit=10, threads=1)
    assert sol.status == Status.OPTIMAL
    assert sol.counts() == {("a-b", "n0"): 1, ("a_b", "n0"): 2}


def _packing(sizes: list[int], capacity: int) -> Problem:
    from collections import Counter

    kinds = Counter(sizes)
    return Problem.model_validate(
        {
            "name": "packing",
            "bins": [{"name": f"b{k}", "capacity": {"r0": capacity}} for k in range(len(sizes))],
            "items": [
                {"name": f"i{w}", "count": n, "demand": {"r0": w}, "required": True}
                for w, n in kinds.items()
            ],
            "objective": [{"bins_used": 1}],
        }
    )


@pytest.mark.parametrize(
    ("sizes", "capacity", "best"),
    [
        ([6, 5, 4, 3, 2], 10, 2),  # 6+4, 5+3+2
        ([7, 7, 7, 3, 3, 3], 10, 3),
        ([5, 5, 5, 5, 4, 4, 4, 4, 3, 3], 12, 4),  # 42 units: at least 4 bins
        ([9, 8, 2, 2, 1], 10, 3),
    ],
)
def test_arcflow_agrees_with_the_per_bin_model(sizes: list[int], capacity: int, best: int) -> None:
    p = _packing(sizes, capacity)
    arc = solve(p, "milp", time_limit=10, threads=1)
    per_bin = solve(p, "milp", time_limit=10, threads=1, formulation="per_bin")
    assert arc.info["formulation"] == "arcflow"
    assert "formulation" not in per_bin.info
    for sol in (arc, per_bin):
        assert sol.status == Status.OPTIMAL and sol.verified
        assert sol.objective == (best,)


def test_arcflow_is_refused_where_it_does_not_apply() -> None:
    with pytest.raises(PlacerError, match="arcflow"):
        solve(problem(nodes(2), [item("web", 3)]), "milp", formulation="arcflow")


@pytest.mark.parametrize(
    ("folder", "name"),
    [("falkenauer_u", "Falkenauer_u120_00"), ("falkenauer_t", "Falkenauer_t60_00")],
)
@pytest.mark.parametrize("solver", SOLVERS)
def test_falkenauer_optimum(shared_data: Path, folder: str, name: str, solver: str) -> None:
    import csv

    from engine.formats import read_bpplib

    optima = {
        r["instance"]: int(r["optimum"])
        for r in csv.DictReader((shared_data / "bpp1d" / "optima.csv").open())
    }
    p = read_bpplib(shared_data / "bpp1d" / "instances" / folder / f"{name}.txt")
    sol = solve(p, "milp", time_limit=60, threads=1, solver=solver)
    assert sol.status == Status.OPTIMAL and sol.verified
    assert sol.objective == (optima[name],)


@pytest.mark.parametrize(("threads", "expected"), [(1, None), (None, None), (2, "2")])
def test_cbc_runs_serial_without_a_threads_option(
    tmp_path: Path, threads: int | None, expected: str | None
) -> None:
    """``-threads 1`` starts CBC's parallel search with one worker, which at times waits 10 s
    to start: one thread is CBC's serial search, with no option at all."""
    real = cbc_path(None)
    record = tmp_path / "args"
    wrapper = tmp_path / "cbc"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{record}"\nexec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    p = problem(nodes(2), [item("web", 3)], objective=["placed", {"bins_used": 1}])
    sol = solve(p, "milp", time_limit=10, threads=threads, solver="cbc", cbc_path=str(wrapper))
    assert sol.status == Status.OPTIMAL and sol.verified
    runs = [line.split() for line in record.read_text().splitlines()]
    assert runs, "CBC never ran"
    for args in runs:
        given = args[args.index("-threads") + 1] if "-threads" in args else None
        assert given == expected
