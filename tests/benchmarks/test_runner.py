"""The benchmark runner in a throwaway git repository holding a fake benchmark: the listing, the argument handling and
`--against REV`, which runs the benchmark on a real `git worktree` of REV and on the working tree, then compares."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import change, parse_result, split_against

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "__main__.py"
FAKE = """FACTOR = {factor}


def main(argv):
    n = int(argv[argv.index("--n") + 1])
    print(f"fake report: factor {{FACTOR}}, n {{n}}")
    print(f"RESULT work_s={{n * FACTOR}} items_per_s={{100 / FACTOR}}")
    return 0
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose tag `before` has the fake benchmark at factor 1, HEAD at 2 and the working tree at 3."""
    root = tmp_path / "repo"
    (root / "benchmarks").mkdir(parents=True)
    shutil.copy(RUNNER, root / "benchmarks" / "__main__.py")
    (root / "benchmarks" / "__init__.py").write_text("")
    (root / "benchmarks" / "helper.py").write_text("VALUE = 1\n")  # no main: not a benchmark
    (root / "benchmarks" / "fake.py").write_text(FAKE.format(factor=1))
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "factor 1")
    git(root, "tag", "before")
    (root / "benchmarks" / "fake.py").write_text(FAKE.format(factor=2))
    git(root, "commit", "-q", "-am", "factor 2")
    (root / "benchmarks" / "fake.py").write_text(FAKE.format(factor=3))
    return root


def runner(repo: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": ""}
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_the_listing_names_modules_with_a_main_only(repo: Path, tmp_path: Path) -> None:
    done = runner(repo, tmp_path / "tmp")
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1:] == ["  fake"]


def test_against_runs_the_revision_then_the_working_tree_and_compares(repo: Path, tmp_path: Path) -> None:
    done = runner(repo, tmp_path / "tmp", "fake", "--against", "before", "--n", "5")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.index("fake report: factor 1, n 5") < out.index("fake report: factor 3, n 5")
    assert re.search(r"^work_s\s+5\.00\s+15\.00\s+\+200\.0% \(worse\)$", out, re.M), out
    assert re.search(r"^items_per_s\s+100\.00\s+33\.33\s+-66\.7% \(worse\)$", out, re.M), out
    assert "before (" in out and "+changes)" in out
    assert git(repo, "worktree", "list").count("\n") == 1  # the throwaway worktree is gone
    assert not any((tmp_path / "tmp").iterdir())  # and so is its temp folder
    assert (repo / "benchmarks" / "fake.py").read_text() == FAKE.format(factor=3)  # the working tree untouched


def test_against_a_revision_that_is_no_commit_is_one_line_error(repo: Path, tmp_path: Path) -> None:
    done = runner(repo, tmp_path / "tmp", "fake", "--against", "no-such-rev", "--n", "5")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: 'no-such-rev' is not a commit of this repository"
    assert "fake report" not in done.stdout


def test_against_is_taken_out_of_the_arguments_in_either_spelling() -> None:
    assert split_against(["--n", "5", "--against", "HEAD~1", "--x"]) == ("HEAD~1", ["--n", "5", "--x"])
    assert split_against(["--against=main", "--n", "5"]) == ("main", ["--n", "5"])
    assert split_against(["--n", "5"]) == (None, ["--n", "5"])
    with pytest.raises(ValueError):
        split_against(["--against"])


def test_the_last_result_line_holds_the_headline_figures() -> None:
    out = "report\nRESULT a_s=1 b=2\nmore\nRESULT a_s=3.5 b=nan c=text\n(finished)\n"
    figures = parse_result(out)
    assert figures["a_s"] == 3.5 and "c" not in figures and figures["b"] != figures["b"]  # nan
    assert parse_result("no figures here") == {}
    assert change("rate_per_s", 100.0, 120.0) == "+20.0% (better)"
    assert change("p95_s", 10.0, 12.0) == "+20.0% (worse)"
    assert change("sessions", 4.0, 4.0) == "same"
