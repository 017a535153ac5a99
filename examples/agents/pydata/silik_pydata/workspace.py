"""The python kernel a pydata agent keeps for itself, in the silik tree.

Started on first use through the kernel's silik backend: under a parent silik
it is a kernel of the tree the user sees (``~/pydata.py``), so they can step
into it; on its own, the agent kernel owns it. Code runs through the silik
toolset's ``run_code``, so its output shows live in the chat cell and plots come
back to the model as images.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import BinaryContent, ToolFailed

from silik_agents.policy import ToolPolicy
from silik_agents.toolset import SilikBackend, silik_toolset

#: Run once in a fresh kernel. `%matplotlib inline` turns every figure a cell
#: draws into an image/png display (rendered with Agg, no GUI needed).
SETUP = """\
import pandas as pd
import matplotlib.pyplot as plt
%matplotlib inline
pd.set_option("display.max_columns", 30)
pd.set_option("display.width", 120)
"""


class Workspace:
    def __init__(
        self,
        backend: SilikBackend,
        *,
        label: str,
        kernelspec: str = "python3",
        policy: ToolPolicy | None = None,
        send_images: bool = True,
    ) -> None:
        self.backend = backend
        self.label = label
        self.kernelspec = kernelspec
        self.send_images = send_images
        self.path: str | None = None
        self._run_code = silik_toolset(backend, policy).tools["run_code"].function

    async def ensure(self) -> str | None:
        """Start the kernel if there is none (or it is gone); then a note for the model."""
        if self.path is not None and await self._alive(self.path):
            return None
        lost = self.path is not None
        self.path = await self._start()
        setup, _ = _split(await self._run_code(path=self.path, code=SETUP))
        if setup.get("status") != "ok":
            raise ToolFailed(f"setting up {self.path} failed: {setup.get('evalue')}")
        note = f"Started the python kernel {self.path} (pandas as pd, matplotlib.pyplot as plt)."
        if lost:
            note += " The previous kernel was gone: load the data again."
        return note

    async def run(self, code: str) -> Any:
        """Run code in the kernel: a result dict for the model, plus any plots as images."""
        note = await self.ensure()
        assert self.path is not None
        summary, images = _split(await self._run_code(path=self.path, code=code))
        if note:
            summary = {"note": note, **summary}
        if images and not self.send_images:
            summary["plots"] = f"{len(images)} plot(s) shown to the user (images are off)"
            images = []
        return [summary, *images] if images else summary

    async def stop(self) -> None:
        if self.path is None:
            return
        path, self.path = self.path, None
        try:
            await self.backend.call("stop_kernel", {"path": path}, timeout=10)
        except Exception:
            pass  # already gone (stopped by the user, or the parent is shutting down)

    async def _alive(self, path: str) -> bool:
        try:
            found = await self.backend.call("list_tree", {"path": path})
        except Exception:
            return False
        return bool(found) and found[0].get("status") != "dead"

    async def _start(self) -> str:
        """Start the kernel under the first free label: pydata, pydata-2, ..."""
        last: Exception | None = None
        for n in range(1, 10):
            label = self.label if n == 1 else f"{self.label}-{n}"
            try:
                result = await self.backend.call(
                    "start_kernel", {"kernelspec": self.kernelspec, "label": label}, timeout=90
                )
                return result["path"]
            except Exception as exc:
                if "already exists" not in str(exc):
                    raise ToolFailed(f"could not start a {self.kernelspec} kernel: {exc}") from None
                last = exc
        raise ToolFailed(f"could not find a free name for the python kernel: {last}")


def _split(result: Any) -> tuple[dict[str, Any], list[BinaryContent]]:
    """run_code's result: a dict, or a list of the dict and the images it produced."""
    parts = result if isinstance(result, list) else [result]
    return dict(parts[0]), [p for p in parts[1:] if isinstance(p, BinaryContent)]
