"""silik_agents without a kernel: rendering, approvals, config, model choice, errors, targets."""

from __future__ import annotations

import json
import sys

import pytest
from pydantic_ai import models
from pydantic_ai.exceptions import UserError
from pydantic_ai.messages import (
    DeferredToolRequestsEvent,
    DeferredToolResultsEvent,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    OutputToolCallEvent,
    PartDeltaEvent,
    PartEndEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ToolCallPart,
    ToolCallPartDelta,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.test import TestModel
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults, ToolDenied

from silik_agents.approvals import approval_prompt, is_yes, preset_decision, question_prompt
from silik_agents.chat_protocol import history_from_metadata
from silik_agents.commands import collect_commands, command, conversation_turns
from silik_agents.config import AgentSettings, ApprovalSettings, load_settings
from silik_agents.errors import AgentError, explain
from silik_agents.install import kernel_json
from silik_agents.kernel import AgentKernel
from silik_agents.model_choice import build_model, choose_model, describe_model
from silik_agents.render import TurnView, code_span, format_args
from silik_agents.target import TargetError, import_target, kernel_class_for

models.ALLOW_MODEL_REQUESTS = False


# -- render ---------------------------------------------------------------------
def _tool_turn(outcome: str = "success") -> TurnView:
    view = TurnView()
    call = ToolCallPart("run_code", args='{"code": "1+1",', tool_call_id="c1")
    view.apply(PartStartEvent(index=0, part=ThinkingPart("hmm")))
    view.apply(PartEndEvent(index=0, part=ThinkingPart("hmm")))
    view.apply(PartStartEvent(index=1, part=call))
    view.apply(PartDeltaEvent(index=1, delta=ToolCallPartDelta(args_delta=' "kernel": "k1.py"}')))
    full = ToolCallPart("run_code", args='{"code": "1+1", "kernel": "k1.py"}', tool_call_id="c1")
    view.apply(PartEndEvent(index=1, part=full))
    view.apply(FunctionToolCallEvent(full))
    content = "ran it" if outcome == "success" else "The user denied this tool call."
    view.apply(FunctionToolResultEvent(ToolReturnPart("run_code", content, "c1", outcome=outcome)))
    view.apply(PartStartEvent(index=0, part=TextPart("Done")))  # a new response restarts at 0
    view.apply(PartDeltaEvent(index=0, delta=TextPartDelta(content_delta=", all good.")))
    return view


def test_view_renders_thinking_tool_call_and_text_in_order():
    view = _tool_turn()
    view.finish("Done, all good.")
    assert view.plain() == (
        "[thinking: 3 characters; /thinking shows it]\n"
        "[tool] run_code(code='1+1', kernel='k1.py') -> ran it\n"
        "Done, all good."
    )
    md = view.markdown()
    assert md.startswith("<details><summary>💭 Thinking</summary>\n\nhmm\n\n</details>")
    assert "🔧 `run_code(code='1+1', kernel='k1.py')` → `ran it`" in md
    assert md.endswith("Done, all good.")
    assert view.answer == "Done, all good."
    assert view.thinking_text == "hmm"


def test_view_thinking_modes_and_failure_footer():
    view = _tool_turn("denied")
    view.thinking = "hidden"
    assert "hmm" not in view.markdown() and "thinking" not in view.plain()
    view.thinking = "shown"
    assert "> 💭 hmm" in view.markdown() and "[thinking] hmm" in view.plain()
    assert "denied: The user denied this tool call." in view.plain()
    view.status = "interrupted"
    assert view.plain().endswith("[interrupted: this turn was not added to the conversation]")


def test_view_while_a_call_waits_and_after_a_decision():
    view = TurnView()
    call = ToolCallPart("run_code", args={"code": "x"}, tool_call_id="c9")
    view.apply(FunctionToolCallEvent(call))
    view.apply(DeferredToolRequestsEvent(DeferredToolRequests(approvals=[call])))
    assert view.plain() == "[tool] run_code(code='x') waiting for your approval…"
    view.apply(DeferredToolResultsEvent(DeferredToolResults(approvals={"c9": ToolDenied("no")})))
    assert view.plain() == "[tool] run_code(code='x') denied: no"


def test_view_hides_output_tool_calls_and_shows_structured_output():
    view = TurnView()
    part = ToolCallPart("final_result", args={"answer": 42}, tool_call_id="o1")
    view.apply(PartStartEvent(index=0, part=part))
    view.apply(OutputToolCallEvent(part))
    assert view.is_empty
    view.finish({"answer": 42})
    assert json.loads(view.plain()) == {"answer": 42}
    assert view.markdown().startswith("```json\n")
    empty = TurnView()
    assert empty.markdown() == "*…*" and empty.plain() == "…"


def test_replaced_part_index_replaces_the_block():
    view = TurnView()
    view.apply(PartStartEvent(index=0, part=TextPart("draft")))
    view.apply(PartStartEvent(index=0, part=TextPart("final")))
    assert view.plain() == "final"


def test_format_args_and_code_span():
    assert format_args({"a": 1, "b": "x"}) == "a=1, b='x'"
    assert format_args('{"a": 1') == '{"a": 1'  # partial JSON while it streams
    assert format_args({"code": "x" * 500}, limit=20) == "code='xxxxxxxxxxxxx…"
    assert code_span("a`b") == "``a`b``"
    assert code_span("`x`") == "`` `x` ``"


# -- approvals ------------------------------------------------------------------------
def test_approval_prompt_names_the_target_and_shows_arguments():
    prompt = approval_prompt("run_code", {"code": "print(1)", "kernel": "k1.py"})
    assert prompt == "run_code(code='print(1)', kernel='k1.py')\nAllow run_code on k1.py? [y/N] "
    assert approval_prompt("wipe", {}).endswith("Allow wipe? [y/N] ")
    assert is_yes(" Y ") and is_yes("yes") and not is_yes("") and not is_yes("no")
    assert question_prompt("ask", {"question": "Which?"}, None) == "Which? "


def test_preset_decisions_from_config():
    assert preset_decision("x", ApprovalSettings()) is None
    assert preset_decision("x", ApprovalSettings(allow=["x"])) is True
    assert preset_decision("x", ApprovalSettings(policy="allow", deny=["x"])) is False
    assert preset_decision("y", ApprovalSettings(policy="deny")) is False


# -- config and model choice ----------------------------------------------------------
def test_config_file_then_environment(tmp_path, monkeypatch):
    path = tmp_path / "silik_agents" / "cook.toml"
    path.parent.mkdir()
    path.write_text(
        'model = "anthropic:claude-sonnet-4-5"\nbase_url = "http://h/v1"\n'
        "model_settings = {temperature = 0.2}\n[logfire]\nenabled = true\n"
    )
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))  # ~/.jupyter for this test
    loaded = load_settings("cook", {})
    assert loaded.file_found and loaded.error is None
    assert loaded.settings.model == "anthropic:claude-sonnet-4-5"
    assert loaded.settings.model_settings == {"temperature": 0.2}
    assert loaded.settings.logfire.enabled
    choice = choose_model("test", loaded)
    assert choice.spec == "anthropic:claude-sonnet-4-5"
    assert choice.source == f"config file {path}"

    env = {"SILIK_AGENT_MODEL": "openai-chat:llama3.2", "SILIK_LOGFIRE": "0"}
    loaded = load_settings("cook", env)
    assert choose_model("test", loaded).source == "SILIK_AGENT_MODEL"
    assert choose_model("test", loaded).spec == "openai-chat:llama3.2"
    assert not loaded.settings.logfire.enabled
    assert loaded.settings.base_url == "http://h/v1"  # still from the file

    assert choose_model("test", load_settings("other", {})).source == "the agent"


def test_bad_or_missing_config_file_is_reported(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('modle = "x"\n')
    loaded = load_settings("cook", {"SILIK_AGENT_CONFIG": str(bad)})
    assert loaded.error and "modle" in loaded.error and str(bad) in loaded.error
    bad.write_text("model = [")
    assert "not valid" in (load_settings("cook", {"SILIK_AGENT_CONFIG": str(bad)}).error or "")
    missing = load_settings("cook", {"SILIK_AGENT_CONFIG": str(tmp_path / "nope.toml")})
    assert missing.error and "does not exist" in missing.error


def test_build_model_for_an_openai_compatible_server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    model = build_model("openai-chat:llama3.2", AgentSettings(base_url="http://127.0.0.1:9/v1"))
    assert type(model).__name__ == "OpenAIChatModel"
    assert model.model_name == "llama3.2"
    assert str(model.base_url).startswith("http://127.0.0.1:9/v1")
    assert isinstance(build_model("test", AgentSettings()), TestModel)
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        build_model("openai:gpt-5", AgentSettings())
    monkeypatch.setenv("MY_KEY", "sk-test")
    keyed = build_model("openai-chat:gpt-4o", AgentSettings(api_key_env="MY_KEY"))
    assert keyed.model_name == "gpt-4o"
    with pytest.raises(UserError, match="NOT_SET_KEY"):
        build_model("openai-chat:gpt-4o", AgentSettings(api_key_env="NOT_SET_KEY"))
    assert describe_model(TestModel()) == "test:test"
    assert describe_model(None) == "(none)"


# -- errors ------------------------------------------------------------------------
def _explained(spec: str) -> AgentError:
    try:
        build_model(spec, AgentSettings())
    except Exception as exc:
        return explain(exc, config_file="/c/cook.toml", base_url=None, model=spec)
    raise AssertionError(f"{spec} built without error")


def test_errors_say_what_to_install_or_set(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pytest.importorskip("pydantic_ai")
    try:
        import anthropic  # noqa: F401
    except ImportError:
        err = _explained("anthropic:claude-sonnet-4-5")
        assert err.ename == "MissingPackage"
        assert f'{sys.executable} -m pip install "pydantic-ai-slim[anthropic]"' in err.hint
    err = _explained("openai:gpt-5")
    assert err.ename == "MissingSetting"
    assert "set OPENAI_API_KEY in the environment" in err.hint and "/c/cook.toml" in err.hint
    err = _explained("nosuch:model")
    assert err.ename == "UnknownModel" and "openai-chat:" in err.hint
    try:
        raise KeyError("boom")
    except KeyError as exc:
        bug = explain(exc, config_file="", base_url=None, model="m")
    assert bug.ename == "KeyError"
    assert any("raise KeyError" in line for line in bug.traceback_lines())


# -- chat frontend metadata --------------------------------------------------------
def test_history_from_metadata_both_formats():
    assert history_from_metadata(None) is None
    assert history_from_metadata({"cellId": "x"}) is None
    simple = history_from_metadata(
        {
            "silik_agents": {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "hi", "id": "u1"},
                    {"role": "assistant", "content": "hello", "id": "a1"},
                ]
            }
        }
    )
    assert simple is not None
    assert isinstance(simple[1], ModelRequest) and simple[1].metadata == {"silik_id": "u1"}
    assert isinstance(simple[2], ModelResponse) and simple[2].parts[0].content == "hello"
    native = [
        ModelRequest(parts=[UserPromptPart("q")]),
        ModelResponse(parts=[TextPart("a")], metadata={"silik_id": "r1"}),
    ]
    dumped = ModelMessagesTypeAdapter.dump_python(native, mode="json")
    back = history_from_metadata({"silik_agents": {"messages": dumped}})
    assert back is not None and back[1].metadata == {"silik_id": "r1"}
    for bad in ({"messages": "x"}, {"messages": [{"role": "robot", "content": "x"}]}):
        with pytest.raises(AgentError) as info:
            history_from_metadata({"silik_agents": bad})
        assert info.value.ename == "BadMetadata"


def test_conversation_turns_summarise_tool_calls():
    messages = [
        ModelRequest(parts=[UserPromptPart("add")]),
        ModelResponse(parts=[ToolCallPart("add", {"a": 1}, "t")]),
        ModelRequest(parts=[ToolReturnPart("add", 1, "t")]),
        ModelResponse(parts=[TextPart("1")]),
    ]
    assert conversation_turns(messages) == [
        [("You", "add"), ("Tool call", "add(a=1)"), ("Agent", "1")]
    ]


# -- targets, commands, kernelspecs -----------------------------------------------------
def test_targets_resolve_to_kernel_classes():
    from agents_fixtures import chef

    cls = kernel_class_for("agents_fixtures.chef:agent", "chef")
    assert issubclass(cls, AgentKernel) and cls.agent is chef.agent and cls.kernel_name == "chef"
    factory = kernel_class_for("agents_fixtures.chef:make_agent", None)
    assert factory.agent is None and factory.load_error is None
    sub = kernel_class_for("agents_fixtures.chef:ChefKernel", "cook")
    assert issubclass(sub, chef.ChefKernel) and "/recipe" in collect_commands(sub)
    broken = kernel_class_for("agents_fixtures.nosuch:agent", "x")
    assert "no module named 'agents_fixtures.nosuch'" in (broken.load_error or "")
    with pytest.raises(TargetError, match="PACKAGE.MODULE:ATTR"):
        import_target("no_colon")
    with pytest.raises(TargetError, match="has no attribute"):
        import_target("agents_fixtures.chef:nothing_here")
    not_agent = kernel_class_for("agents_fixtures.chef:re", None)
    assert "must be a pydantic-ai Agent" in (not_agent.load_error or "")


def test_subclass_commands_override_by_method():
    class Custom(AgentKernel):
        @command("/ping", help="Answer pong.")
        async def cmd_ping(self, arg: str) -> str:
            return "pong"

        async def cmd_reset(self, arg: str) -> str:  # overrides /reset, keeps its declaration
            return "never"

    found = collect_commands(Custom)
    assert found["/ping"].method == "cmd_ping"
    assert found["/reset"].method == "cmd_reset" and "new conversation" in found["/reset"].help
    with pytest.raises(ValueError):
        command("ping", help="")


def test_kernel_json_and_spec_command(capsys):
    spec = kernel_json("cook.agent:agent", "cook", python="python")
    assert spec["argv"] == [
        "python",
        "-m",
        "silik_agents",
        "run",
        "cook.agent:agent",
        "--name",
        "cook",
        "-f",
        "{connection_file}",
    ]
    from silik_agents.__main__ import main

    assert main(["spec", "cook.agent:agent", "--name", "cook", "--display-name", "Cook"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["argv"][0] == "python" and printed["display_name"] == "Cook"
    with pytest.raises(SystemExit) as info:
        main(["spec", "cook.agent:agent", "--name", "bad name"])
    assert info.value.code == 2


def test_install_refuses_a_target_that_does_not_exist(tmp_path, capsys):
    from silik_agents.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(["install", "agents_fixtures.chef:nope", "--name", "x", "--prefix", str(tmp_path)])
    assert info.value.code == 2
    assert "has no attribute 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "share").exists()
