"""Malformed typing requests get one error reply each, in command mode and in
connect mode (where silik answers them itself instead of passing them on)."""

from __future__ import annotations

from typing_requests import check_cursor_clamped, check_malformed_requests, check_unreadable_content


def test_command_mode_answers_every_malformed_request(silik):
    check_malformed_requests(silik.kc)
    check_cursor_clamped(silik.kc)
    check_unreadable_content(silik.kc)


def test_connect_mode_answers_every_malformed_request(silik):
    silik.ok("new python3 -l k1")
    silik.ok("> k1.py")
    check_malformed_requests(silik.kc)
    check_cursor_clamped(silik.kc)
    check_unreadable_content(silik.kc)
    silik.ok("/cmd stop k1.py")
