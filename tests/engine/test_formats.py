"""Readers of the BPPLIB and VPSolver benchmark formats."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.formats import bins_by_first_fit, read_bpplib, read_vbp


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bpplib_groups_equal_weights(tmp_path: Path) -> None:
    p = read_bpplib(write(tmp_path, "tiny.txt", "5\n10\n6\n6\n4\n3\n3\n"))
    assert p.name == "tiny"
    assert {i.demand["r0"]: i.count for i in p.items} == {6: 2, 4: 1, 3: 2}
    assert all(i.required for i in p.items)
    assert [b.name for b in p.bins] == ["bin-000", "bin-001", "bin-002"]  # FFD: 6+4, 6+3, 3
    assert all(b.capacity == {"r0": 10} for b in p.bins)
    assert p.objective == ({"bins_used": 1.0},)
    assert p.items[0].demand == {"r0": 6}  # largest first


def test_vbp_reads_multiplicities(tmp_path: Path) -> None:
    text = "2\n10 8\n3\n5 4 2\n5 4 1\n1 8 1\n"
    p = read_vbp(write(tmp_path, "v.vbp", text))
    assert p.resources == ("r0", "r1")
    assert {tuple(i.demand.get(r, 0) for r in ("r0", "r1")): i.count for i in p.items} == {
        (5, 4): 3,
        (1, 8): 1,
    }
    assert len(p.bins) == 3  # (5,4)+(5,4), (5,4), (1,8): FFD by largest fraction puts (1,8) first


@pytest.mark.parametrize(
    ("text", "where", "why"),
    [
        ("3\n10\n4\n5\n", "line 4", "file ends"),
        ("2\n10\n4\nx\n", "line 4", "expected an integer"),
        ("1\n10\n11\n", "line 3", "exceeds the bin capacity"),
        ("1\n0\n", "line 2", "at least 1"),
        ("1\n10\n4\n7\n", "line 4", "unexpected extra data"),
        ("2\n10\n-1\n4\n", "line 3", "at least 0"),
    ],
)
def test_bpplib_errors_name_file_and_line(tmp_path: Path, text: str, where: str, why: str) -> None:
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(InputError) as err:
        read_bpplib(path)
    assert err.value.source == str(path)
    assert err.value.path == where
    assert why in err.value.reason


def test_vbp_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"line 4.*exceeds capacity"):
        read_vbp(write(tmp_path, "a.vbp", "2\n10 10\n1\n11 1 1\n"))
    with pytest.raises(InputError, match="no items"):
        read_vbp(write(tmp_path, "b.vbp", "1\n10\n1\n3 0\n"))
    with pytest.raises(InputError, match="cannot read"):
        read_vbp(tmp_path / "missing.vbp")


def test_first_fit_decreasing_counts() -> None:
    sizes = np.array([[4], [6], [3], [6], [3]])
    assert bins_by_first_fit(sizes, np.array([10])) == 3
    assert bins_by_first_fit(np.zeros((0, 1), dtype=np.int64), np.array([10])) == 0


def test_shared_bpplib_bins_match_published_ffd(shared_data: Path) -> None:
    rows = list(csv.DictReader((shared_data / "bpp1d" / "optima.csv").open()))
    for row in rows[::25]:
        p = read_bpplib(shared_data / "bpp1d" / "instances" / row["set"] / f"{row['instance']}.txt")
        assert len(p.bins) == int(row["ffd"]) >= int(row["optimum"])
        assert sum(i.count for i in p.items) == int(row["n"])


def test_shared_vbp_reads(shared_data: Path) -> None:
    rows = list(csv.DictReader((shared_data / "vbp" / "best_known.csv").open()))
    for row in rows[::300]:
        p = read_vbp(shared_data / "vbp" / row["subdir"] / f"{row['instance']}.vbp")
        assert sum(i.count for i in p.items) == int(row["n"])
        assert len(p.bins) >= int(row["best_known_ub"]) or len(p.bins) >= int(row["lb"])
        assert len(p.resources) == int(row["d"])
