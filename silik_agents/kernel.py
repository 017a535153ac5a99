"""AgentKernel: a pydantic-ai agent as a Jupyter kernel.

Each cell is one user message; the conversation continues across cells. The
answer streams into one display that is updated in place. Cells starting with
``/`` are commands for the kernel (commands.py). Make a kernel from an agent by
subclassing (``agent = my_agent`` or ``make_agent()``), or with no code at all:
``python -m silik_agents install PACKAGE.MODULE:ATTR --name NAME``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.agent import AbstractAgent
from pydantic_ai.models import Model
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import AbstractToolset

from silik_agents import __version__
from silik_agents.budget import UsageLedger, budget_of_request
from silik_agents.chat import ChatSession, ChatThreads, offered_tools
from silik_agents.chat_protocol import (
    asked_turn,
    failed_reply_metadata,
    history_from_metadata,
    reply_metadata,
)
from silik_agents.commands import (
    ChatCommand,
    ChatCommands,
    CommandOutput,
    collect_commands,
    completion_reply,
    inspection_reply,
    is_command,
    is_complete_reply,
)
from silik_agents.config import LoadedSettings, load_settings
from silik_agents.errors import AgentError, create_agent, explain, internal_error
from silik_agents.identity import IMPLEMENTATION, LANGUAGE_INFO
from silik_agents.live import run_live_turn
from silik_agents.model_choice import ModelChoice, build_model, choose_model, turn_model
from silik_agents.observability import start_tracing
from silik_agents.render import TurnView
from silik_agents.toolset import LocalBackend, SilikBackend, function_tool_names, silik_toolset
from silik_kernel.bridge import BridgeClient
from silik_kernel.kernel.base import (
    CellHistory,
    MainLoopKernel,
    error_content,
    error_reply,
    ok_reply,
)

log = logging.getLogger("silik.agents")


@dataclass
class Cell:
    """The execute_request being answered."""

    parent: dict[str, Any] = field(default_factory=dict)
    ident: Any = b""
    silent: bool = False
    #: whether its frontend answers input requests (approval prompts)
    allow_stdin: bool = False
    #: what the execute_reply's metadata gets (chat frontends read it)
    reply_metadata: dict[str, Any] | None = None


class AgentKernel(ChatCommands, MainLoopKernel):
    """A Jupyter kernel that chats with one pydantic-ai agent.

    Subclass it and set ``agent`` (or override :meth:`make_agent`); add slash
    commands with :func:`silik_agents.command`; change how answers look by
    overriding :meth:`render`; give every run extra tools with :meth:`toolsets`.

    Its methods are those hooks and Jupyter's handlers; the work is done by
    live.py (a turn shown in its cell), approvals.py, commands.py and chat.py.
    """

    implementation = IMPLEMENTATION
    implementation_version = __version__
    language_info = LANGUAGE_INFO
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
        # A BootKernel that has become this class (boot.py) is set up already.
        if not self.__dict__.get("_booted"):
            super().__init__(**kwargs)
        self.commands: dict[str, ChatCommand] = collect_commands(type(self))
        self.chat = ChatSession()  # its own conversation: the one people have with it
        self.threads = ChatThreads()  # the ones agents asking it have (ask_agent)
        self.usage_ledger = UsageLedger(self._publish)  # every turn's usage, every thread
        self.session_model: ModelChoice | None = None  # set by /model NAME
        self.last_thinking = ""
        self._built_models: dict[str, Model] = {}
        self._agent: AbstractAgent[Any, Any] | None = None
        self._agent_error: AgentError | None = None
        self._cell = Cell()
        self.cell_history = CellHistory()  # with each chat cell's answer as its output
        self._silik_toolset: AbstractToolset[Any] | None = None
        self._silik_backend: SilikBackend | None = None
        try:
            self._agent = create_agent(self.make_agent, self.agent_target or type(self).__name__)
        except AgentError as exc:
            self._agent_error = exc
        name = self.name_for_config()
        self.loaded: LoadedSettings = load_settings(name)
        tracing = start_tracing(self._agent, self.loaded.settings.logfire, service_name=name)
        #: what went wrong while the kernel started, shown once, in the first cell
        self._startup_notes = [note for note in (self.loaded.error, tracing) if note]

    # -- extension points -------------------------------------------------------
    def make_agent(self) -> AbstractAgent[Any, Any]:
        """The agent this kernel talks to. Called once, when the kernel starts."""
        if self.agent is not None:
            return self.agent
        if self.load_error:
            raise AgentError(
                self.load_error,
                "fix the module or the kernelspec's PACKAGE.MODULE:ATTR; a package that is not "
                "installed needs `pip install -e .` in its project folder (or `python -m "
                "silik_agents install ...` run again in that folder); then restart the kernel",
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
            own = function_tool_names(self._agent)  # they win over silik tools of the same name
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
            self._silik_backend = bridge or LocalBackend(
                caller=self.name_for_config(), policy=self.loaded.settings.silik
            )
        return self._silik_backend

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
        if self._agent is None:  # no model to name: it would not be used
            return f"{name}: could not load its agent; a cell shows why. /help lists the commands."
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

    def set_parent(self, ident: Any, parent: Any, channel: str = "shell") -> None:
        """Also tell sys.stdout/stderr, so what tools print lands in the right cell."""
        super().set_parent(ident, parent, channel)
        if channel == "shell":
            for stream in (sys.stdout, sys.stderr):
                if hasattr(stream, "set_parent"):
                    stream.set_parent(parent)

    # -- publishing -------------------------------------------------------------
    def _publish(self, msg_type: str, content: dict[str, Any]) -> None:
        """Output of the cell being answered (none for a silent one)."""
        if self._cell.silent:
            return
        self.session.send(
            self.iopub_socket,
            msg_type,
            content,
            parent=self._cell.parent,
            ident=self._topic(msg_type),
        )

    def _publish_error(self, err: AgentError) -> dict[str, Any]:
        content = error_content(err.ename, err.message, err.traceback_lines())
        self._publish("error", content)
        return error_reply(self.execution_count, content)

    def _publish_startup_notes(self) -> None:
        if self._startup_notes:
            notes, self._startup_notes = self._startup_notes, []
            text = "".join(f"warning: {n}\n" for n in notes)
            self._publish("stream", {"name": "stderr", "text": text})

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
        ident = self._get_shell_context_var(self._shell_parent_ident)
        self._cell = Cell(self.get_parent("shell"), ident, silent=silent, allow_stdin=allow_stdin)
        if store_history and not silent:
            self.cell_history.add(self.execution_count, code)
        self._publish_startup_notes()
        text = code.strip()
        if not text:
            return ok_reply(self.execution_count)
        if is_command(text):
            return await self._run_cell(self._run_command(text))
        prompt = text[1:] if text.startswith("//") else text
        return await self._run_cell(self._chat_turn(prompt, cell_meta))

    async def _run_cell(self, cell: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
        """Run a cell so that an interrupt cancels it; a failure is an error cell."""
        try:
            return await self.run_cancellable(cell, self._interrupted)
        except AgentError as err:
            return self._publish_error(err)
        except Exception as exc:
            log.error("internal error", exc_info=True)
            return self._publish_error(internal_error(exc))

    def _interrupted(self) -> dict[str, Any]:
        return self._publish_error(
            AgentError(
                "interrupted; this turn was not added to the conversation",
                ename="KeyboardInterrupt",
            )
        )

    async def _run_command(self, text: str) -> dict[str, Any]:
        result = await self.run_command(text)
        if isinstance(result, CommandOutput) and result.text:
            self._publish(
                "execute_result",
                {"execution_count": self.execution_count, "data": result.bundle(), "metadata": {}},
            )
        return ok_reply(self.execution_count)

    async def _chat_turn(self, prompt: str, cell_meta: dict[str, Any] | None) -> dict[str, Any]:
        agent = self._ready_agent()
        if self.loaded.error:
            raise AgentError(self.loaded.error, "fix the file, then restart the kernel")
        history = history_from_metadata(cell_meta)
        asked = asked_turn(cell_meta)
        budget = budget_of_request(self.loaded.settings.limits, str(self.loaded.path), cell_meta)

        async def turn() -> Any:
            return await run_live_turn(
                self.threads.for_turn(asked.thread, asked.fresh, own=self.chat),
                agent,
                prompt,
                settings=self.loaded.settings,
                publish=self._publish,
                render=self.render,
                ask=self._ask_frontend if self._cell.allow_stdin else None,
                asker=asked.path,
                history=history,
                model=turn_model(self.model_choice, self.model_for, self.loaded.path),
                toolsets=self.toolsets() or None,
                deps=self.make_deps(),
                **budget.run_options(),
            )

        try:
            result, view = await self.usage_ledger.run(budget, turn, self.model_choice.label)
        except Exception as exc:
            raise self.explain(exc) from None
        finally:
            self._cell.reply_metadata = failed_reply_metadata(self.usage_ledger.last)
        self.last_thinking = view.thinking_text
        self.cell_history.add_output(self.execution_count, view.answer)
        self._cell.reply_metadata = reply_metadata(result, self.usage_ledger.last)
        return ok_reply(self.execution_count)

    async def _ask_frontend(self, prompt: str) -> str:
        """An input_request to the frontend of the cell being answered."""
        return await self.ask_frontend(prompt, False, self._cell.parent, self._cell.ident)

    def _ready_agent(self) -> AbstractAgent[Any, Any]:
        if self._agent is None:
            raise self._agent_error or AgentError("no agent")
        return self._agent

    def model_for(self, spec: str) -> Model:
        """The Model for a model string (built once); failures explain what to install or set."""
        if spec not in self._built_models:
            try:
                self._built_models[spec] = build_model(spec, self.loaded.settings)
            except Exception as exc:
                raise self.explain(exc, model=spec) from None
        return self._built_models[spec]

    def finish_metadata(
        self, parent: dict[str, Any], metadata: dict[str, Any], reply_content: dict[str, Any]
    ) -> dict[str, Any]:
        return {**metadata, **(self._cell.reply_metadata or {})}

    async def tool_definitions(self) -> list[ToolDefinition]:
        """The tools the model would be offered, found by a run that stops before any request."""
        agent, toolsets = self._ready_agent(), self.toolsets() or None
        try:
            return await offered_tools(agent, toolsets=toolsets, deps=self.make_deps())
        except Exception as exc:
            raise self.explain(exc) from None

    # -- completion, inspection, history --------------------------------------------
    async def do_complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        return completion_reply(code, cursor_pos, self.complete_command)

    async def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        return inspection_reply(self.commands, code)

    async def do_is_complete(self, code: str) -> dict[str, Any]:
        return is_complete_reply(self.commands, code)

    async def history_reply(
        self, access: str, output: bool, raw: bool, session: int | None, query: dict[str, Any]
    ) -> dict[str, Any]:
        """With outputs: each cell's final answer."""
        return self.cell_history.reply(access, output, **query)

    # -- shutdown ------------------------------------------------------------------
    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        self.shutting_down = True
        if self._main_loop is not None and self._main_loop.is_running():
            self._main_loop.call_soon_threadsafe(self.cancel_cell)
            backend = self._silik_backend
            if backend is not None:
                # The agent's own kernels (standalone) stop with it; a bridge just closes.
                try:
                    await self.on_main_loop(backend.close(), timeout=15)
                except Exception:
                    log.exception("closing the silik backend at shutdown")
        return {"status": "ok", "restart": restart}
