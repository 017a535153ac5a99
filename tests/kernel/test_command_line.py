"""`python -m silik_kernel` on a command line: its own usage, not ipykernel's.

Starting the kernel the normal way (Jupyter, from the kernelspec's
``-f {connection_file}``) is what every other kernel test does.
"""

from __future__ import annotations

import subprocess
import sys


def silik_kernel(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "silik_kernel", *args], capture_output=True, text=True, timeout=30
    )


def assert_usage(text: str) -> None:
    assert "python -m silik_kernel install [--user | --sys-prefix | --prefix PREFIX]" in text
    assert "python -m silik_kernel help-md [--plugins]" in text
    assert "python -m silik_kernel -f CONNECTION_FILE" in text
    assert "Jupyter does this" in text
    assert "--pylab" not in text and "IPython" not in text


def test_help_is_silik_usage():
    for flag in ("--help", "-h", "help"):
        done = silik_kernel(flag)
        assert done.returncode == 0, done.stderr
        assert_usage(done.stdout)
        assert done.stderr == ""


def test_no_arguments_prints_usage_and_starts_nothing():
    done = silik_kernel()
    assert done.returncode == 2
    assert_usage(done.stderr)
    assert done.stdout == ""


def test_an_unknown_subcommand_is_named():
    done = silik_kernel("instal", "--user")
    assert done.returncode == 2
    assert done.stderr.startswith("python -m silik_kernel: unknown subcommand 'instal'\n")
    assert_usage(done.stderr)


def test_kernel_options_without_a_connection_file_say_what_is_missing():
    for args in (["--debug"], ["-f"], ["--debug", "-f"]):
        done = silik_kernel(*args)
        assert done.returncode == 2
        first = done.stderr.splitlines()[0]
        assert first == "python -m silik_kernel: starting a kernel needs -f CONNECTION_FILE"
        assert_usage(done.stderr)


def test_help_md_help_is_its_usage_not_the_markdown():
    done = silik_kernel("help-md", "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: python -m silik_kernel help-md [--plugins]")
    assert "# silik commands" not in done.stdout
