"""Routes: the parts of the Confluent Schema Registry REST API that clients use.

Reads come from the in-memory state; a read that would answer 404 first catches up with
the log, so a schema registered through another registry process is found. Writes go
through the log (KafkaStore.write) and answer what the replay decided.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from casebus.contracts.compatibility import compatibility_problems
from casebus.observability.http import RequestMetrics
from services.registry import compat
from services.registry.access import REALM, Access, Caller, Denied
from services.registry.state import RegistryState, Reply, Version, error
from services.registry.store import KafkaStore, StoreUnavailable

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class ApiError(Exception):
    def __init__(self, outcome: Reply) -> None:
        self.outcome = outcome


def reply(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=CONTENT_TYPE)


def denied(exc: Denied) -> JSONResponse:
    response = reply({"error_code": exc.error_code, "message": str(exc)}, exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = REALM
    return response


def caller(request: Request) -> Caller | None:
    found: Caller | None = request.state.caller
    return found


def create_app(store: KafkaStore, access: Access) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(store.start)
        try:
            yield
        finally:
            await run_in_threadpool(store.close)

    app = FastAPI(title="casebus schema registry", lifespan=lifespan)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        o = exc.outcome
        return reply({"error_code": o.error_code, "message": o.message}, o.status)

    @app.exception_handler(Denied)
    async def _denied(request: Request, exc: Denied) -> JSONResponse:
        return denied(exc)

    @app.middleware("http")
    async def _authenticate(request: Request, call_next: Any) -> Response:
        try:
            request.state.caller = access.caller(request.headers.get("authorization"))
        except Denied as exc:
            return denied(exc)
        response: Response = await call_next(request)
        return response

    def may_read(request: Request, subject: str) -> None:
        access.check_read(caller(request), subject)

    def subjects_of(schema_id: int) -> set[str]:
        return store.read(
            lambda s: {
                v.subject for vs in s.subjects.values() for v in vs if v.schema_id == schema_id
            }
        )

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return reply({"error_code": 50003, "message": str(exc)}, 503)

    async def read(func: Callable[[RegistryState], Reply]) -> Any:
        outcome = store.read(func)
        if outcome.status == 404:
            await run_in_threadpool(store.sync)
            outcome = store.read(func)
        if not outcome.ok:
            raise ApiError(outcome)
        return outcome.body

    async def write(kind: str, **fields: Any) -> Any:
        outcome = await run_in_threadpool(store.write, kind, **fields)
        if not outcome.ok:
            raise ApiError(outcome)
        return outcome.body

    def describe(state: RegistryState, v: Version) -> dict[str, Any]:
        return {
            "subject": v.subject,
            "version": v.version,
            "id": v.schema_id,
            "schema": state.schemas[v.schema_id],
        }

    @app.get("/")
    async def root() -> JSONResponse:
        return reply({})

    @app.get("/mode")
    async def mode() -> JSONResponse:
        return reply({"mode": store.mode})

    @app.get("/schemas/types")
    async def schema_types() -> JSONResponse:
        return reply(["AVRO"])

    @app.get("/subjects")
    async def subjects(request: Request, deleted: bool = False) -> JSONResponse:
        who = caller(request)

        def names(state: RegistryState) -> Reply:
            return Reply(
                body=sorted(
                    s
                    for s, vs in state.subjects.items()
                    if (deleted or any(not v.deleted for v in vs))
                    and (who is None or who.may_read(s))
                )
            )

        return reply(await read(names))

    @app.get("/schemas")
    async def all_schemas(request: Request) -> JSONResponse:
        """Confluent's list of every schema version the caller may read (the link compares
        a follower's with the primary's, id by id)."""
        who = caller(request)

        def listed(state: RegistryState) -> Reply:
            return Reply(
                body=[
                    describe(state, v)
                    for subject, vs in sorted(state.subjects.items())
                    for v in vs
                    if not v.deleted and (who is None or who.may_read(subject))
                ]
            )

        await run_in_threadpool(store.sync)
        return reply(store.read(listed).body)

    @app.get("/subjects/{subject}/versions")
    async def versions(request: Request, subject: str, deleted: bool = False) -> JSONResponse:
        may_read(request, subject)

        def numbers(state: RegistryState) -> Reply:
            found = [v.version for v in state.subjects.get(subject, []) if deleted or not v.deleted]
            return (
                Reply(body=found) if found else error(404, 40401, f"Subject '{subject}' not found.")
            )

        return reply(await read(numbers))

    @app.get("/subjects/{subject}/versions/{version}")
    async def get_version(
        request: Request, subject: str, version: str, deleted: bool = False
    ) -> JSONResponse:
        may_read(request, subject)

        def one(state: RegistryState) -> Reply:
            found = state.find(subject, version, deleted=deleted)
            return Reply(body=describe(state, found.body)) if found.ok else found

        return reply(await read(one))

    @app.get("/subjects/{subject}/versions/{version}/schema")
    async def get_version_schema(request: Request, subject: str, version: str) -> Response:
        may_read(request, subject)
        body = await read(
            lambda s: _with(s.find(subject, version), lambda v: s.schemas[v.schema_id])
        )
        return Response(body, media_type=CONTENT_TYPE)

    @app.post("/subjects/{subject}/versions")
    async def register(subject: str, request: Request) -> JSONResponse:
        access.check_write(caller(request), "register", subject)
        text = await _schema_from(request)
        pre = store.read(lambda s: s.precheck_register(subject, text))
        if not pre.ok:
            raise ApiError(pre)
        if not pre.body["new"]:
            return reply({"id": pre.body["id"]})
        body = await write("register", subject=subject, schema=text)
        return reply({"id": body["id"]})

    @app.post("/subjects/{subject}")
    async def lookup(subject: str, request: Request, deleted: bool = False) -> JSONResponse:
        may_read(request, subject)
        text = await _schema_from(request)
        _, identity = _normalise(text)

        def find(state: RegistryState) -> Reply:
            versions = [v for v in state.subjects.get(subject, []) if deleted or not v.deleted]
            if not versions:
                return error(404, 40401, f"Subject '{subject}' not found.")
            schema_id = state.ids.get(identity)
            for v in versions:
                if v.schema_id == schema_id:
                    return Reply(body=describe(state, v))
            return error(404, 40403, "Schema not found")

        return reply(await read(find))

    @app.get("/schemas/ids/{schema_id}")
    async def schema_by_id(request: Request, schema_id: int) -> JSONResponse:
        access.check_schema(caller(request), schema_id, subjects_of)
        return reply({"schema": await read(lambda s: _schema(s, schema_id))})

    @app.get("/schemas/ids/{schema_id}/schema")
    async def raw_schema_by_id(request: Request, schema_id: int) -> Response:
        access.check_schema(caller(request), schema_id, subjects_of)
        return Response(await read(lambda s: _schema(s, schema_id)), media_type=CONTENT_TYPE)

    @app.post("/compatibility/subjects/{subject}/versions/{version}")
    async def check(
        subject: str, version: str, request: Request, verbose: bool = False
    ) -> JSONResponse:
        may_read(request, subject)
        text = await _schema_from(request)
        stored, _ = _normalise(text)

        def judge(state: RegistryState) -> Reply:
            found = state.find(subject, version)
            if not found.ok:
                return found
            level = state.level(subject)
            if version in ("latest", "-1"):
                olds = [state.schemas[v.schema_id] for v in state.live(subject)]
            else:
                olds = [state.schemas[found.body.schema_id]]
            issues = compatibility_problems(
                compat.parsed(stored), [compat.parsed(o) for o in olds], level
            )
            body: dict[str, Any] = {"is_compatible": not issues}
            if verbose:
                body["messages"] = issues
            return Reply(body=body)

        return reply(await read(judge))

    @app.get("/config")
    async def get_config() -> JSONResponse:
        return reply({"compatibilityLevel": store.read(lambda s: s.level(None))})

    @app.put("/config")
    async def put_config(request: Request) -> JSONResponse:
        access.check_write(caller(request), "admin", None)
        return reply(await write("config", subject=None, level=await _level_from(request)))

    @app.get("/config/{subject}")
    async def get_subject_config(
        request: Request, subject: str, defaultToGlobal: bool = False
    ) -> JSONResponse:
        may_read(request, subject)

        def level(state: RegistryState) -> Reply:
            if subject in state.levels or defaultToGlobal:
                return Reply(body={"compatibilityLevel": state.level(subject)})
            return error(
                404,
                40408,
                f"Subject '{subject}' does not have subject-level compatibility configured",
            )

        return reply(await read(level))

    @app.put("/config/{subject}")
    async def put_subject_config(subject: str, request: Request) -> JSONResponse:
        access.check_write(caller(request), "admin", subject)
        return reply(await write("config", subject=subject, level=await _level_from(request)))

    @app.delete("/subjects/{subject}")
    async def delete_subject(
        request: Request, subject: str, permanent: bool = False
    ) -> JSONResponse:
        access.check_write(caller(request), "admin", subject)
        await read(lambda s: s.find(subject, "latest", deleted=True))
        return reply(await write("delete_subject", subject=subject, permanent=permanent))

    @app.delete("/subjects/{subject}/versions/{version}")
    async def delete_version(
        request: Request, subject: str, version: str, permanent: bool = False
    ) -> JSONResponse:
        access.check_write(caller(request), "admin", subject)
        await read(lambda s: s.find(subject, version, deleted=permanent))
        return reply(
            await write("delete_version", subject=subject, version=version, permanent=permanent)
        )

    # Last: outermost, it counts every answer, those of the middlewares above included.
    app.add_middleware(RequestMetrics, service="registry", routes=app.routes)
    return app


def _with(found: Reply, func: Callable[[Any], Any]) -> Reply:
    return Reply(body=func(found.body)) if found.ok else found


def _schema(state: RegistryState, schema_id: int) -> Reply:
    text = state.schemas.get(schema_id)
    return Reply(body=text) if text is not None else error(404, 40403, "Schema not found")


def _normalise(text: str) -> tuple[str, str]:
    try:
        return compat.normalise(text)
    except compat.InvalidSchema as exc:
        raise ApiError(error(422, 42201, str(exc))) from exc


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(error(400, 400, f"request body is not JSON: {exc}")) from exc
    if not isinstance(body, dict):
        raise ApiError(error(400, 400, "request body must be a JSON object"))
    return body


async def _schema_from(request: Request) -> str:
    body = await _json_body(request)
    if (body.get("schemaType") or "AVRO") != "AVRO":
        raise ApiError(error(422, 42201, f"unsupported schemaType {body['schemaType']!r}"))
    if body.get("references"):
        raise ApiError(error(422, 42201, "schema references are not supported"))
    schema = body.get("schema")
    if not isinstance(schema, str):
        raise ApiError(error(422, 42201, "'schema' must be a string holding the schema JSON"))
    return schema


async def _level_from(request: Request) -> str:
    level = (await _json_body(request)).get("compatibility")
    if not compat.valid_level(level):
        raise ApiError(error(422, 42203, f"Invalid compatibility level {level!r}"))
    return str(level)
