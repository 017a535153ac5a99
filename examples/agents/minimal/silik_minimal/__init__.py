"""The smallest agent kernel: a chat agent with one tool (see kernel.py)."""
