"""Starting a kernel process, or finding one to attach to.

silik starts kernels through jupyter_client's ``AsyncIOLoopKernelManager`` (its
restarter brings a dead kernel back), with a connection file other frontends can
find and a log file that explains a failed start. Its sockets are encrypted with
CurveZMQ whenever the kernelspec supports it (``SILIK_TRANSPORT_ENCRYPTION``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

import zmq
from jupyter_client.ioloop import AsyncIOLoopKernelManager
from traitlets.config import Config

from silik_kernel.cleanup import finish_cleanup
from silik_kernel.errors import SilikError
from silik_kernel.runtime_files import open_private_log, private_dir

log = logging.getLogger("silik.subkernel")

ENV_ENCRYPTION = "SILIK_TRANSPORT_ENCRYPTION"
ENCRYPTION_POLICIES = ("auto", "required", "disabled")


class KernelProcess:
    """A kernel process silik started (its manager) and the file its output goes to."""

    def __init__(
        self, km: AsyncIOLoopKernelManager, language: str, log_path: str, log_file: Any
    ) -> None:
        self.km = km
        self.language = language
        self.log_path = log_path
        self._log_file = log_file

    @classmethod
    async def start(
        cls,
        spec_name: str,
        kernel_id: str,
        *,
        kernel_spec_manager: Any = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> KernelProcess:
        config = Config()
        # Poll faster than the default 3 s so an automatic restart follows a death quickly.
        config.AsyncIOLoopKernelRestarter.time_to_dead = 1.0
        extra = {"kernel_spec_manager": kernel_spec_manager} if kernel_spec_manager else {}
        km = AsyncIOLoopKernelManager(kernel_name=spec_name, config=config, **extra)
        km.shutdown_wait_time = 3.0
        try:
            spec = km.kernel_spec
        except Exception as exc:  # NoSuchKernel and friends
            raise SilikError(
                f"unknown kernelspec {spec_name!r}",
                hint="`kernels` lists what is installed",
            ) from exc
        km.transport_encryption = _encryption_policy(spec_name, spec)
        files = private_dir()
        # Other frontends find it by the path `info` shows (`jupyter console --existing PATH`).
        km.connection_file = files.file(f"kernel-silik-{kernel_id}.json")
        # The kernel's own stdout/stderr (log lines, crash messages) go to a log file,
        # not into the frontend's terminal; its tail explains a failed start.
        log_path = files.file(f"kernel-silik-{kernel_id}.log")
        log_file = os.fdopen(open_private_log(log_path), "ab")  # closed in stop()
        kw: dict[str, Any] = {"stdout": log_file, "stderr": log_file}
        if env is not None:
            kw["env"] = {**os.environ, **env}
        if cwd:
            kw["cwd"] = cwd
        try:
            await km.start_kernel(**kw)
        except BaseException as exc:
            # Also when interrupted: a process launched before the interrupt must not run on.
            await finish_cleanup(_discard(km))
            log_file.close()
            _remove(log_path)
            if not isinstance(exc, Exception):
                raise
            raise SilikError(f"kernel {spec_name!r} failed to start: {exc}", hint=None) from exc
        return cls(km, spec.language if spec else "", log_path, log_file)

    def connection_info(self) -> dict[str, Any]:
        """Where the kernel listens now (an automatic restart may pick new ports)."""
        return self.km.get_connection_info(session=False)

    def on_restart(self, restarted: Callable[[], None], failed: Callable[[], None]) -> None:
        """``restarted`` when jupyter_client's restarter brings the dead kernel back,
        ``failed`` when it gives up."""
        self.km.add_restart_callback(restarted, "restart")
        self.km.add_restart_callback(failed, "dead")

    def restarts_after_death(self) -> bool:
        """Whether jupyter_client's restarter brings the kernel back from a death
        now: it restarts a kernel ``restart_limit`` times in a row (deaths within
        ``stable_start_time`` of the last one), then gives up and stops."""
        restarter = getattr(self.km, "_restarter", None)
        if not self.km.autorestart or getattr(restarter, "_pcallback", None) is None:
            return False  # never started, given up, or stopped with the kernel
        assert restarter is not None
        return not (restarter._restarting and restarter._restart_count >= restarter.restart_limit)

    def death_noticed_within(self) -> float:
        """Seconds jupyter_client's restarter may take to notice a death (its poll)."""
        restarter = getattr(self.km, "_restarter", None)
        return float(getattr(restarter, "time_to_dead", 3.0))

    def kill_now(self) -> None:
        """SIGKILL the process, not waiting for it: the last resort when the event
        loop did not stop it in time (at shutdown, at exit). Safe from another
        thread. Reads the returncode instead of polling (one system call per
        kernel, when hundreds must go at once)."""
        proc = getattr(self.km.provisioner, "process", None) if self.km.provisioner else None
        if proc is not None and proc.returncode is None:  # not reaped: the pid is still its own
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGKILL)

    async def wait_alive(self, timeout: float = 20.0) -> None:
        """Give an automatic restart up to ``timeout`` s to have the process running again."""
        for _ in range(round(timeout / 0.2)):
            await asyncio.sleep(0.2)
            if await self.km.is_alive():
                return

    async def exit_reason(self) -> str:
        code = await self.km.provisioner.poll() if self.km.provisioner is not None else None
        return "the kernel process exited" + (f" (exit code {code})" if code else "")

    async def _request_exit(self, grace: float) -> None:
        try:
            await self.km.request_shutdown()
        except Exception:
            log.debug("sending a shutdown request", exc_info=True)
            return
        for _ in range(max(1, round(grace / 0.1))):
            await asyncio.sleep(0.1)
            if not await self.km.is_alive():
                return

    @property
    def pid(self) -> int | None:
        proc = getattr(self.km.provisioner, "process", None)
        return getattr(proc, "pid", None)

    def log_tail(self, lines: int = 15) -> str:
        """The end of the kernel's own output, to explain a failure."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read()[-8000:].decode("utf-8", "replace")
        except OSError:
            return ""
        kept = [ln for ln in text.splitlines() if "TCP without encryption" not in ln]
        return "\n".join(kept[-lines:])

    async def stop(self, now: bool = False, grace: float | None = None) -> None:
        """Stop the kernel (if it still runs), remove its connection and log files.

        ``grace``: seconds the kernel gets to exit on its own after its shutdown
        request; then it is killed (None: jupyter_client's way, up to
        ``shutdown_wait_time`` with a SIGTERM halfway).
        """
        self.km.stop_restarter()
        if grace is not None and not now and await self.km.is_alive():
            await self._request_exit(grace)
        if await self.km.is_alive():
            await self.km.shutdown_kernel(now=now or grace is not None)
        else:
            await self.km.cleanup_resources()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
            _remove(self.log_path)


def _encryption_policy(spec_name: str, spec: Any) -> str:
    """jupyter_client's ``transport_encryption`` for this kernel, from
    ``SILIK_TRANSPORT_ENCRYPTION``: ``auto`` (the default) encrypts when the
    kernelspec declares CurveZMQ support, ``required`` refuses a kernel that does not."""
    policy = os.environ.get(ENV_ENCRYPTION, "").strip().lower() or "auto"
    if policy not in ENCRYPTION_POLICIES:
        raise SilikError(
            f"{ENV_ENCRYPTION}={os.environ[ENV_ENCRYPTION]!r} is not a transport encryption policy",
            hint=f"set {ENV_ENCRYPTION} to one of: {', '.join(ENCRYPTION_POLICIES)}",
        )
    if policy == "disabled":
        return policy
    if not zmq.has("curve"):
        if policy == "required":
            raise SilikError(
                f"this pyzmq's libzmq has no CurveZMQ support, and {ENV_ENCRYPTION} is 'required'",
                hint="install a pyzmq built with libsodium, or set it to 'auto'",
            )
        return "disabled"
    metadata = getattr(spec, "metadata", None) or {}
    declared = metadata.get("supported_encryption") or ()
    declared = [declared] if isinstance(declared, str) else declared
    if policy == "required" and "curve" not in {str(d).strip().lower() for d in declared}:
        raise SilikError(
            f"kernelspec {spec_name!r} does not declare CurveZMQ support "
            '(its kernel.json has no "supported_encryption": ["curve"] in metadata), '
            f"and {ENV_ENCRYPTION} is 'required'",
            hint=f"set {ENV_ENCRYPTION}=auto to let it run unencrypted, or choose another kernel",
        )
    return policy


def read_connection_file(path: str) -> dict[str, Any]:
    """The connection info of a running kernel, from its kernel-*.json file."""
    try:
        with open(path) as f:
            info = json.load(f)
    except OSError as exc:
        raise SilikError(
            f"cannot read connection file {path}: {exc.strerror}",
            hint="give the path of a kernel-*.json file of a running kernel",
        ) from exc
    except ValueError as exc:
        raise SilikError(f"{path} is not a JSON connection file", hint=None) from exc
    if not isinstance(info, dict) or "shell_port" not in info:
        raise SilikError(f"{path} is not a kernel connection file", hint=None)
    return info


async def _discard(km: AsyncIOLoopKernelManager) -> None:
    """Kill what a start that did not finish launched, and remove its connection file."""
    try:
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
        elif km.provisioner is not None:
            await km.cleanup_resources()
        else:
            km.cleanup_connection_file()
    except Exception:
        log.warning("cleaning up a kernel that did not start", exc_info=True)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
