"""Agents, servers and helpers for the silik_agents tests (importable by test kernels too)."""
