"""Agent kernels through a real jupyter_client client, installed with `python -m silik_agents install`.

Most tests share one `chef` kernel (tests/agents_fixtures/chef.py: a scripted
FunctionModel agent); each test resets the conversation it uses.
"""

from __future__ import annotations

import json
import sys
import time

import pytest
from agents_fixtures.kernels import (
    CHEF,
    KERNEL_PYTHONPATH,
    AgentDriver,
    agent_prefix,
    displays,
    execute_with_metadata,
    final_display,
    shown_displays,
)
from typing_requests import check_cursor_clamped, check_malformed_requests, check_unreadable_content


@pytest.fixture(scope="module")
def chef(tmp_path_factory):
    # Started as a Jupyter that requires CurveZMQ starts it: the spec `install`
    # wrote declares support, and the kernel takes the keys.
    driver = AgentDriver(
        "chef",
        log=tmp_path_factory.mktemp("chef") / "kernel.log",
        transport_encryption="required",
    )
    try:
        yield driver
    finally:
        driver.shutdown()


@pytest.fixture
def fresh(chef):
    chef.ok("/reset")
    chef.stdin_answers.clear()
    chef.input_prompts.clear()
    return chef


def test_install_writes_a_spec_with_this_interpreter():
    spec_file = agent_prefix() / "share" / "jupyter" / "kernels" / "chef" / "kernel.json"
    spec = json.loads(spec_file.read_text())
    assert spec["argv"][0] == sys.executable
    assert spec["argv"][1:] == [
        "-m",
        "silik_agents",
        "run",
        CHEF,
        "--name",
        "chef",
        "-f",
        "{connection_file}",
    ]
    assert spec["display_name"] == "Chef"
    assert spec["interrupt_mode"] == "message"
    assert spec["language"] == "text"
    assert spec["env"] == {"PYTHONPATH": KERNEL_PYTHONPATH}


def test_the_kernel_runs_encrypted(fresh):
    with open(fresh.km.connection_file) as f:
        assert json.load(f)["curve_publickey"]
    assert fresh.km.transport_encryption == "required"


def test_answer_streams_live_then_each_part_is_placed_once_complete(fresh):
    res = fresh.ok("add 2 and 3")  # the answer streams word by word, 30 ms apart
    shown = displays(res)
    live = [m["content"]["data"] for m in shown if "text/plain" not in m["content"]["data"]]
    streamed = [data["text/markdown"] for data in live if data]
    assert len(streamed) >= 2, "the answer should stream in several updates"
    assert all("The tool said: 5".startswith(text) for text in streamed if "🔧" not in text)
    # Each part once with every mime type (what jupyter console prints); every live
    # display ends empty, so a notebook shows each part once too.
    placed = [
        m["content"]["data"]
        for m in shown
        if m["msg_type"] == "display_data" and "text/plain" in m["content"]["data"]
    ]
    assert [data["text/plain"] for data in placed] == [
        "[tool] add(a=2, b=3) -> 5",
        "The tool said: 5",
    ]
    assert placed[1]["text/markdown"] == "The tool said: 5"
    assert shown_displays(res) == placed
    assert res.of_type("error") == []


def test_two_turns_share_the_conversation(fresh):
    fresh.ok("remember cinnamon")
    res = fresh.ok("what did I ask you to remember?")
    assert final_display(res)["text/plain"] == "You asked me to remember cinnamon."


def test_reset_forgets_the_conversation(fresh):
    fresh.ok("remember nutmeg")
    res = fresh.ok("/reset")
    assert "2 messages dropped" in res.text
    assert fresh.ok("/history").text.strip() == "The conversation is empty."
    res = fresh.ok("what do you remember?")
    assert final_display(res)["text/plain"] == "I don't remember anything."


def test_tool_calls_show_name_arguments_and_result(fresh):
    res = fresh.ok("hello")
    assert res.stdout == "hello, world\n"  # printed by the tool, in this cell
    data = final_display(res)
    assert "[tool] say(text='hello, world') -> said it" in data["text/plain"]
    assert "🔧 `say(text='hello, world')` → `said it`" in data["text/markdown"]
    assert data["text/plain"].endswith("The tool said: said it")
    live = [m["content"]["data"].get("text/markdown", "") for m in displays(res)]
    assert any("running…" in text for text in live), "the call should be shown while it runs"


def test_thinking_is_collapsed_and_shown_on_request(fresh):
    res = fresh.ok("think first")
    data = final_display(res)
    assert "<details><summary>💭 Thinking</summary>" in data["text/markdown"]
    assert "[thinking: 22 characters; /thinking shows it]" in data["text/plain"]
    assert fresh.ok("/thinking").text.strip() == "Let me think about it."


def test_commands_help_tools_usage_history(fresh):
    text = fresh.ok("/help").text
    for name in ("/reset", "/history", "/model", "/tools", "/usage", "/help", "/thinking"):
        assert name in text
    tools = fresh.ok("/tools").text
    assert "run_code(code, kernel) (asks for approval)" in tools
    assert "add(a, b)  Add two numbers." in tools
    fresh.ok("remember saffron")
    usage = fresh.ok("/usage").text
    assert "input tokens" in usage and "this kernel  " in usage
    history = fresh.ok("/history").text
    assert "You: remember saffron\nAgent: OK, I will remember saffron." in history
    res = fresh.ok("/usage")
    assert res.of_type("execute_result")[0]["content"]["data"]["text/plain"] == res.text.strip()


def test_unknown_command_lists_the_commands(fresh):
    res = fresh.fails("/frobnicate now")
    assert [m["msg_type"] for m in res.messages] == ["error"]
    assert res.content["ename"] == "UnknownCommand"
    assert "unknown command /frobnicate" in res.error
    assert "/reset" in res.error and "/model" in res.error
    res = fresh.ok("//frobnicate is a word")  # a leading // sends the text to the agent
    assert final_display(res)["text/plain"] == "You said: /frobnicate is a word"


def test_model_shows_its_source_and_switches(fresh):
    assert "Model: function:chef-script (from the agent)." in fresh.ok("/model").text
    res = fresh.ok("/model test")
    assert "test for the rest of this session" in res.text
    assert "Model: test (from /model)." in fresh.ok("/model").text
    res = fresh.ok("anything")  # TestModel calls every tool, then answers with JSON of the results
    assert "[tool] add(a=0, b=0) -> 0" in final_display(res)["text/plain"]
    assert "(from the agent)" in fresh.ok("/model default").text
    assert final_display(fresh.ok("hi"))["text/plain"] == "You said: hi"


def test_missing_api_key_is_an_error_that_says_what_to_set(fresh):
    res = fresh.fails("/model openai:gpt-5")
    assert res.content["ename"] == "MissingSetting"
    assert "OPENAI_API_KEY" in res.error
    assert "hint: set OPENAI_API_KEY in the environment" in res.error
    # Every suggestion is something to type in this kernel or to edit, not Python to change.
    assert "Agent('test')" not in res.error and "OpenAIProvider(" not in res.error
    assert "`/model test`" in res.error and "chef.toml" in res.error
    assert "(from the agent)" in fresh.ok("/model").text  # the failed switch changed nothing
    res = fresh.fails("/model nosuchprovider:model-x")
    assert "Unknown model" in res.error


def test_interrupt_cancels_promptly_and_keeps_only_complete_turns(fresh):
    fresh.ok("remember thyme")
    msg_id = fresh.kc.execute("slow answer please")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait until tokens stream
        msg = fresh.kc.get_iopub_msg(timeout=10)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "display_data":
            break
    started = time.monotonic()
    fresh.km.interrupt_kernel()
    res = fresh.collect(msg_id, timeout=10)
    assert time.monotonic() - started < 2
    assert res.status == "error"
    assert res.content["ename"] == "KeyboardInterrupt"
    assert "not added to the conversation" in final_display(res)["text/plain"]
    # Its tokens count: the reply says what it spent (as many as streamed before the stop).
    meta = res.reply["metadata"]["silik_agents"]
    assert meta["model"] == "function:chef-script" and meta["usage"]["output_tokens"] > 0
    assert meta["usage_total"]["output_tokens"] > meta["usage"]["output_tokens"]
    history = fresh.ok("/history").text
    assert "slow answer" not in history
    assert "remember thyme" in history
    res = fresh.ok("what did I ask you to remember?")  # the kernel survived, context intact
    assert final_display(res)["text/plain"] == "You asked me to remember thyme."


def test_approval_accepted(fresh):
    fresh.stdin_answers.append("y")
    res = fresh.ok("run code", allow_stdin=True)
    assert len(fresh.input_prompts) == 1
    prompt = fresh.input_prompts[0]["prompt"]
    assert prompt.endswith("Allow run_code on k1.py? [y/N] ")
    assert "code='1+1'" in prompt
    assert fresh.input_prompts[0]["password"] is False
    data = final_display(res)
    assert "-> ran 1+1 on k1.py" in data["text/plain"]
    assert data["text/plain"].endswith("The tool said: ran 1+1 on k1.py")


def test_approval_denied_is_reported_to_the_model(fresh):
    fresh.stdin_answers.append("n")
    res = fresh.ok("run code", allow_stdin=True)
    assert len(fresh.input_prompts) == 1
    text = final_display(res)["text/plain"]
    assert "denied: The user denied this tool call." in text
    assert text.endswith("The call was not allowed: The user denied this tool call.")


def test_approval_without_stdin_is_denied_and_says_why(fresh):
    res = fresh.ok("run code", allow_stdin=False)
    assert fresh.input_prompts == []
    text = final_display(res)["text/plain"]
    assert "cannot answer approval prompts" in text
    assert "The call was not allowed" in text


def test_interrupt_while_waiting_for_approval(fresh):
    msg_id = fresh.kc.execute("run code", allow_stdin=True)
    request = fresh.kc.get_stdin_msg(timeout=10)  # the prompt is up; nobody answers it
    assert request["content"]["prompt"].endswith("Allow run_code on k1.py? [y/N] ")
    fresh.km.interrupt_kernel()
    res = fresh.collect(msg_id, timeout=10)
    assert res.content["ename"] == "KeyboardInterrupt"
    fresh.kc.input("y")  # a late answer to the abandoned prompt must not leak into the next one
    fresh.stdin_answers.append("n")
    res = fresh.ok("run code", allow_stdin=True)
    assert "denied: The user denied this tool call." in final_display(res)["text/plain"]


def test_chat_frontend_passes_history_and_gets_message_ids(fresh):
    fresh.ok("remember basil")  # the kernel's own history, replaced below
    meta = {
        "silik_agents": {
            "messages": [
                {"role": "user", "content": "remember oregano", "id": "u1"},
                {"role": "assistant", "content": "OK, I will remember oregano.", "id": "a1"},
            ]
        }
    }
    msg_id = execute_with_metadata(fresh, "what did I ask you to remember?", meta)
    res = fresh.collect(msg_id)
    assert final_display(res)["text/plain"] == "You asked me to remember oregano."
    reply_meta = res.reply["metadata"]["silik_agents"]
    assert len(reply_meta["message_ids"]) == 2  # the new request and response
    assert [m["kind"] for m in reply_meta["messages"]] == ["request", "response"]
    assert [m["metadata"]["silik_id"] for m in reply_meta["messages"]] == reply_meta["message_ids"]
    assert reply_meta["usage"]["requests"] == 1
    # The frontend's messages became the conversation, with their ids.
    history = fresh.ok("/history").text
    assert "remember oregano" in history and "basil" not in history
    bad = execute_with_metadata(fresh, "hi", {"silik_agents": {"messages": [{"x": 1}]}})
    res = fresh.collect(bad)
    assert res.status == "error" and res.content["ename"] == "BadMetadata"


def iopub_until_idle(driver: AgentDriver, msg_id: str, timeout: float = 10) -> list[dict]:
    """The iopub messages of a request that has no reply (a comm message), up to its idle."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        msg = driver.kc.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.01))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status":
            if msg["content"]["execution_state"] == "idle":
                return seen
            continue
        seen.append(msg)


def test_comms_are_answered_as_by_a_kernel_without_comm_targets(fresh):
    """JupyterLab opens comms to every kernel: refused with comm_close, quietly."""
    info = fresh.request("comm_info")["content"]
    assert info == {"status": "ok", "comms": {}}

    def send(msg_type: str, content: dict) -> list[dict]:
        msg = fresh.kc.session.msg(msg_type, content)
        fresh.kc.shell_channel.send(msg)
        return iopub_until_idle(fresh, msg["header"]["msg_id"])

    opened = {"comm_id": "c1", "target_name": "jupyter.widget.control", "data": {}}
    (closed,) = send("comm_open", opened)
    assert closed["msg_type"] == "comm_close"
    assert closed["content"]["comm_id"] == "c1"
    assert send("comm_msg", {"comm_id": "c1", "data": {"method": "request_states"}}) == []
    assert send("comm_close", {"comm_id": "c1", "data": {}}) == []
    assert final_display(fresh.ok("hi"))["text/plain"] == "You said: hi"
    log = fresh.log.read_text()
    assert "Unknown message type" not in log and "comm_" not in log, log


def test_subclass_kernel_with_custom_command():
    driver = AgentDriver("chef-sub")
    try:
        assert "Recipe for bread: mix, then bake." in driver.ok("/recipe bread").text
        assert "/recipe DISH" in driver.ok("/help").text
        assert final_display(driver.ok("hi"))["text/plain"] == "You said: hi"
        info = driver.request("kernel_info")["content"]
        assert info["implementation"] == "silik-agents"
        assert info["language_info"]["file_extension"] == ".txt"
    finally:
        driver.shutdown()


def test_config_file_env_precedence_missing_key_and_logfire(tmp_path):
    """Env beats the config file; a missing key fails the turn, not the kernel."""
    config = tmp_path / "silik_agents" / "chef.toml"
    config.parent.mkdir()
    config.write_text(
        'model = "test"\n[approvals]\nallow = ["run_code"]\n[logfire]\nconsole = true\n'
    )
    driver = AgentDriver(
        "chef", config_dir=str(tmp_path), SILIK_AGENT_MODEL="openai:gpt-5", SILIK_LOGFIRE="1"
    )
    try:
        assert "Model: openai:gpt-5 (from SILIK_AGENT_MODEL)." in driver.ok("/model").text
        res = driver.fails("remember rosemary")
        assert res.content["ename"] == "MissingSetting"
        assert "OPENAI_API_KEY" in res.error and "hint:" in res.error
        assert displays(res) == []
        assert "logfire" not in res.stderr  # tracing started offline, without complaint
        driver.ok("/model test")
        res = driver.ok("run code")  # allowed by the config file: no prompt, no stdin needed
        assert (
            "[tool] run_code(code='a', kernel='a') -> ran a on a"
            in final_display(res)["text/plain"]
        )
        # logfire (console on in the config file) traced the run into the cell's stdout.
        assert "chef run" in res.stdout and "running tool: run_code" in res.stdout
        history = driver.ok("/history").text
        assert "rosemary" not in history  # the failed turn is not in the conversation
    finally:
        driver.shutdown()


def test_malformed_typing_requests_get_one_error_reply_each(chef):
    check_malformed_requests(chef.kc)
    check_cursor_clamped(chef.kc)
    check_unreadable_content(chef.kc)
