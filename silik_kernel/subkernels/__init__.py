"""Everything about talking to one kernel, local or behind a gateway."""
