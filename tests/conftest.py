"""Test-wide setup: gevent's monkey patch first, as Locust applies it on import anyway."""

from gevent import monkey

monkey.patch_all()
