"""The command line's exit statuses, in one place (the help text is built from them)."""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1          # something failed: a file did not load, a save failed, something is missing
EXIT_USAGE = 2           # a usage error, found before any work
EXIT_INTERRUPTED = 130   # Ctrl+C

EPILOG = (f"exit status: {EXIT_OK} success; {EXIT_FAILED} something failed (a file did not "
          f"load, a save failed);\n{EXIT_USAGE} usage error (bad option, unsupported format, "
          f"folder or file not found); {EXIT_INTERRUPTED} interrupted.")
