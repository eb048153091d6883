"""`python -m casebus` is the `casebus` command."""

import sys

from casebus.cli import main

sys.exit(main())
