"""The metric definitions every reader calls: percentiles, steady-state windows, rates, goodput.

Pure and pandas-free, so Locust processes (the progress line, live stats, live alerts) use the
very definitions the report uses. docs/metrics.md#aggregates states them in words.
"""
