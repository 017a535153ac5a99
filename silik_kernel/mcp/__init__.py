"""The silik tree over MCP: the shared tool definitions served to MCP clients."""
