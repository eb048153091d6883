"""Admins' pages: where every consumer stands (what `casebus status` shows), DLQs by reason,
the last audit of each agency, the cluster, the registry and the link; and the commands an
admin starts here: `audit verify`, a case replay as a dry run, and a repair replay (which
writes, so it asks for the agency's code typed again). Every command run is logged with the
admin's name (var/console/actions.jsonl)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from casebus.config import Settings
from pipeline.cluster import ClusterHealth, cluster_health
from pipeline.deadletters import dlq_reasons
from pipeline.status import status
from services.console import commands
from services.console.auth import access
from services.console.bus import BUS_ERRORS
from services.console.journal import last_audit, log_action, recent_actions, record_audit
from services.console.render import render
from services.console.settings import ConsoleSettings

log = logging.getLogger(__name__)
router = APIRouter()


def _synced(settings: Settings) -> list[str]:
    return [s.agency for s in settings.sync.subscriptions]


@router.get("/admin")
@access("admin")
def overview(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    bus: dict[str, Any] = {"status": None, "dlq": None, "error": ""}
    try:
        health = cluster_health(settings)
    except BUS_ERRORS as exc:
        health = ClusterHealth(settings.kafka.bootstrap_servers, False, type(exc).__name__)
    # With the cluster unreachable every further read would wait out its own timeout.
    if health.reachable:
        try:
            bus["status"] = status(settings)
            bus["dlq"] = dlq_reasons(settings)
        except BUS_ERRORS as exc:
            bus["error"] = f"{type(exc).__name__}: {exc}"
    else:
        bus["error"] = "集群无法连接"
    audits = {agency: last_audit(settings, agency) for agency in _synced(settings)}
    return render(
        request,
        "admin.html",
        bus=bus,
        health=health,
        audits=audits,
        actions=recent_actions(settings),
    )


@router.post("/admin/audit")
@access("admin")
async def run_audit(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    agency = str((await request.form()).get("agency") or "")
    if agency not in _synced(settings):
        return render(request, "error.html", status=400, message="未知的单位")
    timeout = ConsoleSettings.of(settings).command_timeout_seconds
    result = commands.audit_verify(agency, timeout=timeout)
    name = request.state.user.name
    if result.body is not None:
        record_audit(settings, agency, result.body, by=name)
    log_action(settings, name, "audit verify", agency=agency, exit_code=result.exit_code)
    log.info("%s ran `%s`: exit %d", name, result.command, result.exit_code)
    if result.body is None:
        return render(request, "error.html", status=502, message=result.error or "审计未完成")
    return RedirectResponse("/admin#audit", status_code=303)


@router.get("/admin/replay")
@access("admin")
def replay_form(request: Request, agency: str = "", case: str = "") -> Response:
    return render(request, "replay.html", agency=agency, case_id=case, result=None, error="")


@router.post("/admin/replay")
@access("admin")
async def replay(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    form = await request.form()
    agency = str(form.get("agency") or "")
    case_id = str(form.get("case_id") or "").strip()
    repair = form.get("mode") == "repair"

    def again(error: str, status: int = 400) -> Response:
        return render(
            request,
            "replay.html",
            status=status,
            agency=agency,
            case_id=case_id,
            result=None,
            error=error,
        )

    if agency not in _synced(settings):
        return again("请选择一个单位。")
    if not commands.CASE_ID.match(case_id):
        return again("案件编号格式不正确。")
    if repair and form.get("confirm") != agency:
        return again(f"修复重放会写入 {agency} 的数据库：请在确认框中输入单位代码 {agency}。")
    timeout = ConsoleSettings.of(settings).command_timeout_seconds
    result = commands.replay_case(agency, case_id, dry_run=not repair, timeout=timeout)
    name = request.state.user.name
    mode = "repair" if repair else "dry-run"
    log_action(
        settings, name, f"replay {mode}", agency=agency, case=case_id, exit_code=result.exit_code
    )
    log.info("%s ran `%s`: exit %d", name, result.command, result.exit_code)
    if result.body is None:
        return again(result.error or f"命令没有给出结果（退出码 {result.exit_code}）", 502)
    return render(
        request,
        "replay.html",
        agency=agency,
        case_id=case_id,
        result=result,
        error="",
        mode=mode,
    )
