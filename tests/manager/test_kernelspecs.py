"""Kernelspec lookup and generated labels, over kernelspecs written for the test."""

from __future__ import annotations

import json

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from silik_kernel.errors import SilikError
from silik_kernel.kernelspecs import SpecInfo, find_kernelspec, label_stem, list_kernelspecs


@pytest.fixture
def ksm(tmp_path) -> KernelSpecManager:
    """Three kernelspecs that are never started: their argv does not matter."""
    specs = {
        "zeta": {"display_name": "Zeta Lang", "language": "zeta"},
        "alpha": {"display_name": "Alpha", "language": "python"},
        "mystery": {"display_name": "Mystery"},  # no language
    }
    for name, fields in specs.items():
        (tmp_path / name).mkdir()
        spec = {"argv": ["false", "{connection_file}"], **fields}
        (tmp_path / name / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(tmp_path)], ensure_native_kernel=False)


def test_list_is_sorted_by_name_with_display_name_and_language(ksm):
    assert list_kernelspecs(ksm) == [
        SpecInfo("alpha", "Alpha", "python"),
        SpecInfo("mystery", "Mystery", ""),
        SpecInfo("zeta", "Zeta Lang", "zeta"),
    ]


def test_find_returns_the_spec(ksm):
    assert find_kernelspec(ksm, "zeta") == SpecInfo("zeta", "Zeta Lang", "zeta")


def test_find_suggests_the_closest_name(ksm):
    with pytest.raises(SilikError, match="unknown kernelspec 'zetta'") as err:
        find_kernelspec(ksm, "zetta")
    assert err.value.hint == "did you mean zeta?"


def test_find_lists_what_is_installed_when_nothing_is_close(ksm):
    with pytest.raises(SilikError, match="unknown kernelspec 'r'") as err:
        find_kernelspec(ksm, "r")
    assert err.value.hint == "installed: alpha, mystery, zeta"


@pytest.mark.parametrize(
    ("spec", "stem"),
    [
        (SpecInfo("python3", "Python 3", "python"), "py"),
        (SpecInfo("ir", "R", "R"), "r"),
        (SpecInfo("xcpp17", "C++17", "C++"), "c"),
        (SpecInfo("bash", "Bash", ""), "bash"),  # no language: the spec's name
        (SpecInfo("julia-1.10", "Julia", "julia"), "julia"),
        (SpecInfo("sc", "Scala", "scala-with-long-name"), "scalaw"),  # at most six characters
        (SpecInfo("odd", "Odd", "+++"), "k"),  # nothing alphanumeric left
    ],
)
def test_label_stem(spec, stem):
    assert label_stem(spec) == stem
