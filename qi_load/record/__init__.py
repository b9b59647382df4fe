"""Recording: record schemas, run-directory writers and host monitoring."""
