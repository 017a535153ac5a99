"""Splitting cells into command lines and words, and unfinished lines for completion."""

from __future__ import annotations

import pytest

from silik_kernel.commands.parsing import Line, UnterminatedQuote, split_lines, split_partial
from silik_kernel.errors import SilikError


def words(cell: str) -> list[list[str]]:
    return [line.words for line in split_lines(cell)]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("new python3 -l k1", [["new", "python3", "-l", "k1"]]),
        ("  tree  \t", [["tree"]]),
        ("", []),
        ("\n \n\t\n", []),
        # double quotes keep spaces; only \" and \\ are escapes inside them
        ('run "x = 1" k1.py', [["run", "x = 1", "k1.py"]]),
        ('run "say \\"hi\\"" k', [["run", 'say "hi"', "k"]]),
        ('run "a\\\\b" k', [["run", "a\\b", "k"]]),
        ("run \"print('a\\nb')\" k", [["run", "print('a\\nb')", "k"]]),
        # single quotes keep everything, backslashes and double quotes included
        ("run 'print(\"a\\nb\")' k", [["run", 'print("a\\nb")', "k"]]),
        ("run 'a\\' k", [["run", "a\\", "k"]]),
        # quoted parts next to each other make one word
        ("a\"b c\"'d'e", [["ab cde"]]),
        ('run "" k', [["run", "", "k"]]),
        ("x ''", [["x", ""]]),
        # a backslash outside quotes escapes the next character
        ("a\\ b c", [["a b", "c"]]),
        ('a \\#b \\"c', [["a", "#b", '"c']]),
        ("x\\", [["x\\"]]),  # a lone backslash at the very end is kept
        # comments start at a word's beginning; # inside a word or quotes is text
        ("# setup\nls  # list it\nls a#b '#c'", [["ls"], ["ls", "a#b", "#c"]]),
        ("ls # don't mind 'this", [["ls"]]),
        ("a\r\nb", [["a"], ["b"]]),
    ],
)
def test_split_words(cell: str, expected: list[list[str]]) -> None:
    assert words(cell) == expected


def test_lines_keep_their_number_and_text() -> None:
    cell = "\n# comment\nnew python3 -l k1\n\n  tree   ~ \n"
    assert split_lines(cell) == [
        Line(["new", "python3", "-l", "k1"], "new python3 -l k1", 3),
        Line(["tree", "~"], "tree   ~", 5),
    ]


def test_multi_line_quoted_code_keeps_its_newlines() -> None:
    cell = "run \"for i in range(3):\n    print(i)\n\" k1.py\nls\nrun 'a\n\nb' k\npwd"
    assert split_lines(cell) == [
        Line(["run", "for i in range(3):\n    print(i)\n", "k1.py"], cell[: cell.index("\nls")], 1),
        Line(["ls"], "ls", 4),
        Line(["run", "a\n\nb", "k"], "run 'a\n\nb' k", 5),
        Line(["pwd"], "pwd", 8),
    ]


def test_backslash_newline_continues_the_line() -> None:
    cell = "new python3 \\\n    -l a \\\n       b\nls\nnew pyth\\\non3"
    assert [(line.words, line.number) for line in split_lines(cell)] == [
        (["new", "python3", "-l", "a", "b"], 1),
        (["ls"], 4),
        (["new", "python3"], 5),
    ]


@pytest.mark.parametrize(
    ("cell", "quote", "line", "at"),
    [
        ('run "x = 1', '"', 1, 4),
        ("ls\nrun 'abc\n\nx", "'", 2, 7),
        ('new \\\n  "x', '"', 2, 8),
        ('run "a\nb" "c', '"', 2, 10),
    ],
)
def test_unterminated_quote_says_where_it_started(
    cell: str, quote: str, line: int, at: int
) -> None:
    with pytest.raises(UnterminatedQuote) as info:
        split_lines(cell)
    err = info.value
    assert isinstance(err, SilikError)
    assert err.message == f"unterminated {quote} quote starting on line {line}"
    assert err.hint == (
        f"close it with {quote}; to put {quote} inside, use the other quote character"
    )
    assert err.at == at and cell[at] == quote


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ([], "")),
        ("ne", ([], "ne")),
        ("new ", (["new"], "")),
        ("new py", (["new"], "py")),
        ("new  python3\t-l ", (["new", "python3", "-l"], "")),
        ('run "x" k1', (["run", "x"], "k1")),
        ("run 'a b' ", (["run", "a b"], "")),
        ("a\\ b", ([], "a b")),
        # only the last command line counts
        ("ls\ncd a", (["cd"], "a")),
        ("ls\n", ([], "")),
        ("new python3\n", ([], "")),
        ('run "x\ny" k', (["run", "x\ny"], "k")),
        ("new \\\n py", (["new"], "py")),
        # inside an open quote: the quoted text typed so far
        ('run "x = 1', (["run"], "x = 1")),
        ("run 'it\"s", (["run"], 'it"s')),
        ("run \"a'b", (["run"], "a'b")),
        ('a "b" "c', (["a", "b"], "c")),
        ('"abc', ([], "abc")),
        ('ls\n> "k', ([">"], "k")),
    ],
)
def test_split_partial(text: str, expected: tuple[list[str], str]) -> None:
    assert split_partial(text) == expected


@pytest.mark.parametrize("text", ["ls # co", "# only a comment", "run 'x' k # note "])
def test_split_partial_inside_a_comment_has_nothing_to_complete(text: str) -> None:
    assert split_partial(text) is None
