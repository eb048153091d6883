"""Stand-ins for the agency and platform source systems, on loopback (demo and tests).

`start_sandbox(settings)` serves them from a background thread; `casebus sandbox serve`
serves them in the foreground. See services/sandbox/app.py for the systems and paths.
"""

from services.sandbox.server import SandboxHandle, start_sandbox, with_sandbox_urls

__all__ = ["SandboxHandle", "start_sandbox", "with_sandbox_urls"]
