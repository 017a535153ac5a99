"""The budget of the turn being run, as the ask_agent tool sees it (defined
beside the tools, which every face shares)."""

from silik_kernel.tools.base import TurnBudget, turn_budget

__all__ = ["TurnBudget", "turn_budget"]
