"""``python -m datakit ...``: the ``datakit`` command line (see ``datakit --help``)."""
import sys

from datakit.cli import main

if __name__ == "__main__":  # worker processes re-import this module; only the CLI runs main
    sys.exit(main())
