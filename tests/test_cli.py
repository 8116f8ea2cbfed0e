"""The ``harness`` command: subcommands with real ``--help``, clear usage errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.commands import COMMANDS, main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: harness <command>")
    for name, what in COMMANDS.items():
        assert f"  {name}" in out and what in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_its_own_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: harness {name}")


def test_an_unknown_command_is_a_usage_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "harness: unknown command 'frobnicate'" in capsys.readouterr().err
    assert main([]) == 2


def test_the_console_script_and_python_m_run_the_same_command():
    script = Path(sys.executable).with_name("harness")
    commands = [[sys.executable, "-m", "harness", "--help"]]
    if script.exists():
        commands.append([str(script), "--help"])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    outputs = {subprocess.run(c, capture_output=True, text=True, env=env, check=True).stdout for c in commands}
    assert len(outputs) == 1 and "commands:" in outputs.pop()
