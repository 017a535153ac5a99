"""The Jupyter wire protocol as silik speaks it: signing, checking and packing
messages (wire.py), and which kinds of message are output or relayed (messages.py)."""
