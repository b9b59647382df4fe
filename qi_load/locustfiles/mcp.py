"""Locustfile: MCP users timing initialize, tools/list and tools/call against an MCP server.

locust -f locustfiles/mcp.py --headless -H http://127.0.0.1:8000 --scenario smoke
"""

from locust import events

from qi_load.generate import mcp_users, plugin
from qi_load.generate.mcp_users import McpUser
from qi_load.generate.shape_wiring import QiShape

plugin.install()
events.init_command_line_parser.add_listener(plugin.with_env_vars(mcp_users.add_arguments))

__all__ = ["McpUser", "QiShape"]
