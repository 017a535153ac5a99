"""`python -m silik_agents` on a command line: its usage, and what `run` needs."""

from __future__ import annotations

import subprocess
import sys


def silik_agents(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "silik_agents", *args], capture_output=True, text=True, timeout=30
    )


def assert_usage(text: str) -> None:
    assert "python -m silik_agents install PACKAGE.MODULE:ATTR --name NAME" in text
    assert "python -m silik_agents spec PACKAGE.MODULE:ATTR --name NAME" in text
    assert "python -m silik_agents run PACKAGE.MODULE:ATTR [--name NAME] -f CONNECTION_FILE" in text
    assert "Jupyter does this" in text


def test_no_arguments_prints_usage():
    done = silik_agents()
    assert done.returncode == 2
    assert_usage(done.stderr)


def test_help_goes_to_stdout():
    for flag in ("--help", "-h", "help"):
        done = silik_agents(flag)
        assert done.returncode == 0
        assert_usage(done.stdout)
        assert done.stderr == ""


def test_an_unknown_subcommand_is_named():
    done = silik_agents("runn", "x:y")
    assert done.returncode == 2
    assert done.stderr.startswith("python -m silik_agents: unknown subcommand 'runn'\n")
    assert_usage(done.stderr)


def test_run_without_a_connection_file_says_what_is_missing():
    done = silik_agents("run", "agents_fixtures.chef:agent")
    assert done.returncode == 2
    first = done.stderr.splitlines()[0]
    assert first == "python -m silik_agents run: starting a kernel needs -f CONNECTION_FILE"
    assert "Jupyter does this" in done.stderr


def test_run_help_is_its_usage():
    done = silik_agents("run", "--help")
    assert done.returncode == 0
    assert done.stdout.startswith(
        "usage: python -m silik_agents run PACKAGE.MODULE:ATTR [--name NAME] -f CONNECTION_FILE"
    )
