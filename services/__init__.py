"""Long-running casebus services."""
