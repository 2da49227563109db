"""Bad input on every command: one line naming the file or option and what is wrong, exit code 2,
never a traceback and never a half-written output file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.io import dump_problem

from ..cases import bins, group, problem
from ..cli import run_placer as run

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "instances" / "demo-cluster.yaml"
EDGE = REPO / "instances" / "edge-factory.yaml"
DRF = REPO / "instances" / "tenants-drf-paper.yaml"


def assert_input_error(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    code, _, err = run(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err
    return err


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    dump_problem(
        problem(bins(2, cpu="4"), [group("web", 3, cpu="1")], objective=["placed"], name="small"),
        path,
    )
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["solve", "{small}", "-o", "{missing}/plan.json"],
        ["solve", "{small}", "-o", "{tmp}"],
        ["export", "{small}", "-o", "{missing}/model.lp"],
        ["export", "{small}", "-f", "bqm", "-o", "{tmp}"],
        ["generate", "cluster", "--nodes", "2", "--groups", "1", "-o", "{missing}/c.yaml"],
        ["generate", "binpack", "--items", "3", "-o", "{tmp}"],
        ["generate", "edge", "--devices", "2", "--edge", "1", "-o", "{missing}/e.yaml"],
        ["generate", "tenants", "--tenants", "2", "--nodes", "2", "-o", "{missing}/t.yaml"],
    ],
)
def test_unwritable_output_is_an_input_error(
    argv: list[str], small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subst = {"small": str(small), "tmp": str(tmp_path), "missing": str(tmp_path / "no" / "dir")}
    argv = [a.format(**subst) for a in argv]
    err = assert_input_error(argv, capsys, "cannot write")
    assert argv[-1] in err  # names the output, not a temporary file
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_decode_to_a_directory_is_an_input_error(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({}), encoding="utf-8")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert_input_error(["decode", str(small), str(sample), "-o", str(out_dir)], capsys)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["solve", "{small}", "-t", "-1"], "--time-limit"),
        (["solve", "{small}", "-t", "nan"], "--time-limit"),
        (["solve", "{small}", "--threads", "0"], "--threads"),
        (["solve", "{small}", "--threads", "-1"], "--threads"),
        (["fair", str(DRF), "-t", "-5"], "--time-limit"),
        (["fair", str(DRF), "--check", "--random", "-3"], "--random"),
        (["edge", "compare", str(EDGE), "-m", "nope"], "--method"),
        (["edge", "compare", str(EDGE), "-m", "greedy", "-t", "0"], "--time-limit"),
        (["edge", "compare", str(EDGE), "-m", "greedy", "--threads", "0"], "--threads"),
        (["generate", "tenants", "--nodes", "0", "-o", "{tmp}/t.yaml"], "--nodes"),
        (["generate", "tenants", "--tenants", "-1", "-o", "{tmp}/t.yaml"], "--tenants"),
        (["generate", "tenants", "--load", "nan", "-o", "{tmp}/t.yaml"], "--load"),
        (["serve", "--port", "-1"], "--port"),
        (["serve", "--port", "99999"], "--port"),
        (["serve", "--log-level", "loud"], "--log-level"),
        (["serve", "--plan-time-limit", "-1"], "--plan-time-limit"),
        (["serve", "--max-body-bytes", "0"], "--max-body-bytes"),
    ],
)
def test_bad_option_values_are_refused_up_front(
    argv: list[str],
    needle: str,
    small: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a.format(small=small, tmp=tmp_path) for a in argv]
    assert_input_error(argv, capsys, needle)
    assert not (tmp_path / "t.yaml").exists()


def test_serve_with_an_unreadable_tls_pair_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_input_error(
        ["serve", "--tls-cert", str(tmp_path / "c.pem"), "--tls-key", str(tmp_path / "k.pem")],
        capsys,
        "c.pem: file not found",
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"\x00\xff not a certificate")
    assert_input_error(
        ["serve", "--tls-cert", str(garbage), "--tls-key", str(garbage)], capsys, "not a PEM"
    )


def test_bqm_export_refuses_constraints_qubo_cannot_encode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.json"
    assert_input_error(["export", str(DEMO), "-f", "bqm", "-o", str(out)], capsys, "affinity")
    assert not out.exists()


def test_verify_names_the_kind_when_given_a_problem_as_the_plan(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_input_error(["verify", str(DEMO), str(DEMO)], capsys, "kind: Solution", "'Problem'")


def test_fair_without_tenants_names_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert_input_error(["fair", str(DEMO)], capsys, f"{DEMO}: tenants:")


def test_a_list_field_of_the_wrong_type_says_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("apiVersion: placer/v1\nkind: Problem\nbins: 5\n", encoding="utf-8")
    assert_input_error(["solve", str(path)], capsys, "bins: Input should be a list")


def test_ifogsim_app_graph_errors_name_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topology = tmp_path / "topo.json"
    topology.write_text(json.dumps({"nodes": [], "links": 5}), encoding="utf-8")
    assert_input_error(["import", "ifogsim", str(topology), "-o", str(tmp_path / "o.yaml")], capsys)
    topology.write_text(
        json.dumps(
            {
                "nodes": [
                    {"name": "d", "type": "FOG_DEVICE", "level": 0, "mips": 1000, "ram": 1000}
                ],
                "links": 5,
            }
        ),
        encoding="utf-8",
    )
    assert_input_error(
        ["import", "ifogsim", str(topology), "-o", str(tmp_path / "o.yaml")],
        capsys,
        "links: expected a list",
    )
    for name, data in (("binary.csv", b"\xea\xff\x00"), ("columns.csv", b"app,device\nx,y\n")):
        graph = tmp_path / name
        graph.write_bytes(data)
        assert_input_error(
            ["import", "ifogsim", str(topology), "--app-graph", str(graph), "-o", "o.yaml"],
            capsys,
            str(graph),
        )


@pytest.mark.parametrize(
    ("option", "value"),
    [("--time-limit", "-1"), ("--jobs", "0"), ("--limit", "-1"), ("--backends", "foo")],
)
def test_bench_run_refuses_bad_options(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.__main__ import app

    with pytest.raises(Exception) as info:
        app(args=["run", "smoke", "-o", str(tmp_path), option, value], standalone_mode=False)
    assert option in str(info.value)
    assert not (tmp_path / "results.csv").exists()


def test_bench_report_survives_a_crashed_run(tmp_path: Path) -> None:
    from bench.report import read_rows

    (tmp_path / "results.csv").write_text(
        'suite,instance,backend,status,trace\nsmoke,i,foo,crashed,"[""  File x""]"\n',
        encoding="utf-8",
    )
    assert read_rows(tmp_path)[0]["trace"] == []


def test_serve_on_an_address_it_cannot_listen_on_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["serve", "--host", "999.1.1.1", "--port", "8899"], capsys)
    assert code == 2 and "cannot listen on 999.1.1.1:8899" in err


def test_alibaba_row_cut_short_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn1,32000,65536,0,\n")
    pods = tmp_path / "pods.csv"
    pods.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
        "creation_time,deletion_time,scheduled_time\np1,1000\n"
    )
    code, _, err = run(
        ["import", "alibaba-gpu", str(nodes), str(pods), "-o", str(tmp_path / "c.yaml")], capsys
    )
    assert code == 2 and "line 2: row ends before column memory_mib" in err
    assert not (tmp_path / "c.yaml").exists()
