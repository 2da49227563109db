"""What `make run` installs: the runtime only (a lean venv), with the design's named parts in it.

The extras (serve, bench, ray, sim, smt, test, dev) stay out of the core dependencies, so a new
user's install is small and fast; dwave-neal stays in, since the design names the SA sampler
``neal.SimulatedAnnealingSampler`` and it must be the sampler the qubo backend runs.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


CORE = _names(PROJECT["dependencies"])


def test_core_holds_the_designs_runtime() -> None:
    assert {"ortools", "pulp", "highspy", "dimod", "dwave-samplers", "dwave-neal"} <= CORE
    assert {"pydantic", "pyyaml", "typer", "rich"} <= CORE


def test_core_leaves_the_heavy_and_unused_to_extras() -> None:
    heavy = {"cbcbox", "fastapi", "ray", "matplotlib", "mypy", "ruff", "pytest", "hypothesis"}
    assert not CORE & heavy, CORE & heavy
    extras = PROJECT["optional-dependencies"]
    assert {"serve", "bench", "ray", "test", "dev"} <= set(extras)
    assert "ray" in _names(extras["ray"]) and "matplotlib" in _names(extras["bench"])


def test_neal_is_the_sampler_qubo_runs() -> None:
    import neal

    from solvers.base import Options
    from solvers.qubo.backend import QuboBackend

    sampler = QuboBackend()._sampler(Options())
    assert isinstance(sampler, neal.SimulatedAnnealingSampler)
    sampleset = neal.SimulatedAnnealingSampler().sample_qubo(
        {("a", "a"): -1.0, ("b", "b"): -1.0, ("a", "b"): 3.0}, num_reads=20, seed=1
    )
    assert sampleset.first.energy == -1.0


def test_a_backend_of_a_missing_extra_names_the_extra(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`make run` leaves z3 out: -b smt must say to install the smt extra, not to reinstall."""
    import sys

    import pytest

    from engine.errors import BackendUnavailable
    from solvers import registry

    monkeypatch.setitem(sys.modules, "z3", None)  # `import z3` fails as if not installed
    for module in [m for m in sys.modules if m.startswith("solvers.smt")]:
        monkeypatch.delitem(sys.modules, module)
    with pytest.raises(BackendUnavailable, match=r"pip install 'placer\[smt\]'"):
        registry.backend_class("smt")


def test_bench_openb_checks_its_extra_before_the_runs(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """Without the bench extra, openb stops at once with one line, not after its runs."""
    import sys

    import pytest

    from bench.__main__ import main as bench_main

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # find_spec: not installed
    out = tmp_path / "openb"
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["openb", "--pod-lists", "default", "--seeds", "42", "-o", str(out)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "pip install 'placer[bench]'" in err
    assert not (out / "results.csv").exists()
