"""Splitting a silik cell into command lines and words.

Quoting follows the POSIX shell closely enough to be unsurprising: single
quotes keep everything, double quotes let ``\\"`` and ``\\\\`` through, and a
newline inside quotes belongs to the word (so ``run "...multi-line code..."``
works). Outside quotes, a newline ends the command line and ``#`` at the start
of a word starts a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from silik_kernel.errors import SilikError


@dataclass
class Line:
    words: list[str]
    text: str  # the source of the line, for error messages
    number: int  # 1-based line number of its first character


class UnterminatedQuote(SilikError):
    def __init__(self, message: str, hint: str | None, at: int) -> None:
        super().__init__(message, hint)
        self.at = at  # index of the opening quote in the cell


def split_lines(cell: str) -> list[Line]:
    """Every non-empty command line of ``cell``, with its words."""
    return _LineSplitter(cell).split()


class _LineSplitter:
    """One pass over a cell: character by character outside quotes, a quoted stretch
    at a time inside them (quoted code can be long)."""

    def __init__(self, cell: str) -> None:
        self.cell = cell
        self.lines: list[Line] = []
        self.words: list[str] = []  # of the line being read
        self.word: list[str] | None = None  # pieces of the word being read; None: between words
        self.start = 0  # where the line being read starts in the cell
        self.line_no = 1  # the line of the cell being read
        self.start_line = 1  # the line of the cell where the command line starts

    def split(self) -> list[Line]:
        cell = self.cell
        n = len(cell)
        i = 0
        while i < n:
            c = cell[i]
            if c in "'\"":
                i = self._quoted(i)
            elif c == "\\" and i + 1 < n:
                if cell[i + 1] == "\n":  # line continuation: joins lines, starts no word
                    self.line_no += 1
                else:
                    self._add(cell[i + 1])
                i += 2
            elif c == "\n":
                self._end_line(i)
                i += 1
            elif c in " \t\r":
                self._end_word()
                i += 1
            elif c == "#" and self.word is None:  # a comment, to the end of the line
                end = cell.find("\n", i)
                i = n if end == -1 else end
            else:
                self._add(c)
                i += 1
        self._end_line(n)
        return self.lines

    def _quoted(self, at: int) -> int:
        """Add the text quoted at ``at`` to the word; where the text after the closing quote starts."""
        if self.word is None:
            self.word = []
        if self.cell[at] == "'":
            return self._single_quoted(at)
        return self._double_quoted(at)

    def _single_quoted(self, at: int) -> int:
        end = self.cell.find("'", at + 1)
        if end == -1:
            raise _unterminated(self.cell, at)
        self._add_quoted(self.cell[at + 1 : end])
        return end + 1

    def _double_quoted(self, at: int) -> int:
        cell = self.cell
        i = at + 1
        while (stop := _DOUBLE_QUOTED_STOP.search(cell, i)) is not None:
            j = stop.start()
            self._add_quoted(cell[i:j])
            if cell[j] == '"':
                return j + 1
            escaped = j + 1 < len(cell) and cell[j + 1] in '"\\'
            self._add_quoted(cell[j + 1] if escaped else "\\")
            i = j + 2 if escaped else j + 1
        raise _unterminated(cell, at)

    def _add_quoted(self, text: str) -> None:
        assert self.word is not None
        self.word.append(text)
        self.line_no += text.count("\n")

    def _add(self, text: str) -> None:
        if self.word is None:
            self.word = []
        self.word.append(text)

    def _end_word(self) -> None:
        if self.word is not None:
            self.words.append("".join(self.word))
            self.word = None

    def _end_line(self, end: int) -> None:
        """The command line ends at ``end`` (a newline, or the end of the cell)."""
        self._end_word()
        if self.words:
            self.lines.append(
                Line(self.words, self.cell[self.start : end].strip(), self.start_line)
            )
            self.words = []
        self.start = end + 1
        self.line_no += 1
        self.start_line = self.line_no


# Where a double-quoted stretch stops: its closing quote, or a backslash, which
# lets `\"` and `\\` through and stays before any other character.
_DOUBLE_QUOTED_STOP = re.compile(r'["\\]')


def _unterminated(cell: str, at: int) -> UnterminatedQuote:
    quote = cell[at]
    quote_line = cell.count("\n", 0, at) + 1
    return UnterminatedQuote(
        f"unterminated {quote} quote starting on line {quote_line}",
        hint=f"close it with {quote}; to put {quote} inside, use the other quote character",
        at=at,
    )


_CURSOR = "\x00"  # marks the end of the text, to see which word it ends


def split_partial(text: str) -> tuple[list[str], str] | None:
    """Words of an unfinished line, for completion: (complete words, word being typed).

    None when the text ends inside a comment: there is nothing to complete.
    """
    try:
        lines = split_lines(text + _CURSOR)
    except UnterminatedQuote as exc:
        # Completing inside an open quote: complete the quoted word.
        head = split_partial(text[: exc.at])
        return (head[0] if head else []), text[exc.at + 1 :]
    words = lines[-1].words if lines else []
    if not words or not words[-1].endswith(_CURSOR):
        return None
    return words[:-1], words[-1][: -len(_CURSOR)]
