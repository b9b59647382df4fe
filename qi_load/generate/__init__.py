"""Load generation: runs inside Locust (gevent); never imports pandas or matplotlib."""
