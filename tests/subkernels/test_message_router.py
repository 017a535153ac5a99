"""MessageRouter: every message goes to the sink of the request it answers (pure tests)."""

from __future__ import annotations

from typing import Any

from silik_kernel.subkernels.execution import KernelDeath
from silik_kernel.subkernels.routing import LATE_SINKS, MessageRouter, quoted_id


def message(msg_type: str, parent_id: str | None, **content: Any) -> dict[str, Any]:
    parent = {"msg_id": parent_id, "msg_type": "execute_request"} if parent_id else {}
    return {"header": {"msg_type": msg_type}, "parent_header": parent, "content": content}


def test_a_message_goes_to_the_sink_of_its_request_only():
    router = MessageRouter()
    got: dict[str, list[str]] = {"a": [], "b": []}
    router.expect("a", lambda ch, msg: got["a"].append(msg["header"]["msg_type"]))
    router.expect("b", lambda ch, msg: got["b"].append(msg["header"]["msg_type"]))
    router.route("iopub", message("stream", "a"))
    router.route("shell", message("execute_reply", "b"))
    assert got == {"a": ["stream"], "b": ["execute_reply"]}
    assert router.waits_for("a") and not router.waits_for("c")


def test_a_finished_request_keeps_a_late_sink_and_the_rest_is_unrouted():
    router = MessageRouter()
    late: list[str] = []
    unrouted: list[tuple[str, str]] = []
    router.on_unrouted = lambda ch, msg: unrouted.append((ch, msg["header"]["msg_type"]))
    router.expect("a", lambda ch, msg: None)
    router.forget("a", late=lambda ch, msg: late.append(msg["content"]["text"]))
    assert not router.waits_for("a")
    router.route("iopub", message("stream", "a", text="after"))
    router.route("iopub", message("comm_msg", "other"))
    router.route("shell", message("kernel_info_reply", "other"))  # only iopub is passed on
    router.route("iopub", message("stream", None, text="nobody's"))
    assert late == ["after"]
    assert unrouted == [("iopub", "comm_msg"), ("iopub", "stream")]


def test_late_sinks_are_bounded_oldest_first():
    router = MessageRouter()
    for i in range(LATE_SINKS + 10):
        router.forget(f"m{i}", late=lambda ch, msg: None)
    assert len(router.late) == LATE_SINKS
    assert "m0" not in router.late and f"m{LATE_SINKS + 9}" in router.late


def test_statuses_of_runs_and_of_the_kernel_set_the_state_others_do_not():
    router = MessageRouter()
    router.route("iopub", message("status", "a", execution_state="busy"))
    assert router.execution_state == "busy"
    completion = message("status", "c", execution_state="idle")
    completion["parent_header"]["msg_type"] = "complete_request"
    router.route("iopub", completion)
    assert router.execution_state == "busy"
    router.route("iopub", message("status", None, execution_state="idle"))
    assert router.execution_state == "idle"


def test_a_raw_status_sets_the_state_before_its_sink_sees_it():
    router = MessageRouter()
    states: list[str] = []
    raw = lambda ch, msg_type, parts: states.append(router.execution_state)  # noqa: E731
    router.to_raw(
        raw, "iopub", "status", [b"", b"{}", b"{}", b"{}", b'{"execution_state": "busy"}']
    )
    assert states == ["busy"]


def test_a_death_fails_every_waiting_request_once():
    router = MessageRouter()
    died: list[str] = []
    router.expect("a", lambda ch, msg: died.append(f"{ch}:{msg.reason}"))
    router.raw[quoted_id("r")] = lambda ch, t, parts: died.append(f"{ch}:{t.reason}:raw")

    def broken(ch: str, msg: Any) -> None:
        raise RuntimeError("a sink that fails does not stop the others")

    router.expect("b", broken)
    router.fail_pending("gone")
    router.fail_pending("again")  # nobody waits any more
    assert died == ["died:gone", "died:gone:raw"]
    assert not router.sinks and not router.raw
    assert isinstance(KernelDeath("x"), KernelDeath)


def test_raw_requests_are_keyed_by_their_quoted_id():
    router = MessageRouter()
    router.raw[quoted_id("s_1_1")] = lambda ch, t, parts: None
    router.forget_raw("s_1_1", late=lambda ch, t, parts: None)
    assert quoted_id("s_1_1") == b'"s_1_1"'
    assert not router.raw and "s_1_1" in router.raw_late
