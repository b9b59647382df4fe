"""Analysis of a run directory: pure pandas functions, no plotting."""
