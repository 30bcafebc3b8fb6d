"""Runner: `python -m benchmarks` lists the benchmarks; `python -m benchmarks NAME [args]` runs one;
`python -m benchmarks NAME --against REV [args]` runs it on a throwaway checkout of REV, then on this tree, and
sets the two side by side.

Each benchmark is a module `benchmarks/<name>.py` with a `main(argv) -> int` that prints its own report, every figure
side by side with the baseline measured in the same run. It may end the report with one line of headline figures,
`RESULT name=value ...`, which `--against` compares: a name ending in `_per_s` is better higher, one ending in `_s`
better lower.
"""

from __future__ import annotations

import ast
import importlib
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("benchmarks")

HERE = Path(__file__).resolve().parent
RESULT_PREFIX = "RESULT "
# One benchmark in a fresh interpreter; its working directory (the checkout) comes first on sys.path.
RUN_ONE = ("import importlib, sys; "
           "sys.exit(int(importlib.import_module('benchmarks.' + sys.argv[1]).main(sys.argv[2:]) or 0))")  # fmt: skip


def benchmark_names(folder: Path = HERE) -> list[str]:
    """Modules of the folder that define a top-level `main` (helpers and sub-packages are not benchmarks)."""
    names = []
    for path in sorted(folder.glob("[!_]*.py")):
        tree = ast.parse(path.read_text(), str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            names.append(path.stem)
    return names


def split_against(args: list[str]) -> tuple[str | None, list[str]]:
    """(REV of `--against REV` or `--against=REV`, the other arguments in order); None when not asked."""
    rest, rev, i = [], None, 0
    while i < len(args):
        if args[i] == "--against":
            if i + 1 == len(args):
                raise ValueError("--against needs a revision, e.g. --against HEAD~1")
            rev, i = args[i + 1], i + 2
        elif args[i].startswith("--against="):
            rev, i = args[i].split("=", 1)[1], i + 1
        else:
            rest.append(args[i])
            i += 1
    if rev == "":
        raise ValueError("--against needs a revision, e.g. --against HEAD~1")
    return rev, rest


def parse_result(stdout: str) -> dict[str, float]:
    """The figures of the last `RESULT name=value ...` line of a report (empty when there is none)."""
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    figures = {}
    for pair in lines[-1][len(RESULT_PREFIX) :].split() if lines else []:
        name, _, value = pair.partition("=")
        try:
            figures[name] = float(value)
        except ValueError:
            continue
    return figures


def comparison(base_label: str, head_label: str, base: dict[str, float], head: dict[str, float]) -> list[str]:
    """The headline figures of both runs side by side, with the relative change and whether it is for the better."""
    width = max([len(n) for n in (*base, *head)] + [6])
    lines = [f"{'figure':<{width}} {base_label:>24} {head_label:>24}  change"]
    for name in [*base, *(n for n in head if n not in base)]:
        old, new = base.get(name, math.nan), head.get(name, math.nan)
        lines.append(f"{name:<{width}} {old:>24.2f} {new:>24.2f}  {change(name, old, new)}")
    return lines


def change(name: str, old: float, new: float) -> str:
    if math.isnan(old) or math.isnan(new):
        return "n/a"
    if old == new:
        return "same"
    relative = f"{(new - old) / abs(old):+.1%}" if old else f"{new - old:+.2f}"
    better = new > old if name.endswith("_per_s") else new < old if name.endswith("_s") else None
    return relative + ("" if better is None else " (better)" if better else " (worse)")


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise RuntimeError(f"git {' '.join(args)}: {said[-1] if said else f'exit code {done.returncode}'}")
    return done.stdout.strip()


@contextmanager
def checkout(project: Path, commit: str) -> Iterator[Path]:
    """The project's folder in a throwaway `git worktree` of `commit`, removed (with its temp folder) afterwards."""
    top = Path(_git(project, "rev-parse", "--show-toplevel"))
    prefix = _git(project, "rev-parse", "--show-prefix")
    tmp = Path(tempfile.mkdtemp(prefix="bench-against-"))
    tree = tmp / "checkout"
    _git(top, "worktree", "add", "--detach", str(tree), commit)
    try:
        yield tree / prefix
    finally:
        try:
            _git(top, "worktree", "remove", "--force", str(tree))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            _git(top, "worktree", "prune")


def run_in(project: Path, name: str, args: list[str]) -> tuple[int, str]:
    """Run one benchmark in a subprocess importing `project`'s code; its report goes to stdout as it comes."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(project), os.environ.get("PYTHONPATH", "")) if p)}  # fmt: skip
    out: list[str] = []
    with subprocess.Popen([sys.executable, "-c", RUN_ONE, name, *args], cwd=project, env=env, text=True,
                          stdout=subprocess.PIPE) as proc:  # fmt: skip
        for line in proc.stdout:
            sys.stdout.write(line)
            out.append(line)
    sys.stdout.flush()
    return proc.returncode, "".join(out)


def against(name: str, rev: str, args: list[str], project: Path = HERE.parent) -> int:
    """Run `name` on a checkout of `rev`, then on this tree, with the same arguments; both reports and a summary."""
    try:
        commit = _git(project, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except RuntimeError:
        print(f"error: {rev!r} is not a commit of this repository", file=sys.stderr)
        return 2
    head = _git(project, "rev-parse", "HEAD")
    dirty = bool(_git(project, "status", "--porcelain"))
    base_label = f"{rev} ({commit[:10]})" if rev != commit else commit[:10]
    head_label = f"this tree ({head[:10]}{'+changes' if dirty else ''})"

    print(f"=== {name} at {base_label} ===", flush=True)
    with checkout(project, commit) as tree:
        log.info("running %s in a checkout of %s at %s", name, commit[:10], tree)
        base_rc, base_out = run_in(tree, name, args)
    print(f"\n=== {name} on {head_label} ===", flush=True)
    head_rc, head_out = run_in(project, name, args)

    print(f"\n=== {name}: {base_label} beside {head_label} ===")
    for label, rc in ((base_label, base_rc), (head_label, head_rc)):
        if rc != 0:
            print(f"{label}: the benchmark failed with exit code {rc}")
    base, head_figures = parse_result(base_out), parse_result(head_out)
    if base or head_figures:
        print("\n".join(comparison(base_label, head_label, base, head_figures)))
    else:
        print("no RESULT line in either report: compare the reports above")
    return base_rc or head_rc


def main(argv: list[str]) -> int:
    names = benchmark_names()
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m benchmarks NAME [--against REV] [options]\n\nbenchmarks:\n"
              + "\n".join(f"  {n}" for n in names))  # fmt: skip
        return 0
    if argv[0] not in names:
        print(f"error: unknown benchmark {argv[0]!r}; choose one of: {', '.join(names)}", file=sys.stderr)
        return 2
    try:
        rev, args = split_against(argv[1:])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if rev is not None:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return against(argv[0], rev, args)
    return int(importlib.import_module(f"benchmarks.{argv[0]}").main(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
