"""The verifier: a passing and a failing plan for every check and constraint kind, hard and soft,
and objective terms worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.ir import Problem
from engine.solution import Solution, Status, Unplaced
from engine.verify import Violation, certify, evaluate, term_values, verify, verify_counts

from ..cases import HOSTNAME, ZONE, bins, group, problem

Counts = dict[tuple[str, str], int]


def only(problem_: Problem, counts: Counts) -> Violation:
    """The single violation of a plan (fails the test if there is not exactly one)."""
    report = verify_counts(problem_, counts)
    assert len(report.violations) == 1, report.violations
    return report.violations[0]


def ok(problem_: Problem, counts: Counts) -> None:
    report = verify_counts(problem_, counts)
    assert report.ok, report.violations


# ---------------------------------------------------------------- bookkeeping checks


@pytest.mark.parametrize(
    ("counts", "subject"),
    [({("ghost", "n0"): 1}, "ghost"), ({("web", "n9"): 1}, "n9")],
    ids=["unknown item", "unknown bin"],
)
def test_counts_unknown_names(counts: Counts, subject: str) -> None:
    p = problem(bins(1), [group("web")])
    report = verify_counts(p, counts)
    assert not report.ok
    assert any(v.check == "counts" and v.subject == subject for v in report.violations)
    assert report.terms == {}  # no objective for a plan that names unknown things


def test_counts_negative() -> None:
    p = problem(bins(1), [group("web")])
    report = verify_counts(p, {("web", "n0"): -1})
    assert any("negative count" in v.reason for v in report.violations)


# ---------------------------------------------------------------- constraint kinds


def anti(weight: float | None = None, **fields: Any) -> dict[str, Any]:
    c = {"kind": "anti_affinity", "selector": {"app": "web"}, "topology": HOSTNAME, **fields}
    return c if weight is None else {**c, "weight": weight}


def affinity(weight: float | None = None) -> dict[str, Any]:
    c = {
        "kind": "affinity",
        "selector": {"app": "api"},
        "target": {"app": "cache"},
        "topology": ZONE,
    }
    return c if weight is None else {**c, "weight": weight}


def test_affinity_first_pod_rule() -> None:
    rule = {
        "kind": "affinity",
        "selector": {"app": "web"},
        "target": {"app": "web"},
        "topology": ZONE,
    }
    p = problem(bins(2, zones=2), [group("web", 2)], constraints=[rule])
    ok(p, {("web", "n0"): 1})  # the only target placed anywhere: exempt
    ok(p, {("web", "n0"): 2})
    report = verify_counts(p, {("web", "n0"): 1, ("web", "n1"): 1})  # each alone: both broken
    assert [(v.check, v.subject, v.excess) for v in report.violations] == [
        ("affinity", "z0", 1),
        ("affinity", "z1", 1),
    ]


def spread(weight: float | None = None, **fields: Any) -> dict[str, Any]:
    c = {"kind": "spread", "selector": {"app": "web"}, "topology": ZONE, "max_skew": 1, **fields}
    return c if weight is None else {**c, "weight": weight}


# ---------------------------------------------------------------- every check, table-driven


@dataclass(frozen=True)
class Check:
    """Plans a check accepts, and one it rejects with exactly one violation like ``expected``."""

    name: str
    problem: Problem
    valid: tuple[Counts, ...]
    invalid: Counts | None = None
    expected: dict[str, Any] = field(default_factory=dict)  # Violation fields
    reason: str = ""  # a part of the violation's text


CHECKS: list[Check] = [
    Check(
        "counts",
        problem(bins(2), [group("web", 2)]),
        ({("web", "n0"): 1, ("web", "n1"): 1},),
        {("web", "n0"): 2, ("web", "n1"): 1},
        {"check": "counts", "subject": "web", "excess": 1},
    ),
    Check(
        "eligibility",
        problem(bins(2), [group("web", 2, allowed=["n0"])]),
        ({("web", "n0"): 2},),
        {("web", "n0"): 1, ("web", "n1"): 1},
        {"check": "eligibility", "subject": "n1", "excess": 1},
    ),
    Check(
        "eligibility does not rejudge items already placed",
        problem(bins(2), [group("web", 2, allowed=["n0"], placed={"n1": 1})]),
        ({("web", "n0"): 1, ("web", "n1"): 1},),
    ),
    Check(
        "pinned",
        problem(bins(2), [group("web", 2, placed={"n0": 2})]),
        ({("web", "n0"): 2},),
        {("web", "n0"): 1, ("web", "n1"): 1},
        {"check": "pinned", "subject": "n0", "excess": 1},
    ),
    Check(
        "movable items may move",
        problem(bins(2), [group("web", 2, placed={"n0": 2}, movable=True)]),
        ({("web", "n1"): 2},),
    ),
    Check(
        "capacity",
        problem(bins(1, cpu="2", memory="4Gi"), [group("web", 3, cpu="700m", memory="1Gi")]),
        ({("web", "n0"): 2},),
        {("web", "n0"): 3},
        {"check": "capacity", "subject": "n0", "excess": 100},  # 2100m > 2000m
        "cpu 2100m > 2",
    ),
    Check(
        "capacity: a resource missing from the bin is 0",
        problem(bins(1, cpu="4", memory=None), [group("web", cpu="1", memory="1Ki")]),
        (),
        {("web", "n0"): 1},
        {"check": "capacity", "subject": "n0", "excess": 1024},
    ),
    Check(
        "required",
        problem(bins(1), [group("web", 3, required=True)]),
        ({("web", "n0"): 3},),
        {("web", "n0"): 1},
        {"check": "required", "subject": "web", "excess": 2},
    ),
    Check(
        "anti_affinity",
        problem(bins(2), [group("web", 3)], constraints=[anti(max_per_domain=2)]),
        ({("web", "n0"): 2, ("web", "n1"): 1},),
        {("web", "n0"): 3},
        {"check": "anti_affinity", "subject": "n0", "excess": 1, "constraint": 0},
    ),
    Check(
        "anti_affinity ignores bins without the topology key",
        problem(bins(1, zones=None), [group("web", 2)], constraints=[anti(topology=ZONE)]),
        ({("web", "n0"): 2},),
    ),
    Check(
        "anti_affinity with a target",
        problem(
            bins(2), [group("web"), group("batch")], constraints=[anti(target={"app": "batch"})]
        ),
        ({("web", "n0"): 1, ("batch", "n1"): 1},),
        {("web", "n0"): 1, ("batch", "n0"): 1},
        {"check": "anti_affinity", "subject": "n0", "excess": 1},
    ),
    Check(
        "anti_affinity with itself as target: one per domain",
        problem(bins(2), [group("web", 2)], constraints=[anti(target={"app": "web"})]),
        ({("web", "n0"): 1, ("web", "n1"): 1},),
        {("web", "n0"): 2},
        {"check": "anti_affinity"},
    ),
    Check(
        "affinity",
        problem(bins(2, zones=2), [group("api"), group("cache")], constraints=[affinity()]),
        ({("api", "n0"): 1, ("cache", "n0"): 1},),
        {("api", "n1"): 1, ("cache", "n0"): 1},
        {"check": "affinity", "subject": "z1", "excess": 1},
    ),
    Check(
        "affinity on a bin without the topology key fails",
        problem(bins(1), [group("api"), group("cache")], constraints=[affinity()]),
        (),
        {("api", "n0"): 1, ("cache", "n0"): 1},
        {"check": "affinity"},
    ),
    Check(
        "spread",
        problem(bins(2, zones=2), [group("web", 4)], constraints=[spread()]),
        ({("web", "n0"): 2, ("web", "n1"): 2}, {("web", "n0"): 1}),  # 1 <= 0 + 1
        {("web", "n0"): 3, ("web", "n1"): 1},
        {"check": "spread", "subject": "z0", "excess": 1},
    ),
    Check(
        "spread judges only domains that receive new items",
        problem(bins(2, zones=2), [group("web", 4, placed={"n0": 3})], constraints=[spread()]),
        ({("web", "n0"): 3, ("web", "n1"): 1},),  # z0 is over, but received nothing new
    ),
    Check(
        "spread: fewer domains than min_domains, min counts as 0",
        problem(bins(2, zones=2), [group("web", 2)], constraints=[spread(min_domains=3)]),
        ({("web", "n0"): 1, ("web", "n1"): 1},),
        {("web", "n0"): 2},
        {"subject": "z0", "excess": 1},
    ),
    Check(
        "spread restricted to bins",
        problem(bins(3, zones=3), [group("web", 2)], constraints=[spread(bins=["n0", "n1"])]),
        ({("web", "n0"): 1, ("web", "n1"): 1}, {("web", "n0"): 1, ("web", "n2"): 1}),
        {("web", "n0"): 2},
        {"check": "spread"},
    ),
    Check(
        "gang",
        problem(
            bins(1),
            [group("trainer", 2, cpu="1"), group("ps", cpu="1")],
            constraints=[{"kind": "gang", "items": ["trainer", "ps"]}],
        ),
        ({("trainer", "n0"): 2, ("ps", "n0"): 1}, {}),
        {("trainer", "n0"): 2},
        {"check": "gang", "subject": "trainer,ps", "excess": 1},
    ),
    Check(
        "quota constraint",
        problem(
            bins(1),
            [group("job", 3, cpu="1", tenant="team")],
            constraints=[{"kind": "quota", "tenant": "team", "limits": {"cpu": "2"}}],
            tenants=[{"name": "team"}],
        ),
        ({("job", "n0"): 2},),
        {("job", "n0"): 3},
        {"check": "quota", "subject": "team", "excess": 1000, "constraint": 0},
    ),
    Check(
        "tenant quota",
        problem(
            bins(1),
            [group("job", 3, memory="1Gi", tenant="team")],
            tenants=[{"name": "team", "quota": {"memory": "2Gi"}}],
        ),
        ({("job", "n0"): 2},),
        {("job", "n0"): 3},
        {"check": "quota", "subject": "team", "excess": 2**30, "constraint": None},
    ),
    Check(
        "traffic needs a delay between partner bins",
        problem(
            bins(3),
            [group("a"), group("b")],
            traffic=[{"items": ["a", "b"], "volume": 1.0}],
            delays={"n0": {"n1": 5.0}},
        ),
        ({("a", "n0"): 1, ("b", "n1"): 1}, {("a", "n2"): 1, ("b", "n2"): 1}),  # same bin: 0
        {("a", "n0"): 1, ("b", "n2"): 1},
        {"check": "traffic", "subject": "n0-n2"},
    ),
]


@pytest.mark.parametrize("case", CHECKS, ids=[c.name for c in CHECKS])
def test_check(case: Check) -> None:
    for plan in case.valid:
        ok(case.problem, plan)
    if case.invalid is None:
        return
    v = only(case.problem, case.invalid)
    assert {k: getattr(v, k) for k in case.expected} == case.expected
    assert case.reason in v.reason


def test_every_constraint_kind_has_a_check_case() -> None:
    from engine.ir import CONSTRAINT_KINDS

    judged = {c.expected.get("check") for c in CHECKS}
    assert set(CONSTRAINT_KINDS) <= judged


@pytest.mark.parametrize(
    ("constraint", "counts", "weight", "clean"),
    [
        (anti(weight=2.5), {("web", "n0"): 3}, 2.5 * 2, {("web", "n0"): 1}),  # 2 over max 1
        (anti(weight=1.0, target={"app": "web"}), {("web", "n0"): 2}, 1.0, {("web", "n0"): 1}),
        (spread(weight=0.5, topology=HOSTNAME), {("web", "n0"): 3}, 0.5 * 2, {("web", "n0"): 1}),
        (
            {
                "kind": "affinity",
                "selector": {"app": "web"},
                "target": {"app": "cache"},
                "topology": HOSTNAME,
                "weight": 4.0,
            },
            {("web", "n0"): 3},
            4.0,  # one domain without a target
            {("web", "n0"): 3, ("cache", "n0"): 1},
        ),
    ],
    ids=["anti_affinity", "anti_affinity target", "spread", "affinity"],
)
def test_soft_constraints_are_priced_not_violations(
    constraint: dict[str, Any], counts: Counts, weight: float, clean: Counts
) -> None:
    p = problem(
        bins(2),
        [group("web", 3, cpu="100m"), group("cache", cpu="100m")],
        constraints=[constraint],
        objective=["placed", "soft"],
    )
    report = verify_counts(p, counts)
    assert report.ok
    assert report.terms["soft"] == pytest.approx(weight)
    assert report.objective[1] == pytest.approx(weight)
    fine = verify_counts(p, clean)
    assert fine.ok and fine.terms["soft"] == 0.0


# ---------------------------------------------------------------- objective terms


def test_placed_with_priority_tiers() -> None:
    # tiers: priority 0 (3 items) weigh 1; priority 5 (2 items) weigh 3 + 1 = 4;
    # priority 9 (1 item) weighs 3*1 + 2*4 + 1 = 12
    p = problem(
        bins(1, cpu="100"), [group("low", 3), group("mid", 2, priority=5), group("top", priority=9)]
    )
    assert p.priority_weights() == {"low": 1, "mid": 4, "top": 12}
    terms = term_values(p, {("low", "n0"): 2, ("mid", "n0"): 1, ("top", "n0"): 1})
    assert terms["placed"] == 2 * 1 + 1 * 4 + 12
    # one top item outweighs every lower item together
    assert (
        term_values(p, {("top", "n0"): 1})["placed"]
        > term_values(p, {("low", "n0"): 3, ("mid", "n0"): 2})["placed"]
    )


def test_bins_used_cost_balance_and_moves() -> None:
    p = problem(
        [*bins(1, cpu="4", memory="8Gi", cost=2.0), *bins(1, cpu="2", memory="8Gi", prefix="m")],
        [
            group("web", 3, cpu="1", memory="1Gi", cost={"n0": 1.5, "m0": 0.25}),
            group("db", 2, cpu="1", memory="4Gi", placed={"n0": 2}, movable=True),
        ],
    )
    counts = {("web", "n0"): 2, ("web", "m0"): 1, ("db", "n0"): 1, ("db", "m0"): 1}
    terms = term_values(p, counts)
    assert terms["bins_used"] == 2.0 + 1.0
    assert terms["cost"] == 2 * 1.5 + 0.25
    # n0: cpu 3/4, memory 6/8; m0: cpu 2/2 = 1.0, memory 5/8
    assert terms["balance"] == 1.0
    assert terms["moves"] == 1  # one db replica left n0


def test_fairness_is_the_smallest_weighted_dominant_share() -> None:
    p = problem(
        bins(2, cpu="10", memory="10Gi"),
        [
            group("a", 4, cpu="1", memory="1Gi", tenant="ta"),
            group("b", 4, cpu="1", memory="3Gi", tenant="tb"),
        ],
        tenants=[{"name": "ta", "weight": 1.0}, {"name": "tb", "weight": 2.0}],
        objective=["fairness"],
    )
    # ta: cpu 4/20 = 0.2, memory 4/20 = 0.2 -> 0.2; tb: cpu 2/20, memory 6/20 -> 0.3 / 2 = 0.15
    terms = term_values(p, {("a", "n0"): 4, ("b", "n1"): 2})
    assert terms["fairness"] == pytest.approx(0.15)
    assert evaluate(p, {("a", "n0"): 4, ("b", "n1"): 2}) == pytest.approx((0.15,))


def test_traffic_term_averages_over_replica_pairs() -> None:
    p = problem(
        bins(3),
        [group("a", 2), group("b", 1)],
        traffic=[{"items": ["a", "b"], "volume": 10.0}],
        delays={"n0": {"n1": 4.0, "n2": 1.0}},
    )
    # pairs = 2*1; delays: a@n0-b@n1 = 4, a@n1-b@n1 = 0 -> 10 * (4 + 0) / 2 = 20
    assert term_values(p, {("a", "n0"): 1, ("a", "n1"): 1, ("b", "n1"): 1})["traffic"] == 20.0


def test_level_values_mix_maximised_and_minimised_terms() -> None:
    p = problem(bins(2), [group("web", 2)], objective=["placed", {"bins_used": 2.0, "placed": 0.5}])
    assert evaluate(p, {("web", "n0"): 2}) == (2.0, 2.0 * 1 - 0.5 * 2)


# ---------------------------------------------------------------- verify / certify


def _plan(p: Problem, counts: Counts, status: Status = Status.OPTIMAL, **fields: Any) -> Solution:
    return Solution.from_counts(p, "hand", status, counts, **fields)


def test_verify_rejects_a_plan_for_another_problem() -> None:
    p = problem(bins(1), [group("web")])
    other = _plan(p, {}).model_copy(update={"problem": "other"})
    report = verify(p, other)
    assert not report.ok and report.violations[0].check == "counts"


def test_certify_marks_a_valid_plan_verified_with_the_verifier_objective() -> None:
    p = problem(bins(2), [group("web", 2)], objective=["placed", "bins_used"])
    plan = certify(p, _plan(p, {("web", "n0"): 2}, objective=(2.0, 1.0)))
    assert plan.verified and plan.status == Status.OPTIMAL and plan.objective == (2.0, 1.0)


def test_certify_downgrades_a_wrong_optimal_claim() -> None:
    p = problem(bins(2), [group("web", 2)], objective=["placed", "bins_used"])
    plan = certify(p, _plan(p, {("web", "n0"): 1, ("web", "n1"): 1}, objective=(2.0, 1.0)))
    assert plan.verified and plan.status == Status.FEASIBLE
    assert plan.objective == (2.0, 2.0) and plan.info["backend_objective"] == [2.0, 1.0]


def test_verify_checks_the_unplaced_rows_against_the_placements() -> None:
    p = problem(bins(1), [group("web", 2)])
    plan = _plan(p, {("web", "n0"): 1})
    assert verify(p, plan).ok
    wrong = plan.model_copy(update={"unplaced": (Unplaced(item="web", count=0),)})
    ghost = plan.model_copy(update={"unplaced": (*plan.unplaced, Unplaced(item="db", count=1))})
    assert [v.reason for v in verify(p, wrong).violations] == [
        "unplaced says 0, placements leave 1"
    ]
    assert [v.reason for v in verify(p, ghost).violations] == ["unknown item in unplaced"]


def test_certify_drops_a_bound_the_plan_itself_beats() -> None:
    p = problem(bins(2), [group("web", 2)], objective=["placed", "bins_used"])
    claimed = _plan(p, {("web", "n0"): 2}, objective=(2.0, 1.0), bound=(1.0, 1.0))
    plan = certify(
        p, claimed
    )  # placed is maximised: an upper bound of 1 under a plan of 2 is wrong
    assert plan.verified and plan.status == Status.FEASIBLE
    assert plan.bound == (None, None)  # the later level's bound was conditional on the first
    assert "level 1" in plan.info["invalid_bound"]


def test_certify_keeps_honest_bounds() -> None:
    p = problem(bins(2), [group("web", 3)], objective=["placed", "bins_used"])
    plan = certify(
        p, _plan(p, {("web", "n0"): 2, ("web", "n1"): 1}, Status.FEASIBLE, bound=(3.0, 1.5))
    )
    assert plan.bound == (3.0, 1.5) and "invalid_bound" not in plan.info


def test_certify_turns_an_invalid_plan_into_unknown() -> None:
    p = problem(bins(1, cpu="1"), [group("web", 2)])
    plan = certify(p, _plan(p, {("web", "n0"): 2}, Status.FEASIBLE))
    assert not plan.verified and plan.status == Status.UNKNOWN
    assert plan.info["violation_count"] == 1 and plan.info["claimed_status"] == "feasible"
    assert plan.info["violations"][0].startswith("capacity: n0: cpu 2 > 1")


def test_certify_leaves_planless_answers_alone() -> None:
    p = problem(bins(1), [group("web")])
    plan = certify(p, Solution.failure(p, "hand", Status.INFEASIBLE))
    assert plan.status == Status.INFEASIBLE and not plan.verified


def test_violation_text_names_check_constraint_and_subject() -> None:
    p = problem(bins(1), [group("web", 2)], constraints=[anti()])
    v = only(p, {("web", "n0"): 2})
    assert str(v) == "anti_affinity: constraints[0] n0: 2 selected items > 1 per domain"


def test_total_capacity_sums_every_bin_per_resource() -> None:
    p = problem(bins(3, cpu="2", memory="1Gi", pods=110), [group("web")])
    assert p.total_capacity == {"cpu": 6000, "memory": 3 * 2**30, "pods": 3 * 110}
