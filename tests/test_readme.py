"""Every command block of README.md runs as written, from a clone, on the bundled inputs.

Blocks fenced as ``sh`` run under bash (``set -euo pipefail``), ``python`` blocks under this
interpreter, each in a fresh directory laid out like a clone (``instances/`` and ``../shared``
linked in), with this environment's ``placer`` and ``python`` first on PATH. Other fences are
text. A comment on the line before a fence changes that:

    <!-- readme-test: skip (why) -->        not run (it installs, or is the test suite itself)
    <!-- readme-test: needs PATH -->        run only where PATH (relative to the repo) exists
    <!-- readme-test: slow -->              marked slow
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUNNABLE = {"sh": ["bash", "-euo", "pipefail", "-c"], "python": [sys.executable, "-c"]}
DIRECTIVE = re.compile(r"<!--\s*readme-test:\s*(skip|needs|slow)\b\s*(.*?)\s*-->")
TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    lang: str
    code: str
    directives: tuple[tuple[str, str], ...] = ()  # (skip|needs|slow, argument)

    @property
    def id(self) -> str:
        return f"README.md:{self.line}"


def blocks(text: str) -> list[Block]:
    out: list[Block] = []
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[n])
        if not fence:
            n += 1
            continue
        start, lang = n, fence.group(1)
        end = next(k for k in range(n + 1, len(lines)) if lines[k].startswith("```"))
        directives = []
        k = start - 1
        while k >= 0 and (found := DIRECTIVE.search(lines[k])):
            directives.insert(0, (found.group(1), found.group(2)))
            k -= 1
        code = "\n".join(lines[start + 1 : end]) + "\n"
        out.append(Block(start + 1, lang, code, tuple(directives)))
        n = end + 1
    return out


def _params() -> list[object]:
    params: list[object] = []
    for b in blocks(README.read_text(encoding="utf-8")):
        if b.lang not in RUNNABLE:
            continue
        marks: list[pytest.MarkDecorator] = []
        for kind, argument in b.directives:
            if kind == "skip":
                marks.append(pytest.mark.skip(reason=f"README says: {argument}"))
            elif kind == "needs" and not (ROOT / argument).exists():
                marks.append(pytest.mark.skip(reason=f"{argument} is not present"))
            elif kind == "slow":
                marks.append(pytest.mark.slow)
        params.append(pytest.param(b, id=b.id, marks=marks))
    return params


def test_the_readme_has_runnable_blocks() -> None:
    found = [b for b in blocks(README.read_text(encoding="utf-8")) if b.lang in RUNNABLE]
    assert len(found) >= 8
    # every example a user can run is run: only installs and the suite itself are skipped
    skipped = [b for b in found if any(kind == "skip" for kind, _ in b.directives)]
    assert all("make" in b.code for b in skipped)


def test_directives_are_read() -> None:
    text = (
        "x\n<!-- readme-test: needs ../shared/data -->\n<!-- readme-test: slow -->\n"
        "```sh\necho hi\n```\n\n```text\nno\n```\n"
    )
    (b, plain) = blocks(text)
    assert (b.lang, b.code) == ("sh", "echo hi\n")
    assert b.directives == (("needs", "../shared/data"), ("slow", ""))
    assert plain.lang == "text" and plain.directives == ()


@pytest.mark.parametrize("block", _params())
def test_readme_block_runs(block: Block, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "instances").symlink_to(ROOT / "instances")
    shared = ROOT.parent / "shared"
    if shared.exists():
        (tmp_path / "shared").symlink_to(shared)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": "120",
    }
    env.pop("VIRTUAL_ENV", None)
    run = subprocess.run(
        [*RUNNABLE[block.lang], block.code],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, (
        f"{block.id} exited {run.returncode}\n--- code\n{block.code}--- stdout\n"
        f"{run.stdout[-4000:]}\n--- stderr\n{run.stderr[-4000:]}"
    )
