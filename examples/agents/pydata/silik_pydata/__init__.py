"""A data-analysis agent kernel: pandas and matplotlib in a python kernel of its own."""
