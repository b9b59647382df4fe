"""Joining the agent's own traces: W3C trace context out, OTLP spans in, phases by span kind."""
