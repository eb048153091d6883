"""`python -m cli` is the `casebus` command (the tests start services this way)."""

import sys

from cli import main

sys.exit(main())
