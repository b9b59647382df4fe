"""Locustfiles shipped inside the package, so an installed qi-load can run them."""
