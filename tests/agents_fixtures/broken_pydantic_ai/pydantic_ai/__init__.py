"""Put first on PYTHONPATH, this stands in for a pydantic-ai that cannot be imported."""

raise ImportError("pydantic_ai is broken here (a test stand-in)")
