"""pydata: a data-analysis assistant that runs pandas in a python kernel of its own.

Two tools, ``load_csv`` and ``run_python``, both run in the agent's python
kernel (see workspace.py). What that code displays (tables, plots) appears in
the chat cell as rich output; plots also go back to the model as images, so
it can describe what it drew. The kernel reaches the tools through ``deps``:
``make_deps()`` hands each run the workspace.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from pydantic_ai import Agent, RunContext, ToolFailed

from silik_agents import AgentKernel, CommandOutput, command

from .workspace import Workspace

#: Set to 0 for models that do not accept images: plots are then only shown to the user.
IMAGES_ENV = "SILIK_PYDATA_IMAGES"

INSTRUCTIONS = """\
You are a data-analysis assistant in a Jupyter notebook. You have a python kernel
of your own with pandas (pd) and matplotlib.pyplot (plt) imported.

- When the user names a CSV file, load it with load_csv, then look at the columns
  and types before you analyse anything.
- Analyse with run_python. The value of the last line is shown to the user: end
  with a DataFrame (df.describe(), a groupby, df.head()) to show a table. Draw
  plots with plt or DataFrame.plot; they are shown to the user and you get them as
  images. One figure per question, with a title and labelled axes.
- Keep each step small and read its result before the next. Fix errors and retry.
- Answer in a few sentences with the numbers you computed. Never invent values.
"""

agent = Agent(
    # Plots reach the model as images: use a model that accepts images (see the README).
    "openai:gpt-5-mini",
    name="pydata",
    deps_type=Workspace,
    instructions=INSTRUCTIONS,
    defer_model_check=True,  # a missing API key is an error cell, not a dead kernel
)


@agent.tool
async def load_csv(ctx: RunContext[Workspace], path: str, name: str = "df") -> Any:
    """Load a CSV file into a pandas DataFrame in your python kernel.

    Args:
        path: the file as the user named it; relative paths are from the notebook's folder.
        name: the variable that holds the DataFrame.

    Returns the number of rows and columns, the column types and the first rows.
    """
    if not name.isidentifier():
        raise ToolFailed(f"{name!r} is not a Python variable name")
    file = Path(path).expanduser()
    file = file if file.is_absolute() else Path.cwd() / file
    if not file.is_file():
        raise ToolFailed(
            f"there is no file {file}; ask the user for the path (relative paths start in {Path.cwd()})"
        )
    code = (
        f"{name} = pd.read_csv({str(file)!r})\n"
        f"print(f'{name}: {{{name}.shape[0]}} rows, {{{name}.shape[1]}} columns')\n"
        f"print({name}.dtypes.to_string())\n"
        f"{name}.head()"
    )
    return await ctx.deps.run(code)


@agent.tool
async def run_python(ctx: RunContext[Workspace], code: str) -> Any:
    """Run Python code in your kernel; variables stay between calls.

    Args:
        code: Python code. End with an expression to show its value (a DataFrame
            shows as a table). Figures drawn with plt or DataFrame.plot are shown.

    Returns stdout, stderr, the text of results, the error if any, and plots as images.
    """
    return await ctx.deps.run(code)


class PyDataKernel(AgentKernel):
    agent = agent
    #: The kernelspec of the python kernel; it needs pandas and matplotlib.
    workspace_kernelspec = "python3"
    # The agent works in its own kernel only; it does not get the general silik tools.
    use_silik_tools = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workspace = Workspace(
            self.silik_backend(),
            label=self.name_for_config(),
            kernelspec=self.workspace_kernelspec,
            policy=self.loaded.settings.silik,
            send_images=os.environ.get(IMAGES_ENV, "1").strip().lower() not in ("0", "false", "no"),
        )

    def make_deps(self) -> Workspace:
        return self.workspace

    @command("/kernel", help="Show the path of the python kernel this agent works in.")
    async def cmd_kernel(self, arg: str) -> CommandOutput:
        path = self.workspace.path
        if path is None:
            return CommandOutput("No python kernel yet: it starts with the first analysis.")
        return CommandOutput(f"{path} (in a silik: `> {path}` to work in it yourself)")

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        # Under a parent silik the python kernel lives in the parent's tree: stop it
        # with the agent. (On its own, the agent's private tree stops anyway.)
        loop = self._main_loop
        if self.workspace.path is not None and loop is not None and loop.is_running():
            stopping = asyncio.run_coroutine_threadsafe(self.workspace.stop(), loop)
            try:
                await asyncio.wait_for(asyncio.wrap_future(stopping), timeout=12)
            except Exception:
                pass
        return await super().do_shutdown(restart)
