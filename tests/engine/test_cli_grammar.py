"""One CLI grammar: every command has --json, a short flag means one thing everywhere, the same
--threads default, help without type placeholders, a stated default time limit, -o - for stdout,
placer --version, and clear refusals."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from engine.cli import app
from engine.commands.grammar import DEFAULT_THREADS, DEFAULT_TIME_LIMIT

from ..cli import run_placer

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"<[a-z][a-z_\[\], |.]*>|\{[a-z_]+\}")


def leaf_commands() -> list[tuple[list[str], Any]]:
    out: list[tuple[list[str], Any]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
        else:
            out.append((path, cmd))

    walk(typer.main.get_command(app), [])
    return out


LEAVES = leaf_commands()
IDS = [" ".join(path) for path, _ in LEAVES]


def test_the_tree_is_walked() -> None:
    assert {
        "solve",
        "verify",
        "schema",
        "fair",
        "serve",
        "generate cluster",
        "edge compare",
    } <= set(IDS)


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=IDS)
def test_every_command_has_json(path: list[str], command: Any) -> None:
    options = {opt for p in command.params for opt in p.opts}
    assert "--json" in options, f"placer {' '.join(path)} has no --json"


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=IDS)
def test_help_has_no_type_placeholders(path: list[str], command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    found = PLACEHOLDER.findall(result.output)
    assert not found, f"placer {' '.join(path)} --help shows {found}"


def test_each_short_flag_means_one_thing() -> None:
    meanings: dict[str, set[str]] = defaultdict(set)
    for _, command in LEAVES:
        for param in command.params:
            longs = [o for o in param.opts if o.startswith("--")]
            for short in (o for o in param.opts if re.fullmatch(r"-[A-Za-z]", o)):
                meanings[short].add(longs[0] if longs else param.name or "")
    clashes = {s: sorted(m) for s, m in meanings.items() if len(m) > 1}
    assert not clashes, f"short flags with several meanings: {clashes}"
    assert meanings["-m"] == {"--method"}
    assert meanings["-o"] == {"--output"} and meanings["-t"] == {"--time-limit"}


def test_threads_default_is_the_same_everywhere() -> None:
    defaults = {
        " ".join(path): p.default
        for path, command in LEAVES
        for p in command.params
        if "--threads" in p.opts
    }
    assert {"solve", "fair", "edge compare"} <= set(defaults)
    assert set(defaults.values()) == {DEFAULT_THREADS}


def test_solve_states_its_default_time_limit() -> None:
    (solve,) = [c for path, c in LEAVES if path == ["solve"]]
    (limit,) = [p for p in solve.params if "--time-limit" in p.opts]
    assert limit.default == DEFAULT_TIME_LIMIT
    help_text = CliRunner().invoke(app, ["solve", "--help"], env={"COLUMNS": "200"}).output
    assert f"[default: {DEFAULT_TIME_LIMIT:.1f}]" in help_text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_placer(["--version"], capsys)
    assert code == 0 and re.fullmatch(r"placer \d+\.\d+\.\d+\S*\n", out)


def test_dash_o_dash_writes_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_placer(
        ["generate", "cluster", "--nodes", "5", "--groups", "2", "-o", "-"], capsys
    )
    assert code == 0 and yaml.safe_load(out)["kind"] == "Problem"
    assert "wrote -" in err  # the message keeps out of the file's way
    assert not (Path.cwd() / "-").exists()
    demo = str(ROOT / "instances/demo-cluster.yaml")
    code, out, err = run_placer(["solve", demo, "-t", "10", "-o", "-"], capsys)
    assert code == 0 and json.loads(out)["verified"] is True
    assert "demo-cluster: optimal" in err  # the summary went to stderr
    small = str(ROOT / "instances/manifests/small-cluster.yaml")
    code, out, _ = run_placer(["solve", small, "-f", "bindings", "-o", "-", "-q"], capsys)
    assert code == 0 and {d["kind"] for d in yaml.safe_load_all(out)} == {"Binding"}


def test_json_output_is_one_document(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    demo = str(ROOT / "instances/demo-cluster.yaml")
    code, out, _ = run_placer(["solve", demo, "-t", "10", "--json"], capsys)
    assert code == 0 and json.loads(out)["kind"] == "Solution"
    plan = tmp_path / "plan.json"
    run_placer(["solve", demo, "-t", "10", "-o", str(plan), "-q"], capsys)
    code, out, _ = run_placer(["verify", demo, str(plan), "--json"], capsys)
    assert code == 0 and json.loads(out)["valid"] is True
    code, out, _ = run_placer(
        ["generate", "binpack", "-o", str(tmp_path / "b.yaml"), "--json"], capsys
    )
    assert code == 0 and json.loads(out)["output"].endswith("b.yaml")
    code, out, _ = run_placer(["schema", "--json"], capsys)
    assert code == 0 and "properties" in json.loads(out)


def test_edge_compare_refuses_a_problem_that_is_not_edge(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_placer(
        ["edge", "compare", str(ROOT / "instances/demo-cluster.yaml")], capsys
    )
    assert code == 2 and "not an edge problem" in err and "placer solve" in err


def test_stdout_cannot_hold_two_things(capsys: pytest.CaptureFixture[str]) -> None:
    demo = str(ROOT / "instances/demo-cluster.yaml")
    code, _, err = run_placer(["solve", demo, "--json", "-o", "-"], capsys)
    assert code == 2 and "both write to stdout" in err


def test_dash_o_dash_never_removes_a_file_named_dash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed run removes its stale output FILE, but '-' is stdout, not a file to remove."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_text("someone's file")
    demo = str(ROOT / "instances/demo-cluster.yaml")
    for args in (
        ["solve", demo, "-t", "0", "-o", "-"],
        ["solve", str(tmp_path / "missing.yaml"), "-o", "-"],
        ["export", str(tmp_path / "missing.yaml"), "-o", "-"],
    ):
        code, _, _ = run_placer(args, capsys)
        assert code == 2
        assert (tmp_path / "-").read_text() == "someone's file", args


def test_a_failed_bindings_run_removes_both_stale_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = str(ROOT / "instances/manifests/small-cluster.yaml")
    bindings = tmp_path / "bindings.yaml"
    code, _, _ = run_placer(["solve", small, "-f", "bindings", "-o", str(bindings), "-q"], capsys)
    replica_plan = tmp_path / "bindings.replicaplan.yaml"
    assert code == 0 and bindings.exists() and replica_plan.exists()
    code, _, err = run_placer(
        ["solve", small, "-f", "bindings", "-o", str(bindings), "-t", "0"], capsys
    )
    assert code == 2
    assert not bindings.exists() and not replica_plan.exists(), err


def test_verify_prove_has_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("z3")
    demo = str(ROOT / "instances/demo-cluster.yaml")
    plan = tmp_path / "plan.json"
    assert run_placer(["solve", demo, "-o", str(plan), "-q"], capsys)[0] == 0
    code, out, _ = run_placer(["verify", demo, str(plan), "--prove", "--json", "-t", "60"], capsys)
    verdict = json.loads(out)
    assert verdict["outcome"] in ("confirmed", "undecided") and verdict["counterexample"] is None
    assert code == (0 if verdict["outcome"] == "confirmed" else 3)


def test_the_time_limit_counts_from_the_commands_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `placer` process is its command: start-up counts. A command run in a process that did
    other work first (main(argv) from a program or a test) gets its whole time limit."""
    import time

    from engine import commands

    monkeypatch.setattr(commands, "PROCESS_STARTED", time.monotonic() - 100.0)
    commands.start_command(whole_process=True)
    assert commands.remaining(10.0) == commands.MIN_BUDGET
    demo = str(ROOT / "instances/demo-cluster.yaml")
    code, out, _ = run_placer(["solve", demo, "-t", "30", "--json"], capsys)
    assert code == 0 and json.loads(out)["status"] == "optimal"
    assert commands.command_elapsed() < 30.0


@pytest.mark.parametrize(
    "args",
    [["solve", "--bogus", "x"], ["solve"], ["verify", "only-one"], ["nonsense"]],
)
def test_usage_errors_are_one_line_without_the_click_package(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """typer >= 0.2x vendors click; `make run` installs no `click` package (the test extras
    bring one in): a usage error must not depend on it."""
    import sys

    monkeypatch.setitem(sys.modules, "click", None)  # `import click` raises ImportError
    monkeypatch.setitem(sys.modules, "click.exceptions", None)
    code, out, err = run_placer(args, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("placer: error: ") and "--help)" in err


def test_a_missing_extra_is_one_line_naming_the_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import of an extra's module that fails, anywhere under a command (a command that
    forgot to check first): one line naming the extra, no traceback."""
    import sys

    from engine.commands.grammar import missing_extra_line

    line = missing_extra_line(
        ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib.pyplot"), "x"
    )
    assert line is not None and "pip install 'placer[bench]'" in line
    assert missing_extra_line(ModuleNotFoundError("no", name="numpy"), "x") is None
    assert missing_extra_line(ValueError("no"), "x") is None

    from bench.__main__ import main as bench_main

    monkeypatch.setitem(sys.modules, "click", None)
    monkeypatch.setitem(sys.modules, "click.exceptions", None)
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["smoke", "--bogus"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("bench: error: ") and err.count("\n") == 1
