"""Test-wide fixtures: real services started once per session, unique names per test.

Each area keeps its fixtures in tests/fixtures/<area>.py, loaded here as plugins.
"""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.registry",
    "tests.fixtures.databases",
    "tests.fixtures.sandbox",
    "tests.fixtures.keys",
]
