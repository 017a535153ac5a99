"""The silik tools over MCP (the optional extra ``silik[mcp]``).

``server.build_server`` serves the tools of ``silik_kernel.tools`` to MCP
clients on a ManagerService; ``stdio`` is ``python -m silik_kernel mcp``;
``http`` serves it over streamable HTTP on 127.0.0.1 behind a bearer token
(``python -m silik_kernel mcp --http``, and a silik's `mcp start`).
"""
