"""``python -m qi_load`` runs the CLI."""

import sys

from qi_load.cli import main

sys.exit(main())
