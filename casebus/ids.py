"""Typed identifiers shared across the code base (names, not runtime wrappers)."""

from __future__ import annotations

from typing import NewType

CaseId = NewType("CaseId", str)
AgencyCode = NewType("AgencyCode", str)  # e.g. "510500-SAMR"; platforms too ("PLATFORM-JD")
RegionCode = NewType("RegionCode", str)  # GB/T 2260, e.g. "510500"
RecordId = NewType("RecordId", str)  # unique within its owner
SchemaId = NewType("SchemaId", int)
