"""`python -m services.cli` is the `casebus` command (the tests start services this way)."""

import sys

from services.cli import main

sys.exit(main())
