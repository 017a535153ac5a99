"""AgentKernel: a pydantic-ai agent as a Jupyter kernel.

Each cell is one user message; the conversation continues across cells. The
answer streams into one display that is updated in place. Cells starting with
``/`` are commands for the kernel (commands.py). Make a kernel from an agent by
subclassing (``agent = my_agent`` or ``make_agent()``), or with no code at all:
``python -m silik_agents install PACKAGE.MODULE:ATTR --name NAME``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from pydantic_ai.agent import AbstractAgent
from pydantic_ai.exceptions import ToolFailed
from pydantic_ai.messages import FunctionToolResultEvent, PartDeltaEvent
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import (
    DeferredToolRequests,
    DeferredToolResults,
    RunContext,
    ToolApproved,
    ToolDefinition,
    ToolDenied,
)
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset

from silik_agents import __version__
from silik_agents.approvals import (
    NO_STDIN_REASON,
    USER_DENIED,
    approval_prompt,
    is_yes,
    preset_decision,
    question_prompt,
)
from silik_agents.chat import ChatSession
from silik_agents.chat_protocol import history_from_metadata, reply_metadata
from silik_agents.commands import ChatCommand, ChatCommands, CommandOutput, collect_commands
from silik_agents.config import LoadedSettings, load_settings
from silik_agents.errors import AgentError, explain
from silik_agents.model_choice import ModelChoice, build_model, choose_model
from silik_agents.render import TurnView
from silik_agents.toolset import LocalBackend, SilikBackend, output_sink, silik_toolset
from silik_kernel.bridge import BridgeClient
from silik_kernel.kernel.base import MainLoopKernel
from silik_kernel.protocol.messages import strip_ansi

log = logging.getLogger("silik.agents")

#: Seconds between two in-place updates of a streaming answer.
UPDATE_INTERVAL = 0.05


class AgentKernel(ChatCommands, MainLoopKernel):
    """A Jupyter kernel that chats with one pydantic-ai agent.

    Subclass it and set ``agent`` (or override :meth:`make_agent`); add slash
    commands with :func:`silik_agents.command`; change how answers look by
    overriding :meth:`render`; give every run extra tools with :meth:`toolsets`.
    """

    implementation = "silik-agents"
    implementation_version = __version__
    language_info = {
        "name": "text",
        "mimetype": "text/plain",
        "file_extension": ".txt",
        "pygments_lexer": "text",
        "codemirror_mode": "markdown",
        "version": __version__,
    }
    help_links: list[dict[str, str]] = []

    #: The agent, for subclasses that have one ready (or override make_agent()).
    agent: AbstractAgent[Any, Any] | None = None
    #: Name used for the config file (``NAME.toml``); `python -m silik_agents run` sets it.
    kernel_name: str | None = None
    #: ``PACKAGE.MODULE:ATTR`` this kernel was started from, if any.
    agent_target: str | None = None
    #: Why the target could not be loaded; every chat cell reports it.
    load_error: str | None = None
    #: Give the agent the silik toolset (start kernels, run code, read outputs).
    use_silik_tools: bool = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands: dict[str, ChatCommand] = collect_commands(type(self))
        self.chat = ChatSession()
        self.session_model: ModelChoice | None = None  # set by /model NAME
        self.last_thinking = ""
        self._built_models: dict[str, Model] = {}
        self._agent: AbstractAgent[Any, Any] | None = None
        self._agent_error: AgentError | None = None
        self._startup_notes: list[str] = []
        self._cell_task: asyncio.Task[Any] | None = None
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self._shutting_down = False
        self._turn: _Turn | None = None
        self._reply_metadata: dict[str, Any] | None = None
        self._silent = False
        self._cell_parent: dict[str, Any] = {}  # the execute_request being answered
        self._cell_ident: Any = b""
        self._inputs: list[tuple[int, str]] = []  # (execution_count, cell) for history
        self._outputs: dict[int, str] = {}
        self._silik_toolset: AbstractToolset[Any] | None = None
        self._silik_backend: SilikBackend | None = None
        self._output_header: str | None = None
        self._load_agent()
        name = self.name_for_config()
        self.loaded: LoadedSettings = load_settings(name)
        if self.loaded.error:
            self._startup_notes.append(self.loaded.error)
        self._setup_logfire(name)

    # -- extension points -------------------------------------------------------
    def make_agent(self) -> AbstractAgent[Any, Any]:
        """The agent this kernel talks to. Called once, when the kernel starts."""
        if self.agent is not None:
            return self.agent
        if self.load_error:
            raise AgentError(
                self.load_error,
                "fix the module or the kernelspec's PACKAGE.MODULE:ATTR, then restart the kernel",
                ename="AgentLoadError",
            )
        raise AgentError(
            f"{type(self).__name__} has no agent",
            "set `agent = my_agent` on the class or override make_agent()",
        )

    def toolsets(self) -> list[AbstractToolset[Any]]:
        """Extra toolsets every run of this kernel gets, on top of the agent's own.

        By default the silik toolset (kernels in the silik tree; see
        :meth:`silik_tool_filter` and ``use_silik_tools``). Override it, calling
        super(), to add tools to every agent kernel of a kind.
        """
        settings = self.loaded.settings.silik
        if not (self.use_silik_tools and settings.enabled):
            return []
        if self._silik_toolset is None:
            # The agent's own tools win over silik tools of the same name.
            own = {
                name
                for ts in (self._agent.toolsets if self._agent is not None else [])
                if isinstance(ts, FunctionToolset)
                for name in ts.tools
            }
            self._silik_toolset = silik_toolset(
                self.silik_backend(),
                settings,
                include=lambda name: name not in own and self.silik_tool_filter(name),
            )
        return [self._silik_toolset]

    def silik_tool_filter(self, name: str) -> bool:
        """Which silik tools this kernel's agent gets (all by default)."""
        return True

    def silik_backend(self) -> SilikBackend:
        """The parent silik's tree through its bridge, or a tree of the agent's own."""
        if self._silik_backend is None:
            bridge = BridgeClient.from_env()
            self._silik_backend = bridge or LocalBackend(caller=self.name_for_config())
        return self._silik_backend

    def _show_kernel_output(self, path: str, event: dict[str, Any]) -> None:
        """Output of code the agent runs, shown live in the chat cell."""
        msg_type, content = event.get("msg_type"), event.get("content") or {}
        if path != self._output_header:
            self._output_header = path
            self._publish("stream", {"name": "stdout", "text": f"── {path} ──\n"})
        if msg_type == "stream":
            self._publish(
                "stream", {"name": content.get("name", "stdout"), "text": content.get("text", "")}
            )
        elif msg_type in ("display_data", "execute_result"):
            self._publish(
                "display_data",
                {
                    "data": content.get("data", {}),
                    "metadata": content.get("metadata", {}),
                    "transient": {},
                },
            )
        elif msg_type == "error":
            text = strip_ansi("\n".join(content.get("traceback") or []))
            self._publish("stream", {"name": "stderr", "text": text + "\n"})

    def make_deps(self) -> Any:
        """The ``deps`` passed to every run, for agents declared with a ``deps_type``."""
        return None

    def render(self, view: TurnView) -> dict[str, str]:
        """The mime bundle shown for a turn; called on every update while it streams."""
        return view.bundle()

    def name_for_config(self) -> str:
        if self.kernel_name:
            return self.kernel_name
        agent_name = getattr(self._agent, "name", None)
        return agent_name or type(self).__name__.lower()

    # -- state ----------------------------------------------------------------
    @property
    def banner(self) -> str:  # type: ignore[override]
        name = self.name_for_config()
        return (
            f"{name}: a pydantic-ai agent as a Jupyter kernel. Each cell is a message; "
            f"/help lists the commands. Model: {self.model_choice.label}."
        )

    @property
    def configured_model(self) -> ModelChoice:
        """The model from the agent, config file and environment (without `/model`)."""
        agent_model = getattr(self._agent, "model", None) if self._agent else None
        return choose_model(agent_model, self.loaded)

    @property
    def model_choice(self) -> ModelChoice:
        return self.session_model or self.configured_model

    def explain(self, exc: BaseException, *, model: str | None = None) -> AgentError:
        return explain(
            exc,
            config_file=str(self.loaded.path),
            base_url=self.loaded.settings.base_url,
            model=model or self.model_choice.label,
        )

    def _load_agent(self) -> None:
        try:
            agent = self.make_agent()
            if not isinstance(agent, AbstractAgent):
                raise AgentError(
                    f"make_agent() returned {type(agent).__name__}, not a pydantic-ai Agent"
                )
            self._agent = agent
        except AgentError as exc:
            self._agent_error = exc
        except Exception as exc:
            what = self.agent_target or type(self).__name__
            self._agent_error = AgentError(
                f"could not create the agent {what}: {type(exc).__name__}: {exc}",
                "fix the agent's module, then restart the kernel",
                ename="AgentLoadError",
                details=[line.rstrip("\n") for line in traceback.format_exception(exc)],
            )

    def _setup_logfire(self, name: str) -> None:
        settings = self.loaded.settings.logfire
        if not settings.enabled or self._agent is None:
            return
        from silik_agents.observability import instrument

        try:
            instrument(self._agent, settings, service_name=name)
        except Exception as exc:
            self._startup_notes.append(f"logfire tracing is off: {type(exc).__name__}: {exc}")

    def set_parent(self, ident: Any, parent: Any, channel: str = "shell") -> None:
        """Also tell sys.stdout/stderr, so what tools print lands in the right cell."""
        super().set_parent(ident, parent, channel)
        if channel == "shell":
            for stream in (sys.stdout, sys.stderr):
                if hasattr(stream, "set_parent"):
                    stream.set_parent(parent)

    # -- publishing -------------------------------------------------------------
    def _publish(self, msg_type: str, content: dict[str, Any]) -> None:
        if self._silent:
            return
        self.session.send(
            self.iopub_socket,
            msg_type,
            content,
            parent=self._cell_parent,
            ident=self._topic(msg_type),
        )

    def _publish_error(self, err: AgentError) -> dict[str, Any]:
        content = {"ename": err.ename, "evalue": err.message, "traceback": err.traceback_lines()}
        self._publish("error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    def _ok(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }

    # -- execution ----------------------------------------------------------------
    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict[str, Any] | None = None,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        self._allow_stdin = allow_stdin
        self._silent = silent
        self._cell_parent = self.get_parent("shell")
        self._cell_ident = self._get_shell_context_var(self._shell_parent_ident)
        self._reply_metadata = None
        if store_history and not silent:
            self._inputs.append((self.execution_count, code))
        if self._startup_notes:
            notes, self._startup_notes = self._startup_notes, []
            text = "".join(f"warning: {n}\n" for n in notes)
            self._publish("stream", {"name": "stderr", "text": text})
        text = code.strip()
        if not text:
            return self._ok()
        if text.startswith("/") and not text.startswith("//"):
            return await self._run_cell(self._run_command(text))
        prompt = text[1:] if text.startswith("//") else text
        return await self._run_cell(self._chat_turn(prompt, cell_meta))

    async def _run_cell(self, coro: Any) -> dict[str, Any]:
        """Run a cell as a task so that an interrupt can cancel it."""
        self._cell_task = asyncio.ensure_future(coro)
        try:
            return await self._cell_task
        except asyncio.CancelledError:
            if self._shutting_down:
                raise
            return self._publish_error(
                AgentError(
                    "interrupted; this turn was not added to the conversation",
                    ename="KeyboardInterrupt",
                )
            )
        except AgentError as err:
            return self._publish_error(err)
        except Exception as exc:
            log.error("internal error", exc_info=True)
            return self._publish_error(
                AgentError(
                    f"internal error: {type(exc).__name__}: {exc}",
                    "this is a silik_agents bug; the kernel log has the full traceback",
                    ename="InternalError",
                )
            )
        finally:
            self._cell_task = None

    async def _run_command(self, text: str) -> dict[str, Any]:
        name, *rest = text.split(None, 1)
        arg = rest[0] if rest else ""
        cmd = self.commands.get(name)
        if cmd is None:
            raise self.unknown_command(name)
        result = await getattr(self, cmd.method)(arg.strip())
        if isinstance(result, str):
            result = CommandOutput(result)
        if isinstance(result, CommandOutput) and result.text:
            data = {"text/plain": result.text}
            if result.markdown:
                data["text/markdown"] = result.markdown
            self._publish(
                "execute_result",
                {"execution_count": self.execution_count, "data": data, "metadata": {}},
            )
        return self._ok()

    async def _chat_turn(self, prompt: str, cell_meta: dict[str, Any] | None) -> dict[str, Any]:
        if self._agent is None:
            raise self._agent_error or AgentError("no agent")
        if self.loaded.error:
            raise AgentError(self.loaded.error, "fix the file, then restart the kernel")
        history = history_from_metadata(cell_meta)
        model = self._model_for_turn()
        settings = self.loaded.settings
        view = TurnView(thinking=settings.thinking)
        display = LiveDisplay(self._publish, lambda: self.render(view), live=settings.live)
        self._turn = _Turn(view, display)

        def on_event(event: Any) -> None:
            view.apply(event)
            display.update(force=not isinstance(event, PartDeltaEvent))
            if isinstance(event, FunctionToolResultEvent):
                _flush_std_streams()  # what the tool printed shows up now, not at the end

        self._output_header = None
        sink_token = output_sink.set(self._show_kernel_output)
        try:
            result = await self.chat.run_turn(
                self._agent,
                prompt,
                on_event=on_event,
                resolve_deferred=self._resolve_deferred,
                history=history,
                model=model,
                model_settings=settings.model_settings or None,
                instructions=settings.instructions,
                toolsets=self.toolsets() or None,
                deps=self.make_deps(),
            )
        except asyncio.CancelledError:
            view.status = "interrupted"
            display.close(show=display.shown or not view.is_empty)
            raise
        except Exception as exc:
            view.status = "failed"
            display.close(show=display.shown or not view.is_empty)
            raise self.explain(exc) from None
        finally:
            self._turn = None
            output_sink.reset(sink_token)
        view.finish(result.output)
        display.close(show=True)
        self.last_thinking = view.thinking_text
        self._outputs[self.execution_count] = view.answer
        self._reply_metadata = reply_metadata(result)
        return self._ok()

    def _model_for_turn(self) -> Model | None:
        choice = self.model_choice
        if choice.spec is None:
            raise AgentError(
                "this agent has no model",
                f'set SILIK_AGENT_MODEL, put model = "..." in {self.loaded.path}, '
                "or type /model NAME (e.g. /model openai-chat:gpt-4o)",
                ename="NoModel",
            )
        if isinstance(choice.spec, Model):
            return None if choice.source == "the agent" else choice.spec
        return self.model_for(choice.spec)

    def model_for(self, spec: str) -> Model:
        """The Model for a model string (built once); failures explain what to install or set."""
        model = self._built_models.get(spec)
        if model is None:
            try:
                model = build_model(spec, self.loaded.settings)
            except Exception as exc:
                raise self.explain(exc, model=spec) from None
            self._built_models[spec] = model
        return model

    def finish_metadata(
        self, parent: dict[str, Any], metadata: dict[str, Any], reply_content: dict[str, Any]
    ) -> dict[str, Any]:
        if self._reply_metadata:
            metadata = {**metadata, **self._reply_metadata}
        return metadata

    # -- approvals and questions -------------------------------------------------
    async def _resolve_deferred(
        self, ctx: RunContext[Any], requests: DeferredToolRequests
    ) -> DeferredToolResults:
        approvals: dict[str, bool | ToolApproved | ToolDenied] = {}
        for call in requests.approvals:
            approvals[call.tool_call_id] = await self._decide(call)
        calls: dict[str, Any] = {}
        for call in requests.calls:
            if requests.kind(call.tool_call_id) == "question":
                calls[call.tool_call_id] = await self._answer_question(
                    call, requests.metadata.get(call.tool_call_id)
                )
            else:
                calls[call.tool_call_id] = ToolFailed(
                    f"{call.tool_name} is an external tool, and this kernel cannot run it."
                )
        return requests.build_results(approvals=approvals, calls=calls)

    async def _decide(self, call: Any) -> ToolApproved | ToolDenied:
        args = _args_of(call)
        preset = preset_decision(call.tool_name, self.loaded.settings.approvals)
        if preset is True:
            return ToolApproved()
        if preset is False:
            return ToolDenied(f"The configuration of this kernel denies {call.tool_name}.")
        if not self._allow_stdin:
            return ToolDenied(f"The call was {NO_STDIN_REASON}.")
        turn = self._turn
        if turn is not None:
            block = turn.view.tool(call.tool_call_id)
            if block is not None:
                block.status = "asking"
                block.args = args
            turn.display.update(force=True)
        answer = await self._ask_frontend(approval_prompt(call.tool_name, args))
        return ToolApproved() if is_yes(answer) else ToolDenied(USER_DENIED)

    async def _answer_question(self, call: Any, metadata: Any) -> Any:
        if not self._allow_stdin:
            return ToolFailed("Nobody can answer: this frontend does not accept input (no stdin).")
        if self._turn is not None:
            self._turn.display.update(force=True)
        return await self._ask_frontend(question_prompt(call.tool_name, _args_of(call), metadata))

    async def _ask_frontend(self, prompt: str, password: bool = False) -> str:
        """An input_request to the frontend of the cell being answered."""
        return await self.ask_frontend(prompt, password, self._cell_parent, self._cell_ident)

    # -- tools listing ---------------------------------------------------------------
    async def tool_definitions(self) -> list[ToolDefinition]:
        """The tools the model would be offered, found by a run that stops before any request."""
        if self._agent is None:
            raise self._agent_error or AgentError("no agent")
        seen: list[ToolDefinition] = []

        def capture(messages: Any, info: AgentInfo) -> Any:
            seen.extend(info.function_tools)
            raise _ToolsSeen

        try:
            await self._agent.run(
                "",
                model=FunctionModel(capture),
                toolsets=self.toolsets() or None,
                deps=self.make_deps(),
            )
        except _ToolsSeen:
            pass
        except Exception as exc:
            raise self.explain(exc) from None
        return seen

    # -- completion, inspection, history --------------------------------------------
    async def do_complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        line = code[:cursor_pos].rsplit("\n", 1)[-1]
        matches: list[str] = []
        replaced = 0
        if line.startswith("/") and not line.startswith("//") and "\n" not in code[:cursor_pos]:
            matches, replaced = self.complete_command(line)
        return {
            "status": "ok",
            "matches": matches,
            "cursor_start": cursor_pos - replaced,
            "cursor_end": cursor_pos,
            "metadata": {},
        }

    async def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        word = code.strip().split(None, 1)[0] if code.strip() else ""
        cmd = self.commands.get(word)
        if cmd is None:
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        return {
            "status": "ok",
            "found": True,
            "data": {"text/plain": f"{cmd.usage}\n    {cmd.help}"},
            "metadata": {},
        }

    async def do_is_complete(self, code: str) -> dict[str, Any]:
        if code.rstrip("\n").endswith("\\"):
            return {"status": "incomplete", "indent": ""}
        text = code.strip()
        if text.startswith("/") and not text.startswith("//"):
            if text.split(None, 1)[0] not in self.commands:
                return {"status": "invalid"}
        return {"status": "complete"}

    async def do_history(
        self,
        hist_access_type: str,
        output: bool,
        raw: bool,
        session: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        n: int | None = None,
        pattern: str | None = None,
        unique: bool = False,
    ) -> dict[str, Any]:
        items = [(0, count, cell) for count, cell in self._inputs]
        if hist_access_type == "tail":
            items = items[-(n or 10) :]
        elif hist_access_type == "range":
            first = start or 0
            items = [h for h in items if h[1] >= first and (stop is None or h[1] < stop)]
        elif hist_access_type == "search":
            if pattern:
                items = [h for h in items if fnmatch.fnmatch(h[2], pattern)]
            if unique:
                seen: set[str] = set()
                deduped = []
                for h in reversed(items):
                    if h[2] not in seen:
                        seen.add(h[2])
                        deduped.append(h)
                items = list(reversed(deduped))
            if n:
                items = items[-n:]
        history: list[Any] = list(items)
        if output:
            history = [(s, c, (cell, self._outputs.get(c))) for s, c, cell in items]
        return {"status": "ok", "history": history}

    # -- interrupt and shutdown ----------------------------------------------------
    async def interrupt_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """Runs on the control thread: cancel the running cell on the main loop."""
        if self._main_loop is not None:
            self._main_loop.call_soon_threadsafe(self._cancel_cell)
        self.session.send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    def _cancel_cell(self) -> None:
        task = self._cell_task
        if task is not None and not task.done():
            task.cancel()

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        self._shutting_down = True
        if self._main_loop is not None and self._main_loop.is_running():
            self._main_loop.call_soon_threadsafe(self._cancel_cell)
            backend = self._silik_backend
            if backend is not None:
                # The agent's own kernels (standalone) stop with it; a bridge just closes.
                try:
                    await self.on_main_loop(backend.close(), timeout=15)
                except Exception:
                    log.exception("closing the silik backend at shutdown")
        return {"status": "ok", "restart": restart}


class _ToolsSeen(Exception):
    """Stops the dry run that lists tools, before any model request."""


class _Turn:
    def __init__(self, view: TurnView, display: LiveDisplay) -> None:
        self.view = view
        self.display = display


class LiveDisplay:
    """One display updated in place, at most every UPDATE_INTERVAL seconds.

    Nothing is shown until there is something to show; ``live=False`` shows the
    turn once, when it ends (for frontends that do not render updates).
    """

    def __init__(
        self,
        publish: Callable[[str, dict[str, Any]], None],
        render: Callable[[], dict[str, str]],
        *,
        live: bool = True,
        interval: float = UPDATE_INTERVAL,
    ) -> None:
        self._publish = publish
        self._render = render
        self._live = live
        self._interval = interval
        self.display_id = uuid.uuid4().hex
        self.shown = False
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def update(self, *, force: bool = False) -> None:
        if not self._live:
            return
        if self._timer is not None and not force:
            return  # a flush is already scheduled
        wait = self._interval - (time.monotonic() - self._last)
        if force or wait <= 0 or not self.shown:
            self._flush()
            return
        self._timer = asyncio.get_running_loop().call_later(wait, self._flush)

    def close(self, *, show: bool) -> None:
        """The final update (or first and only one, when not live)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if show:
            self._flush()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last = time.monotonic()
        content = {
            "data": self._render(),
            "metadata": {},
            "transient": {"display_id": self.display_id},
        }
        self._publish("update_display_data" if self.shown else "display_data", content)
        self.shown = True


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _args_of(call: Any) -> Any:
    try:
        return call.args_as_dict()
    except Exception:
        return call.args
