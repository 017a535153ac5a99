"""Splitting a silik cell into command lines and words.

Quoting follows the POSIX shell closely enough to be unsurprising: single
quotes keep everything, double quotes let ``\\"`` and ``\\\\`` through, and a
newline inside quotes belongs to the word (so ``run "...multi-line code..."``
works). Outside quotes, a newline ends the command line and ``#`` at the start
of a word starts a comment.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SilikError


@dataclass
class Line:
    words: list[str]
    text: str  # the source of the line, for error messages
    number: int  # 1-based line number of its first character


class UnterminatedQuote(SilikError):
    pass


def split_lines(cell: str) -> list[Line]:
    """Every non-empty command line of ``cell``, with its words."""
    lines: list[Line] = []
    words: list[str] = []
    word: list[str] | None = None  # None: between words
    quote: str | None = None
    start = 0
    line_no = 1
    start_line = 1
    i = 0
    n = len(cell)

    def end_line(end: int) -> None:
        nonlocal words, start, start_line
        text = cell[start:end].strip()
        if words:
            lines.append(Line(words, text, start_line))
        words = []
        start = end + 1
        start_line = line_no + 1

    while i < n:
        c = cell[i]
        if quote == "'":
            if c == "'":
                quote = None
            else:
                assert word is not None
                word.append(c)
            if c == "\n":
                line_no += 1
        elif quote == '"':
            assert word is not None
            if c == '"':
                quote = None
            elif c == "\\" and i + 1 < n and cell[i + 1] in '"\\':
                word.append(cell[i + 1])
                i += 1
            else:
                word.append(c)
            if c == "\n":
                line_no += 1
        elif c in "'\"":
            quote = c
            if word is None:
                word = []
        elif c == "\\" and i + 1 < n:
            if word is None:
                word = []
            nxt = cell[i + 1]
            if nxt == "\n":  # line continuation
                line_no += 1
            else:
                word.append(nxt)
            i += 1
        elif c == "\n":
            if word is not None:
                words.append("".join(word))
                word = None
            end_line(i)
            line_no += 1
            start_line = line_no
        elif c in " \t\r":
            if word is not None:
                words.append("".join(word))
                word = None
        elif c == "#" and word is None:
            # comment to end of line
            while i + 1 < n and cell[i + 1] != "\n":
                i += 1
        else:
            if word is None:
                word = []
            word.append(c)
        i += 1
    if quote is not None:
        raise UnterminatedQuote(
            f"unterminated {quote} quote starting on line {start_line}",
            hint=f"close it with {quote}; to put {quote} inside, use the other quote character",
        )
    if word is not None:
        words.append("".join(word))
    end_line(n)
    return lines


def split_partial(text: str) -> tuple[list[str], str]:
    """Words of an unfinished line, for completion: (complete words, word being typed)."""
    try:
        lines = split_lines(text)
        words = lines[-1].words if lines else []
        if text and text[-1] in " \t":
            return words, ""
        if not words:
            return [], ""
        return words[:-1], words[-1]
    except UnterminatedQuote:
        # Completing inside an open quote: complete the quoted word.
        quote_at = max(text.rfind('"'), text.rfind("'"))
        head = split_partial(text[:quote_at])[0] if quote_at > 0 else []
        return head, text[quote_at + 1 :]
