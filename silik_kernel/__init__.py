"""silik: a Jupyter kernel that manages other Jupyter kernels."""

__version__ = "0.1.0"
