"""ManagerService refuses arguments of the wrong name or type as "invalid", naming
the argument; no kernel starts (the checks come before any operation runs)."""

from __future__ import annotations

import pytest

from silik_kernel.manager import SilikManager
from silik_kernel.service import ManagerService, ServiceError


@pytest.fixture
def svc() -> ManagerService:
    return ManagerService(SilikManager())


async def call_error(svc: ManagerService, op: str, args: dict) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        await svc.call(op, args)
    return info.value


async def stream_error(svc: ManagerService, op: str, args: dict) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        async for _ in svc.stream(op, args):
            pass
    return info.value


@pytest.mark.parametrize(
    ("op", "args", "named", "wanted"),
    [
        ("list_tree", {"path": 5}, "path", "a string"),
        ("list_tree", {"path": None}, "path", "a string"),
        ("stop_kernel", {"path": ["a.py"]}, "path", "a string"),
        ("kernel_history", {"path": "k.py", "n": "ten"}, "n", "an integer"),
        ("kernel_history", {"path": "k.py", "n": True}, "n", "an integer"),
        ("start_kernel", {"kernelspec": "python3", "label": 1}, "label", "a string"),
        ("silik", {"command": {"x": 1}}, "command", "a string"),
    ],
)
async def test_a_wrong_type_is_invalid_and_names_the_argument(svc, op, args, named, wanted):
    exc = await call_error(svc, op, args)
    assert exc.kind == "invalid"
    assert f"{op}: argument {named!r} must be {wanted}" in exc.message


async def test_a_missing_argument_is_invalid_and_named(svc):
    exc = await call_error(svc, "stop_kernel", {})
    assert exc.kind == "invalid" and "stop_kernel: missing argument 'path'" in exc.message


async def test_an_unknown_argument_is_invalid_and_lists_the_known_ones(svc):
    exc = await call_error(svc, "list_tree", {"paht": "~"})
    assert exc.kind == "invalid" and "unknown argument 'paht'" in exc.message
    assert "path" in (exc.hint or "")


async def test_the_caller_cannot_be_passed_as_an_argument(svc):
    exc = await call_error(svc, "list_tree", {"caller": "someone"})
    assert exc.kind == "invalid" and "'caller'" in exc.message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"path": "k.py"}, "run_code: missing argument 'code'"),
        ({"path": "k.py", "code": 7}, "run_code: argument 'code' must be a string"),
        ({"path": "k.py", "code": "1", "timeout": "soon"}, "'timeout' must be a number"),
        ({"code": "1", "path": "k.py", "extra": 1}, "unknown argument 'extra'"),
    ],
)
async def test_run_code_arguments_are_checked_before_it_runs(svc, args, message):
    exc = await stream_error(svc, "run_code", args)
    assert exc.kind == "invalid" and message in exc.message


async def test_good_arguments_still_work(svc):
    assert await svc.call("list_tree", {"path": "~"}) == [{"path": "~", "type": "folder"}]
    assert await svc.call("list_tree", {}) == [{"path": "~", "type": "folder"}]
    exc = await stream_error(svc, "run_code", {"path": "nope.py", "code": "1", "timeout": 2})
    assert exc.kind == "invalid" and "no such kernel" in exc.message
