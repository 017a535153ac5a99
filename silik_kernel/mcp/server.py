"""build_server: the silik tools as an MCP server on a ManagerService.

Every tool comes from :class:`silik_kernel.tools.definitions.SilikTools` (same
name, arguments and docstring as the agents' tools), wrapped to answer MCP:
failures and refusals are tool errors (isError) with a hint, images are image
content under a byte cap (larger ones are links to resources the server serves). Two tools differ for long cells: run_code returns a
job id after ``wait`` seconds while the cell runs on, and get_output pages a
job's output by cursor. Each client acts as the caller ``mcp:<its name>``,
held to the server's ``[silik]`` policy.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, get_type_hints

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError as McpToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import ValidationError

from silik_kernel.agent_policy import Caller, ToolPolicy
from silik_kernel.mcp.approvals import approval
from silik_kernel.mcp.content import (
    DEFAULT_MAX_IMAGE_BYTES,
    IMAGE_URI,
    Images,
    as_text,
    error_result,
    tool_result,
)
from silik_kernel.mcp.jobs import Job, Jobs
from silik_kernel.service import ManagerService
from silik_kernel.tools.backend import ServiceBackend, as_settings
from silik_kernel.tools.base import ToolError, output_sink
from silik_kernel.tools.definitions import SilikTools

PAGE = 4000  # characters get_output returns at most
PROGRESS_EVERY = 1.0  # seconds between progress notifications while a cell runs
POLL_WAIT = 5.0  # seconds get_output waits for news of a running job
NO_TIMEOUT = 7 * 24 * 3600.0  # a cell's timeout when neither the call nor the policy sets one

_caller: contextvars.ContextVar[Caller] = contextvars.ContextVar("silik_mcp_caller")

INSTRUCTIONS = """\
Kernels in a silik tree: start one (list_kernelspecs, start_kernel), run code in it
(run_code; state persists), read long or still-running output (get_output), and stop
the kernels you no longer need. A person may be working in the same tree."""


@dataclass(frozen=True)
class ServerOptions:
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    name: str = "silik"


def client_name(ctx: Context) -> str:
    """The name the MCP client gave itself (clientInfo.name), e.g. claude-code."""
    params = ctx.session.client_params
    info = params.client_info if params is not None else None
    return (info.name if info is not None else "") or "client"


class McpFace:
    """The MCP face of the silik tools: the shared tools, the jobs, and who calls."""

    def __init__(
        self, service: ManagerService, policy: ToolPolicy | None, options: ServerOptions
    ) -> None:
        self.policy = as_settings(policy)
        self.options = options
        self.tools = SilikTools(ServiceBackend(service, _caller.get), self.policy)
        self.jobs = Jobs()
        self.images = Images(options.max_image_bytes)

    def caller(self, ctx: Context) -> Caller:
        return Caller(f"mcp:{client_name(ctx)}", self.policy)

    def register(self, server: MCPServer) -> None:
        for name in SilikTools.TOOL_NAMES:
            own = getattr(self, name, None)
            fn = own if own is not None else getattr(self.tools, name)
            server.add_tool(
                self.wrap(name, fn, own is not None),
                name=name,
                description=inspect.getdoc(fn),
                structured_output=False,
            )
        server.resource(
            IMAGE_URI + "{image_id}",
            name="image",
            description="An image a kernel drew, too large to be shown inline in a tool result.",
        )(self.image)

    def image(self, image_id: str) -> bytes:
        """A kept large image's bytes (its mime type is set by the server)."""
        return self.images.get(image_id).data

    def wrap(self, name: str, fn: Callable[..., Any], takes_ctx: bool) -> Callable[..., Any]:
        """``fn`` as an MCP tool: its arguments, plus the request's context."""

        async def tool(ctx: Context, **args: Any) -> CallToolResult | InputRequiredResult:
            token = _caller.set(self.caller(ctx))
            try:
                if name in self.policy.require_approval:
                    asked = await approval(ctx, name, args)
                    if isinstance(asked, InputRequiredResult):
                        return asked
                    if asked is not None:
                        return error_result(asked)
                if takes_ctx:
                    return await fn(ctx=ctx, **args)
                return tool_result(await with_progress(ctx, name, fn(**args)), self.images)
            except ToolError as exc:
                return error_result(exc.message)
            finally:
                _caller.reset(token)

        hints = get_type_hints(fn)
        params = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(fn).parameters.values()
            if p.name != "ctx"
        ]
        params.append(inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context))
        tool.__signature__ = inspect.Signature(params, return_annotation=CallToolResult)  # type: ignore[attr-defined]
        tool.__annotations__ = {p.name: p.annotation for p in params} | {"return": CallToolResult}
        tool.__name__ = tool.__qualname__ = name
        return tool

    # -- the tools that differ for MCP: long cells ------------------------------------
    async def run_code(
        self,
        path: str,
        code: str,
        timeout: float | None = None,
        wait: float = 30.0,
        *,
        ctx: Context,
    ) -> CallToolResult:
        """Run code in a kernel and return what it produced.

        Args:
            path: the kernel's path, e.g. "~/calc.py".
            code: the code to run, in the kernel's language. State persists between calls.
            timeout: seconds before the kernel is interrupted (default: never, unless the
                server's policy sets default_timeout); then status is timeout.
            wait: seconds to wait for the cell to finish (default 30). A cell still
                running then keeps running: you get its output so far with running=true
                and a job_id; call get_output(job_id, cursor) for the rest.

        Returns stdout, stderr, results (text/plain of values and displays), the mime
        types produced, and on failure ename, evalue and the traceback. Long output is
        cut: then truncated is true and get_output(job_id, 0) returns all of it.
        Images (plots) are attached so you can look at them.
        """
        if timeout is None and "default_timeout" not in self.policy.model_fields_set:
            timeout = NO_TIMEOUT  # a job runs on: interrupt_kernel stops it
        job = self.jobs.start(path, lambda job: self._collect(job, code, timeout))
        await self._await(ctx, job, max(float(wait), 0.0))
        run = job.run
        failure = job.failure()
        if failure is not None and not run.full:
            raise failure
        summary = run.summary(
            path,
            job.reply() if not job.running else {"status": "running"},
            self.policy.max_output_chars,
            lambda _: job.id,
        )
        summary.pop("run_id", None)
        if job.running or summary.get("truncated"):
            summary["job_id"] = job.id
        else:
            self.jobs.forget(job.id)  # nothing left to read
        if job.running:
            summary.update(running=True, cursor=run.chars)
        return self._with_images(summary, job)

    async def get_output(self, job_id: str, cursor: int = 0, *, ctx: Context) -> CallToolResult:
        """Read the output of a run_code job: up to 4000 characters from cursor.

        Args:
            job_id: the job_id of a run_code result (a cell still running, or cut output).
            cursor: where to start reading (0: from the start); each reply gives the
                cursor of its end.

        Says whether the cell is still running; when it has finished, its status
        (ok, error or timeout) and, on failure, ename and evalue. While it runs,
        waits a few seconds for new output before answering.
        """
        job = self.jobs.get(job_id)
        if cursor < 0 or cursor > job.run.chars:
            raise ToolError(f"cursor {cursor} is outside the output (0 to {job.run.chars})")
        if job.running:
            await job.news(cursor, POLL_WAIT)
        text = job.run.text()
        part = text[cursor : cursor + PAGE]
        end = cursor + len(part)
        out: dict[str, Any] = {"job_id": job.id, "path": job.path, "text": part, "cursor": end}
        out["more"] = len(text) - end
        out["running"] = job.running
        if not job.running:
            failure = job.failure()
            reply = job.reply()
            status = "timeout" if reply.get("timed_out") else reply.get("status", "unknown")
            out["status"] = "failed" if failure else status
            for key in ("ename", "evalue"):
                if reply.get(key):
                    out[key] = reply[key]
            if failure:
                out["error"] = failure.message
        return self._with_images(out, job)

    # -- helpers --------------------------------------------------------------------
    async def _collect(self, job: Job, code: str, timeout: float | None) -> dict[str, Any]:
        """The job's cell, run in a task of its own (its context is a copy of the
        call's, so it acts as the same caller)."""
        output_sink.set(lambda _path, _event: job.changed.set())
        return await self.tools.collect(job.path, code, timeout, job.run)

    async def _await(self, ctx: Context, job: Job, wait: float) -> None:
        """Wait up to ``wait`` seconds for the cell, telling the client it runs."""
        started = time.monotonic()
        deadline = started + wait
        while job.running:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if await job.settle(min(left, PROGRESS_EVERY)):
                return
            elapsed = time.monotonic() - started
            await ctx.report_progress(
                elapsed,
                None,
                f"{job.path}: running for {elapsed:.0f} s, {job.run.chars} characters of output",
            )

    def _with_images(self, summary: dict[str, Any], job: Job) -> CallToolResult:
        """The summary as text, then the images not shown yet (the last four)."""
        new = job.run.images[job.images_shown :][-4:]
        job.images_shown = len(job.run.images)
        content: list[Any] = [TextContent(type="text", text=as_text(summary))]
        for image in new:
            content.extend(self.images.content(image))
        return CallToolResult(content=content)


class SilikMcpServer(MCPServer):
    """MCPServer, whose refusals of a call say what to send instead."""

    silik_face: McpFace

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except McpToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                return error_result(
                    bad_arguments(name, exc.__cause__, self._tool_input_schema(name))
                )
            if self._tool_input_schema(name) is None:
                known = ", ".join(SilikTools.TOOL_NAMES)
                return error_result(f"there is no tool {name!r}; the tools are: {known}")
            raise

    async def read_resource(
        self, uri: Any, context: Context | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        """A resource; a kept image with its own mime type (a template has one
        mime type, images come in several)."""
        contents = await super().read_resource(uri, context)
        mime = self.silik_face.images.mime_of(str(uri))
        if mime is None or isinstance(contents, InputRequiredResult):
            return contents
        return [replace(c, mime_type=mime) for c in contents]


def bad_arguments(name: str, error: ValidationError, schema: dict[str, Any] | None) -> str:
    """What was wrong with a call's arguments, and what the tool takes."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg'].lower()}"
        for e in error.errors()
    )
    props = (schema or {}).get("properties", {})
    required = set((schema or {}).get("required", []))
    takes = ", ".join(
        f"{arg} ({spec.get('type') or 'number or null'}{'' if arg in required else ', optional'})"
        for arg, spec in props.items()
    )
    return f"{name}: bad arguments: {problems}. It takes: {takes or 'no arguments'}"


async def with_progress(ctx: Context, name: str, call: Awaitable[Any]) -> Any:
    """``call``'s result; while it runs (an asked agent's turn, a kernel starting),
    a progress notification every PROGRESS_EVERY seconds keeps the client waiting."""
    task = asyncio.ensure_future(call)
    started = time.monotonic()
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=PROGRESS_EVERY)
            if done:
                return task.result()
            elapsed = time.monotonic() - started
            await ctx.report_progress(elapsed, None, f"{name}: working for {elapsed:.0f} s")
    finally:
        task.cancel()  # a no-op once it is done; else the client went away


def build_server(
    service: ManagerService, policy: ToolPolicy | None = None, options: ServerOptions | None = None
) -> SilikMcpServer:
    """An MCP server offering the silik tools on ``service``'s tree, every client
    held to ``policy`` (the ``[silik]`` section; its defaults when None).

    The server's :class:`McpFace` (its jobs, to close when the server stops) is
    ``server.silik_face``.
    """
    options = options or ServerOptions()
    server = SilikMcpServer(options.name, instructions=INSTRUCTIONS, log_level="WARNING")
    face = McpFace(service, policy, options)
    face.register(server)
    server.silik_face = face
    return server


__all__ = ["McpFace", "ServerOptions", "as_text", "build_server", "client_name"]
