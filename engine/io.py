"""Reading problems and plans from files, with errors that name the file and the field."""

from __future__ import annotations

import gc
import importlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from .errors import InputError
from .ir import CONSTRAINT_KINDS, CONSTRAINT_TYPES, Problem
from .limits import MAX_DEPTH, check_document, check_file_size
from .solution import Solution

# Document kinds that are not the IR itself, and the builder that turns them into a Problem.
# Each builder is "module:function" taking (documents, source) and returning a Problem.
BUILDERS: dict[str, str] = {
    "EdgeTopology": "engine.edge.topology:topology_to_problem",
}
KUBERNETES_KINDS = frozenset(
    {
        "List",
        "NodeList",
        "PodList",
        "Node",
        "Pod",
        "Deployment",
        "StatefulSet",
        "ReplicaSet",
        "Job",
        "PriorityClass",
        "DaemonSet",
        "CronJob",
        "Namespace",
        "PodDisruptionBudget",
    }
)


# pydantic names a discriminated union's member by class or by tag in an error's location
_UNION_TAGS = frozenset(c.__name__ for c in CONSTRAINT_TYPES)


def loc_to_path(loc: tuple[int | str, ...]) -> str:
    """('items', 3, 'demand') -> 'items[3].demand'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue  # pydantic marks an invalid dict key this way; the key is already named
        elif part in _UNION_TAGS or part.startswith(tuple(CONSTRAINT_KINDS)):
            continue  # pydantic's discriminated-union tag, not a path in the file
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_to_input_error(exc: ValidationError, source: str | None) -> InputError:
    """The one place a pydantic error becomes a user-facing message: first error, its path, why."""
    err = exc.errors()[0]
    path = loc_to_path(tuple(err["loc"]))
    ctx = err.get("ctx") or {}
    if err["type"] == "quantity" and "resource" in ctx:
        path = f"{path}.{ctx['resource']}" if path else str(ctx["resource"])
        reason = str(ctx.get("reason", err["msg"]))
        if reason == "negative":
            reason = f"negative quantity {ctx.get('value')}"
    elif err["type"] == "extra_forbidden":
        reason = "unknown key"
    elif err["type"] == "missing":
        reason = "required field missing"
    elif err["type"] == "tuple_type":
        reason = "Input should be a list"  # the IR holds lists as tuples; say what the file needs
    else:
        reason = err["msg"]
        if ctx and "{" in reason:  # pydantic leaves templates like {value!r} unformatted
            reason = re.sub(
                r"\{(\w+)!r\}",
                lambda m: repr(ctx[m[1]]) if m[1] in ctx else m[0],
                reason,
            )
    more = len(exc.errors()) - 1
    if more:
        reason += f" (and {more} more error{'s' if more > 1 else ''})"
    return InputError(reason, path=path, source=source)


def _fast_json(text: str) -> Any:
    """Parse with the cyclic garbage collector paused: a large dump makes millions of objects
    and every collection pass would rescan them all."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return orjson.loads(text)
    finally:
        if enabled:
            gc.enable()


def _read_text(p: Path, source: str) -> str:
    try:
        check_file_size(p.stat().st_size, source)
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", source=source) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", source=source) from None


def _yaml_loader() -> type[yaml.SafeLoader]:
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader


def parse_documents(text: str, source: str, *, strict_json: bool = False) -> list[Any]:
    """All YAML/JSON documents of a text, checked against ``engine.limits`` (nesting depth,
    alias expansion, integer sizes) before anyone walks them. Text that looks like JSON but does
    not parse is read as YAML, unless ``strict_json`` (a ``.json`` file), where the JSON error
    is reported."""
    docs: list[Any] | None = None
    if text.lstrip().startswith(("{", "[")):
        parsed = _parse_json(text, source, strict=strict_json)
        docs = None if parsed is _NOT_JSON else [parsed]
    if docs is None:
        docs = _parse_yaml(text, source)
    for doc in docs:
        check_document(doc, source)
    return docs


_NOT_JSON = object()
_LONG_NUMBER = re.compile(r"\d{19}")


def _parse_json(text: str, source: str, *, strict: bool) -> Any:
    """orjson first (several times faster on big ``kubectl get -o json`` dumps); the stdlib
    parser runs only to word an error precisely, and for texts with 19-digit numbers, which
    orjson would turn into floats (the limits must see such integers exactly to refuse them).
    ``_NOT_JSON`` when it fails and not strict."""
    if not _LONG_NUMBER.search(text):
        try:
            return _fast_json(text)
        except (orjson.JSONDecodeError, json.JSONDecodeError):
            pass
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not strict:
            return _NOT_JSON
        raise InputError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", source=source
        ) from None
    except RecursionError:
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", source=source) from None
    except ValueError as exc:  # Python's guard against integers of > 4,300 digits
        raise InputError(_value_error(exc), source=source) from None


def _parse_yaml(text: str, source: str) -> list[Any]:
    try:
        return [d for d in yaml.load_all(text, Loader=_yaml_loader()) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"invalid YAML{where}: {problem}", source=source) from None
    except RecursionError:
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", source=source) from None
    except (ValueError, OverflowError) as exc:  # int('...4,301 digits...')
        raise InputError(_value_error(exc), source=source) from None


def _value_error(exc: Exception) -> str:
    if "integer string conversion" in str(exc):
        return "an integer of more than 4,300 digits is out of range (placer reads integers up to 2^63)"
    return f"invalid value: {str(exc).split(';')[0]}"


def read_documents(path: str | Path) -> list[Any]:
    """All YAML/JSON documents in a file (JSON is YAML, but json is faster for big dumps), checked
    against the input limits of ``engine.limits``."""
    p = Path(path)
    source = str(path)
    text = _read_text(p, source)
    return parse_documents(text, source, strict_json=p.suffix.lower() == ".json")


def read_json(path: str | Path) -> Any:
    """One JSON document from a file, checked against the input limits."""
    p = Path(path)
    source = str(path)
    doc = _parse_json(_read_text(p, source), source, strict=True)
    check_document(doc, source)
    return doc


def problem_from_dict(data: Any, source: str | None = None) -> Problem:
    if not isinstance(data, dict):
        raise InputError("expected a mapping with kind: Problem", source=source)
    try:
        return Problem.model_validate(data)
    except ValidationError as exc:
        raise validation_to_input_error(exc, source) from None
    except InputError as exc:
        raise exc.with_source(source or "") from None


def _builder(kind: str) -> Callable[[list[Any], str], Problem]:
    module, func = BUILDERS[kind].split(":")
    fn: Callable[[list[Any], str], Problem] = getattr(importlib.import_module(module), func)
    return fn


def load(path: str | Path) -> Problem:
    """Load a problem from an IR file, an edge topology, or Kubernetes manifests."""
    source = str(path)
    docs = read_documents(path)
    if not docs:
        raise InputError("file holds no document", source=source)
    first = docs[0]
    kind = first.get("kind") if isinstance(first, dict) else None
    if kind == "Problem" or (
        isinstance(first, dict) and first.get("apiVersion") == "placer/v1" and kind is None
    ):
        if len(docs) > 1:
            raise InputError("an IR file holds one Problem document", source=source)
        return problem_from_dict(first, source)
    if kind in BUILDERS:
        try:
            return _builder(kind)(docs, source)
        except InputError as exc:
            raise exc.with_source(source) from None
        except ValidationError as exc:  # a builder's IR object refused a value it passed on
            raise validation_to_input_error(exc, source) from None
    if kind in KUBERNETES_KINDS or (
        isinstance(first, dict) and "items" in first and "apiVersion" in first
    ):
        from .kube import manifests_to_problem

        try:
            return manifests_to_problem(docs, source)
        except InputError as exc:
            raise exc.with_source(source) from None
        except ValidationError as exc:
            raise validation_to_input_error(exc, source) from None
    raise InputError(
        f"unrecognised document kind {kind!r}: expected a placer Problem, an EdgeTopology, "
        "or Kubernetes manifests",
        source=source,
        path="kind",
    )


def load_solution(path: str | Path) -> Solution:
    source = str(path)
    docs = read_documents(path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise InputError("expected one Solution document", source=source)
    kind = docs[0].get("kind")
    if kind is not None and kind != "Solution":
        raise InputError(
            f"expected a plan (kind: Solution), got kind {kind!r}", path="kind", source=source
        )
    try:
        return Solution.model_validate(docs[0])
    except ValidationError as exc:
        raise validation_to_input_error(exc, source) from None


def _quantities_as_text(data: dict[str, Any]) -> None:
    """Resource maps hold base units (millicores for cpu); write them as quantities that load back
    to the same integers (a bare 8000 would read as 8000 cores)."""
    from .quantity import format_quantity

    maps = [(data.get("bins", []), "capacity"), (data.get("items", []), "demand")]
    maps += [(data.get("constraints", []), "limits"), (data.get("tenants", []), "quota")]
    maps += [(row.get("devices", []), "capacity") for row in data.get("bins", [])]
    maps += [([row["devices"]], "share") for row in data.get("items", []) if row.get("devices")]
    for rows, key in maps:
        for row in rows:
            if isinstance(row.get(key), dict):
                text = {r: format_quantity(r, n) for r, n in row[key].items()}
                row[key] = {r: int(t) if t.isdigit() else t for r, t in text.items()}


def dump_problem(problem: Problem, path: str | Path) -> None:
    data = problem.model_dump(by_alias=True, exclude_defaults=True, mode="json")
    data = {"apiVersion": "placer/v1", "kind": "Problem", **data}
    _quantities_as_text(data)
    text = (
        json.dumps(data, indent=1)
        if str(path).endswith(".json")
        else yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    )
    write_text_atomic(path, text)


def check_writable(path: str | Path) -> None:
    """Fail before the work, not after it: the output's folder must exist and the path must not
    be a folder."""
    if str(path) == "-":
        return  # stdout
    p = Path(path)
    if p.is_dir():
        raise InputError("cannot write: is a directory", source=str(path))
    if not p.resolve().parent.is_dir():
        raise InputError(f"cannot write: no directory {str(p.parent)!r}", source=str(path))


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask both sets and
    returns, which would race with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str | bytes) -> None:
    """Write a whole file or nothing: the text goes to a temporary file of a unique name in the
    same folder, which then replaces ``path`` in one step, so readers (and a second writer to the
    same path) never see a half-written file. InputError naming the file if it cannot be written.
    ``-`` is stdout."""
    if str(path) == "-":
        if isinstance(text, bytes):
            sys.stdout.buffer.write(text)
        else:
            sys.stdout.write(text)
        sys.stdout.flush()
        return
    p = Path(path)
    check_writable(p)
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.resolve().parent)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a plan is an ordinary file
        tmp.replace(p)
    except BaseException as exc:  # also Ctrl-C: never leave the temporary file behind
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None
        raise


def remove_stale_output(path: str | Path) -> bool:
    """Remove a previous output at ``path`` after a run that produced none (so no old plan is
    mistaken for this run's); True when a file was removed."""
    p = Path(path)
    if p.is_file() or p.is_symlink():
        try:
            p.unlink()
        except OSError:
            return False
        return True
    return False
