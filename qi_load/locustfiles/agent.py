"""Locustfile: agent users drawing query types from the scenario's mix, under its load shape.

locust -f locustfiles/agent.py --headless -H http://127.0.0.1:8000 --scenario quick-ladder
"""

from qi_load.generate import plugin
from qi_load.generate.shape_wiring import QiShape
from qi_load.generate.users import AgentUser

plugin.install()

__all__ = ["AgentUser", "QiShape"]
