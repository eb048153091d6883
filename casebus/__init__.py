"""casebus: cross-agency case-sharing bus for online market supervision."""

__version__ = "0.1.0"
