"""Every command of the one console entry answers `--help`, and each package's `python -m` entry does too."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from lakehouse.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the parser tree, groups included, e.g. ('app', 'users', 'add')."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*path, name))
                found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(build_parser())


def test_the_command_tree_has_a_group_per_package_and_the_stack():
    groups = {c[0] for c in COMMANDS}
    assert {"kafka", "cluster", "pipeline", "simulator", "governance", "app", "up", "down", "status"} <= groups
    assert ("app", "users", "add") in COMMANDS and ("pipeline", "run") in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_of_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lakehouse " + " ".join(command))


@pytest.mark.parametrize("module", ["lakehouse", "pipeline", "simulator", "governance", "app"])
def test_python_dash_m_entry_answers_help(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
