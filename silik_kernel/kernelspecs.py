"""Installed kernelspecs as the manager shows them, and how a kernel gets its label.

Pure lookups over a ``KernelSpecManager``: no kernel is started here.
"""

from __future__ import annotations

from dataclasses import dataclass

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from silik_kernel.agent_marks import is_agent_spec
from silik_kernel.errors import SilikError


@dataclass(frozen=True)
class SpecInfo:
    """A kernelspec, local or on a gateway, reduced to what a listing shows."""

    name: str
    display_name: str
    language: str
    agent: bool = False  # an agent kernel (its kernelspec's metadata says so)


def list_kernelspecs(ksm: KernelSpecManager) -> list[SpecInfo]:
    """Every installed kernelspec, sorted by name."""
    out = []
    for name, info in sorted(ksm.get_all_specs().items()):
        spec = info.get("spec", {})
        out.append(SpecInfo(name, spec.get("display_name", name), spec.get("language", "")))
    return out


def find_kernelspec(ksm: KernelSpecManager, name: str) -> SpecInfo:
    """The installed kernelspec ``name``; a typo gets the closest name as its hint."""
    try:
        spec = ksm.get_kernel_spec(name)
    except NoSuchKernel:
        import difflib  # only a typo needs it: kept off the kernel's startup

        names = [s.name for s in list_kernelspecs(ksm)]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]}?" if close else f"installed: {', '.join(names)}"
        raise SilikError(f"unknown kernelspec {name!r}", hint=hint) from None
    return SpecInfo(name, spec.display_name, spec.language, is_agent_spec(spec.metadata or {}))


def label_stem(spec: SpecInfo) -> str:
    """The start of a generated label (``py`` for ``py1.py``): short, alphanumeric."""
    lang = (spec.language or spec.name).lower()
    stem = "".join(c for c in lang if c.isalnum())[:6] or "k"
    return {"python": "py"}.get(stem, stem)
