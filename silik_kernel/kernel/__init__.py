"""The Jupyter-facing side of silik: the shell queue, replies, connect mode, comms."""
