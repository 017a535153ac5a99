"""The smallest agent kernel worth copying: one agent, one tool, one AgentKernel subclass.

The kernelspec (share/jupyter/kernels/minimal/kernel.json) runs
``python -m silik_agents run silik_minimal.kernel:MinimalKernel --name minimal``.
"""

from __future__ import annotations

from pydantic_ai import Agent

from silik_agents import AgentKernel

agent = Agent(
    # Any pydantic-ai model string. SILIK_AGENT_MODEL, the config file
    # (~/.jupyter/silik_agents/minimal.toml) or `/model NAME` in a cell override it.
    "openai:gpt-5-mini",
    name="minimal",
    instructions=(
        "You are a friendly assistant in a Jupyter notebook. Answer briefly. "
        "When asked how often a letter occurs in a word, use count_letters: "
        "you see tokens, not letters, so do not count by yourself."
    ),
    # Build the model on the first message, not at import: a missing API key is
    # then an error in that cell, not a kernel that fails to start.
    defer_model_check=True,
)


@agent.tool_plain
def count_letters(word: str, letter: str) -> int:
    """Count how many times a letter occurs in a word, ignoring case.

    Args:
        word: the word (or any text) to look in.
        letter: the letter to count; several characters count that substring.
    """
    return word.lower().count(letter.lower())


class MinimalKernel(AgentKernel):
    agent = agent
    # Every AgentKernel also gets the silik toolset (start kernels, run code in
    # them); a chat agent does not need it. Delete this line to give it back.
    use_silik_tools = False
