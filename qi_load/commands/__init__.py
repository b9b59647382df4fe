"""One module per CLI subcommand: its arguments and a thin call into the library."""
