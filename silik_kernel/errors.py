"""The one exception type users see."""

from __future__ import annotations


class SilikError(Exception):
    """A mistake the user can fix: ``message`` says what was wrong, ``hint`` what to type."""

    ename = "SilikError"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")

    @classmethod
    def internal(cls, exc: BaseException, doing: str = "") -> SilikError:
        """What the user sees of a bug of silik's (``doing``: e.g. " while running `ls`");
        the caller logs the traceback."""
        return cls(
            f"internal error{doing}: {type(exc).__name__}: {exc}",
            hint="this is a silik bug; the kernel log has the full traceback",
        )

    def traceback_lines(self, ename: str | None = None) -> list[str]:
        """The error as silik shows it in a cell: the message, then the hint."""
        name = ename or self.ename
        return [f"{name}: {self.message}"] + ([f"hint: {self.hint}"] if self.hint else [])


#: a kernel's death reason when `stop` (from any frontend, or an agent) stopped it
STOPPED_REASON = "the kernel was stopped"


class KernelDiedError(SilikError):
    """A kernel died. ``reason`` is why, in the kernel's own terms; ``message``
    may also name the kernel and say what happens next."""

    ename = "KernelDied"

    def __init__(self, message: str, hint: str | None = None, *, reason: str = "") -> None:
        super().__init__(message, hint)
        self.reason = reason or message
