"""Recording: the run-directory contract, its record schemas and writers."""
