"""Names in the silik tree: what a label may be, the limits of names and paths,
and the extension a kernel's language gives its name. Pure; no tree needed."""

from __future__ import annotations

import re

from silik_kernel.errors import SilikError

ROOT_NAME = "~"
# Limits keep every walk, path and listing small; they are far beyond any tree
# a person builds by hand.
MAX_LABEL_LENGTH = 255  # characters in one name, as most file systems allow
MAX_DEPTH = 100  # folders nested below ~
MAX_PATH_LENGTH = 4096  # characters in a path, as Linux's PATH_MAX
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")

# Language name (lower case) -> file extension, used when a kernelspec does not
# tell us better. Unknown languages use their own name.
LANGUAGE_EXTENSIONS: dict[str, str] = {
    "python": ".py",
    "silik": ".silik",
    "r": ".r",
    "julia": ".jl",
    "javascript": ".js",
    "typescript": ".ts",
    "bash": ".sh",
    "sh": ".sh",
    "c++": ".cpp",
    "c": ".c",
    "rust": ".rs",
    "go": ".go",
    "java": ".java",
    "scala": ".scala",
    "ruby": ".rb",
    "sql": ".sql",
    "markdown": ".md",
    "text": ".txt",  # agent kernels (silik_agents) chat in plain text
}


def extension_for_language(language: str) -> str:
    lang = (language or "").strip().lower()
    if lang in LANGUAGE_EXTENSIONS:
        return LANGUAGE_EXTENSIONS[lang]
    cleaned = re.sub(r"[^a-z0-9]+", "", lang)
    return "." + (cleaned or "kernel")


def check_label(label: str) -> None:
    """Refuse labels that would make ambiguous paths, or paths too long to show."""
    if len(label) > MAX_LABEL_LENGTH:
        raise SilikError(
            f"name {label[:20]!r}... is too long: {len(label)} characters, at most {MAX_LABEL_LENGTH}",
            hint="choose a shorter name",
        )
    if not _NAME_RE.match(label) or label in (".", ".."):
        raise SilikError(
            f"invalid name {label!r}",
            hint="use letters, digits, '_', '-', '+' and '.', starting with a letter, digit or '_'",
        )
