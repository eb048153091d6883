"""An agency's staff's pages, each reading that agency's database and nothing else: case
search, a case (its linked cases, records and timeline), one record, transfers due, and the
source records their own connectors refused."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agencydb.case_view import load_case, load_record
from agencydb.engine import database_exists, make_engine
from agencydb.search import MAX_QUERY, search_cases
from agencydb.transfers import due_transfers
from casebus.config import Settings
from pipeline.rejects import rejects_of
from services.console.auth import NotFound, access
from services.console.bus import BUS_ERRORS
from services.console.render import render

router = APIRouter()

# What a record's card shows of each kind on the case page (all of it on the record page).
SUMMARY = {
    "penalty": ("party_name", "party_uscc", "penalty_content", "fine_amount", "decision_date"),
    "lead": ("seller_name", "seller_uscc", "shop_name", "status", "infringement_type"),
    "transfer": ("kind", "from_owner", "to_owner", "document_no", "sent_at", "decision"),
    "action": ("kind", "party_name", "action_date", "content"),
    "case": ("linked_case_ids", "agreement_ref", "reason"),
}


def _agency_url(request: Request) -> tuple[str, str | None]:
    """The user's agency and its database (None when there is none yet)."""
    settings: Settings = request.app.state.settings
    agency: str = request.state.user.agency
    url = settings.sync_database_url(agency)
    return agency, url if database_exists(url) else None


@router.get("/cases")
@access("staff")
def cases(request: Request, q: str = "") -> Response:
    _, url = _agency_url(request)
    query = q.strip()[:MAX_QUERY]
    hits = []
    if url and query:
        engine = make_engine(url)
        try:
            hits = search_cases(engine, query)
        finally:
            engine.dispose()
    return render(request, "cases.html", q=query, hits=hits, has_db=url is not None)


@router.get("/cases/{case_id:path}")
@access("staff")
def case(request: Request, case_id: str) -> Response:
    agency, url = _agency_url(request)
    if url is None:
        raise NotFound()
    view = load_case(url, agency, case_id)
    if not view.records:
        raise NotFound()  # another agency's case, or none: the same answer
    own_region = request.app.state.settings.agency(agency).region
    regions = sorted(view.regions, key=lambda r: (r != own_region, r))
    columns = [(r, [rec for rec in view.records if rec.region == r]) for r in regions]
    return render(request, "case.html", view=view, columns=columns, summary=SUMMARY)


@router.get("/records/{kind}/{owner}/{record_id:path}")
@access("staff")
def record(request: Request, kind: str, owner: str, record_id: str) -> Response:
    _, url = _agency_url(request)
    found = load_record(url, kind, owner, record_id) if url else None
    if found is None:
        raise NotFound()
    return render(request, "record.html", record=found)


@router.get("/transfers")
@access("staff")
def transfers(request: Request) -> Response:
    agency, url = _agency_url(request)
    due = []
    if url:
        engine = make_engine(url)
        try:
            due = due_transfers(engine, agency)
        finally:
            engine.dispose()
    overdue = sum(1 for d in due if d.status == "overdue")
    return render(request, "transfers.html", due=due, overdue=overdue, has_db=url is not None)


@router.get("/rejects")
@access("staff")
def rejects(request: Request) -> Response:
    agency: str = request.state.user.agency
    error = ""
    found = []
    try:
        found = rejects_of(request.app.state.settings, {agency})
    except BUS_ERRORS as exc:
        error = f"暂时无法读取 casebus.rejects：{type(exc).__name__}"
    return render(request, "rejects.html", rejects=found, error=error)
