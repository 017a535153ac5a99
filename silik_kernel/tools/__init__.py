"""The silik tools, defined once for every face that offers them to a model.

``definitions.SilikTools`` holds each tool's name, signature, docstring and
logic, with no agent framework in sight: a tool fails with :class:`ToolError`
and returns images as :class:`Image`. ``silik_agents.toolset`` turns them into
pydantic-ai tools; ``silik_kernel.mcp`` serves them over MCP. A plain silik
kernel never imports this package.
"""
