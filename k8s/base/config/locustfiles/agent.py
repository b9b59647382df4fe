"""Locustfile: agent users with the scenario's query-type mix and load shape."""

from qi_load.locustfiles.agent import *  # noqa: F403
