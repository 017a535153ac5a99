"""Splitting a silik cell into command lines and words.

Quoting follows the POSIX shell closely enough to be unsurprising: single
quotes keep everything, double quotes let ``\\"`` and ``\\\\`` through, and a
newline inside quotes belongs to the word (so ``run "...multi-line code..."``
works). Outside quotes, a newline ends the command line and ``#`` at the start
of a word starts a comment.
"""

from __future__ import annotations

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
    lines: list[Line] = []
    words: list[str] = []
    word: list[str] | None = None  # None: between words
    quote: str | None = None
    quote_at = 0
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
            quote_at = i
            if word is None:
                word = []
        elif c == "\\" and i + 1 < n:
            nxt = cell[i + 1]
            if nxt == "\n":  # line continuation: joins lines, starts no word
                line_no += 1
            else:
                if word is None:
                    word = []
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
        quote_line = cell.count("\n", 0, quote_at) + 1
        raise UnterminatedQuote(
            f"unterminated {quote} quote starting on line {quote_line}",
            hint=f"close it with {quote}; to put {quote} inside, use the other quote character",
            at=quote_at,
        )
    if word is not None:
        words.append("".join(word))
    end_line(n)
    return lines


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
