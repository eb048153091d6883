"""Stand-ins for the agency and platform source systems, on loopback (demo and tests).

`start_sandbox(settings)` (services/sandbox/server.py) serves them from a background thread;
`casebus sandbox serve` serves them in the foreground. See services/sandbox/app.py for the
systems and paths. Importing the package loads nothing: the command line reads the
sandbox's settings model (settings.py) without the web stack.
"""
