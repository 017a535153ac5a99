"""A kernel's history of its cells stays bounded however many and however large
the cells: it counts what it stores, and drops the oldest cells first."""

from __future__ import annotations

from silik_kernel.kernel.base import CellHistory

MB = 1_000_000


def test_fifty_cells_of_one_megabyte_store_a_bounded_amount():
    h = CellHistory()
    for count in range(1, 51):
        h.add(count, "x" * MB)
    assert h.stored_chars <= CellHistory.max_chars
    assert sum(len(src) for _, _, src in h.cells) == h.stored_chars
    # the newest cell is still there, cut to the size kept for one cell, with a marker
    _, count, src = h.select("tail", n=1)[0]
    assert count == 50
    assert len(src) < CellHistory.max_cell_chars + 200
    assert src.startswith("x" * 1000) and "truncated" in src and "1,000,000" in src


def test_many_small_cells_keep_the_newest_ones():
    h = CellHistory()
    total = CellHistory.max_cells + 500
    for count in range(1, total + 1):
        h.add(count, f"ls {count}")
    assert len(h.cells) == CellHistory.max_cells
    assert [c for _, c, _ in h.select("tail", n=2)] == [total - 1, total]
    first_kept = total - CellHistory.max_cells + 1
    assert [c for _, c, _ in h.select("range", start=0, stop=first_kept + 1)] == [first_kept]


def test_outputs_are_bounded_and_leave_with_their_cell():
    h = CellHistory(max_cells=3)
    for count in range(1, 6):
        h.add(count, f"q{count}")
        h.add_output(count, "a" * MB)
    assert set(h.outputs) == {3, 4, 5}
    assert all(len(text) < CellHistory.max_cell_chars + 200 for text in h.outputs.values())
    assert h.stored_chars <= CellHistory.max_chars
    reply = h.reply("tail", True, n=1)
    assert reply["history"][0][2][0] == "q5" and "truncated" in reply["history"][0][2][1]


def test_a_small_cell_is_kept_as_is():
    h = CellHistory()
    h.add(1, "tree")
    assert h.reply("tail", False, n=1) == {"status": "ok", "history": [(1, 1, "tree")]}
