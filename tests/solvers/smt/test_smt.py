"""The smt backend agrees with cpsat and milp (regression and random instances) and with brute
force; ``placer verify --prove`` confirms true claims and refutes planted false ones."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from bench.strategies import problems
from engine.io import dump_problem, load
from engine.ir import Problem
from engine.solution import Solution, Status
from engine.solve import solve
from solvers.smt.prove import prove
from tests.profiles import examples
from tests.solvers.test_agreement import _agree, _brute_force, _same
from tests.solvers.test_regressions import CASES, HERE

from ...engine.test_cli import run

FAST = settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("name", sorted(CASES))
def test_smt_proves_the_regression_optima(name: str) -> None:
    plan = solve(load(HERE / name), "smt", time_limit=30)
    assert plan.verified and str(plan.status) == "optimal"
    assert plan.objective == pytest.approx(CASES[name], abs=1e-4)


@FAST
@given(problems(max_bins=3, max_groups=3, max_count=3))
def test_smt_agrees_with_cpsat_and_milp(p: Problem) -> None:
    smt = solve(p, "smt", time_limit=10)
    for other in ("cpsat", "milp"):
        _agree(p, smt, solve(p, other, time_limit=10, threads=1))


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_bins=2, max_groups=3, max_count=2))
def test_smt_matches_brute_force(p: Problem) -> None:
    expected = _brute_force(p)
    plan = solve(p, "smt", time_limit=10)
    if expected is None:
        assert plan.status == Status.INFEASIBLE
    else:
        assert plan.status == Status.OPTIMAL, plan.info
        assert _same(plan.objective, expected), (plan.objective, expected)


def _problem() -> Problem:
    return Problem.model_validate(
        {
            "name": "claims",
            "bins": [
                {"name": n, "capacity": {"cpu": "2"}, "cost": c}
                for n, c in (("a", 1), ("b", 3), ("c", 1))
            ],
            "items": [
                {"name": "web", "count": 2, "demand": {"cpu": "1"}},
                {"name": "db", "count": 1, "demand": {"cpu": "2"}, "priority": 1},
            ],
            "objective": ["placed", {"bins_used": 1}],
        }
    )


def test_a_true_optimum_is_confirmed_and_a_planted_false_one_refuted() -> None:
    p = _problem()
    best = solve(p, "cpsat")
    assert prove(p, best).outcome == "confirmed"
    # a valid plan whose "optimal" claim is false: db on the expensive node, web on the cheap one
    false = Solution.from_counts(p, "planted", Status.OPTIMAL, {("db", "b"): 1, ("web", "a"): 2})
    verdict = prove(p, false)
    assert verdict.outcome == "refuted" and verdict.counterexample is not None
    assert verdict.counterexample.verified
    assert verdict.counterexample.objective[1] < 4.0  # the planted plan pays 1 + 3


def test_the_prover_counts_building_its_formulas(monkeypatch: pytest.MonkeyPatch) -> None:
    """z3 was given the whole limit before the plan was checked and the formulas built: it
    gets what is left of it after them."""
    import z3

    from solvers.smt import prove as prove_module

    p = _problem()
    best = solve(p, "cpsat")
    real_init = prove_module.Encoding.__init__

    def slow_build(self: Any, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.4)  # building the formulas took 0.4 s of the 1 s limit
        real_init(self, *args, **kwargs)

    given: list[int] = []
    real_set = z3.Solver.set

    def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        given.append(kwargs["timeout"])
        return real_set(self, *args, **kwargs)

    monkeypatch.setattr(prove_module.Encoding, "__init__", slow_build)
    monkeypatch.setattr(z3.Solver, "set", recorded)
    prove(p, best, time_limit=1.0)
    assert given and given[-1] <= 600, given


def test_infeasible_claims_and_limits() -> None:
    p = _problem()
    false = Solution(problem="claims", backend="planted", status=Status.INFEASIBLE)
    verdict = prove(p, false)
    assert verdict.outcome == "refuted" and verdict.counterexample is not None
    tight = Problem.model_validate(
        {
            "name": "claims",
            "bins": [{"name": "a", "capacity": {"cpu": "1"}}],
            "items": [{"name": "w", "count": 2, "demand": {"cpu": "1"}, "required": True}],
        }
    )
    assert prove(tight, false).outcome == "confirmed"
    big = Problem.model_validate(
        {
            "name": "claims",
            "bins": [{"name": f"n{k}", "capacity": {"cpu": "8"}} for k in range(21)],
            "items": [{"name": "w", "count": 3, "demand": {"cpu": "1"}}],
        }
    )
    verdict = prove(big, Solution(problem="claims", backend="x", status=Status.INFEASIBLE))
    assert (
        verdict.outcome == "undecided"
        and "too large to prove: 3 items × 21 bins" in verdict.message
    )
    feasible = solve(p, "greedy")
    assert prove(p, feasible).outcome == "no-claim"


def test_verify_prove_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _problem()
    problem = tmp_path / "p.yaml"
    dump_problem(p, problem)
    plan = tmp_path / "plan.json"
    plan.write_text(solve(p, "cpsat").to_json())
    code, out, _ = run(["verify", str(problem), str(plan), "--prove"], capsys)
    assert code == 0 and out.startswith("confirmed optimal")
    false = Solution.from_counts(p, "planted", Status.OPTIMAL, {("db", "b"): 1, ("web", "a"): 2})
    plan.write_text(false.to_json())
    better = tmp_path / "better.json"
    code, out, _ = run(
        ["verify", str(problem), str(plan), "--prove", "--counterexample", str(better)], capsys
    )
    assert (
        code == 1
        and out.startswith("refuted optimal")
        and json.loads(better.read_text())["verified"]
    )
    code, _, err = run(["verify", str(problem), str(plan), "--prove", "-t", "0"], capsys)
    assert code == 2 and "--time-limit" in err
