"""What both kernels share: the cells' history and the replies' shape."""

from __future__ import annotations

from silik_kernel.kernel.base import CellHistory, error_content, error_reply, ok_reply


def _history() -> CellHistory:
    h = CellHistory()
    for count, src in enumerate(["ls", "new python3 -l a", "ls", "tree", "run 'x' a.py"], 1):
        h.add(count, src)
    return h


def test_tail_range_and_search_follow_ipython():
    h = _history()
    assert [c for _, c, _ in h.select("tail", n=2)] == [4, 5]
    assert [c for _, c, _ in h.select("range", start=2, stop=4)] == [2, 3]
    assert [src for _, _, src in h.select("search", pattern="l*")] == ["ls", "ls"]
    # unique keeps the last occurrence of each source
    assert [c for _, c, _ in h.select("search", pattern="*", unique=True)] == [2, 3, 4, 5]


def test_reply_pairs_inputs_with_outputs_when_asked():
    h = _history()
    reply = h.reply("range", True, start=4, outputs={4: "tree text"})
    assert reply == {
        "status": "ok",
        "history": [(1, 4, ("tree", "tree text")), (1, 5, ("run 'x' a.py", None))],
    }
    assert h.reply("tail", False, n=1)["history"] == [(1, 5, "run 'x' a.py")]


def test_error_and_ok_replies_carry_what_the_spec_asks():
    content = error_content("SilikError", "bad", ["SilikError: bad"])
    reply = error_reply(7, content)
    assert reply == {"status": "error", "execution_count": 7, **content}
    assert ok_reply(3) == {
        "status": "ok",
        "execution_count": 3,
        "payload": [],
        "user_expressions": {},
    }
