"""What a command sees of the cell it runs in, and what it hands back.

:class:`Frontend` is the kernel side a command talks to (SilikKernel for a
notebook cell, :class:`~silik_kernel.commands.runner.TextFrontend` for an
agent); :class:`Output` is a command's result; :class:`SubKernelError` fails a
cell whose sub-kernel raised.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from silik_kernel.errors import SilikError

if TYPE_CHECKING:
    from silik_kernel.subkernels.execution import Message


class Frontend(Protocol):
    """The kernel side a command talks to (implemented by SilikKernel)."""

    def print(self, text: str, name: str = "stdout") -> None: ...

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None: ...

    async def relay(self, path: str, code: str) -> dict[str, Any]:
        """Run code on a sub-kernel, forwarding its messages to the cell; the execute_reply content."""
        ...

    def forward(self, msg: Message) -> None:
        """Show one output message of a sub-kernel in the cell, as the sub-kernel sent it."""
        ...

    def running(self, path: str) -> AbstractContextManager[Any]:
        """While inside, interrupting the cell interrupts the kernel at ``path`` too."""
        ...

    def enter_connect_mode(self, path: str) -> None: ...

    def leave_connect_mode(self) -> None: ...

    def request_exit(self) -> None: ...

    @property
    def connected_path(self) -> str | None: ...


@dataclass
class Output:
    """A command's result: plain text always, HTML for notebooks when it helps."""

    text: str
    html: str | None = None

    @classmethod
    def table(cls, headers: list[str], rows: Iterable[Iterable[Any]]) -> Output:
        """Aligned columns for consoles, an HTML table for notebooks."""
        cells = [[str(c) for c in r] for r in rows]
        widths = [max(len(x) for x in col) for col in zip(headers, *cells, strict=True)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        text = "\n".join(line.format(*r).rstrip() for r in [headers, *cells])
        th = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in headers)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in r)
            + "</tr>"
            for r in cells
        )
        return cls(text, f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>")


class SubKernelError(SilikError):
    """A sub-kernel's error, already shown in the cell by the relay."""

    def __init__(self, content: dict[str, Any]) -> None:
        self.content = content
        super().__init__(f"{content.get('ename', 'Error')}: {content.get('evalue', '')}")
