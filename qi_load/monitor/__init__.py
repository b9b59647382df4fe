"""Live monitoring: process and host samplers, the sample sidecar, alert rules, saturation."""
