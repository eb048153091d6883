"""Python source written at run time: the straight-line functions the validator's quick
check (casebus.contracts.typecheck) and the Avro encoder (casebus.serde.compiled) generate
per schema, where a call per field would cost more than the work itself."""

from __future__ import annotations

from typing import Any


class Source:
    """The body of one generated function: lines, fresh local names, and the constants the
    lines refer to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, object] = {}
        self._n = 0

    def var(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, value: object) -> str:
        name = self.var("K")
        self.constants[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def define(self, header: str, footer: str, filename: str, scope: dict[str, Any]) -> Any:
        """Compile `header`, the body and `footer`; return the function `header` defines,
        with `scope` and the constants as its globals."""
        name = header.removeprefix("def ").split("(", 1)[0]
        namespace = {**scope, **self.constants}
        source = header + "\n" + "\n".join(self.lines) + footer
        exec(compile(source, filename, "exec"), namespace)
        return namespace[name]
