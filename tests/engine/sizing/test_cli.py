"""`placer size` through the real entry point."""

from __future__ import annotations

import json

import pytest

from ..test_cli import run


def test_size_prints_each_target_and_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "size",
            "--arrival",
            "100",
            "--service",
            "12",
            "-u",
            "0.7",
            "--mean-wait",
            "0.01",
            "--p99-wait",
            "0.1",
        ],
        capsys,
    )
    assert code == 0
    assert "rule ⌈λ/(μ·ρ)⌉         12" in out and "replicas: 12 (meets every target)" in out
    assert "standard Erlang C" in out


def test_size_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["size", "-l", "2", "-s", "1", "-k", "3", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["rows"][0]["p_wait"] == pytest.approx(4 / 9)
    assert data["replicas"] is None  # a count evaluated, not a target met


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-l", "-5", "-s", "1", "-u", "0.5"], "--arrival: the arrival rate λ must be a positive"),
        (["-l", "5", "-s", "1", "-u", "1"], "--utilisation: the utilisation target ρ must lie"),
        (["-l", "5", "-s", "1", "-k", "4"], "--replicas: 4 replica(s) give utilisation"),
        (["-l", "5", "-s", "1", "--p99-wait", "0"], "--p99-wait"),
        (["-l", "5", "-s", "1"], "give a target"),
        (["-l", "x", "-s", "1", "-u", "0.5"], "Invalid value"),
    ],
)
def test_bad_rates_and_targets_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(["size", *args], capsys)
    assert code == 2 and message in err
