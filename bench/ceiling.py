"""The ceiling of the command benchmark: the command APIs' HTTP stack with nothing behind it.

    python bench/ceiling.py --port 8200 [--idempotency-store postgresql://…]

Serves the two commands of `bench/commands.py` (POST /directives, POST
/reports/{report_id}/submissions) the way the services serve them — uvicorn as
`dondoc serve` runs it (`dondoc_platform.runtime.serve`, the same garbage-collector
settings), the platform's `create_app` with its error handlers and request metrics, the
bearer token verified and the role checked by the same dependencies, the body validated by
the services' own request models in a synchronous endpoint (FastAPI's thread pool, as the
services' endpoints) — and answers 201 without doing anything else: no event, no read model,
no database. With `--idempotency-store`, the platform's `IdempotencyMiddleware` records
each command's key and answer in that PostgreSQL database, as the services do.

`bench/commands.py --ceiling` drives it with the same load generator and the same request
bodies as the services: how many commands per second this machine could answer if the
commands cost nothing."""

import argparse
import uuid
from typing import Annotated

from fastapi import FastAPI

from dondoc_contracts import Role
from dondoc_directives.application.commands import IssueDirective
from dondoc_platform.auth import Principal, TokenVerifier
from dondoc_platform.http import IdempotencyMiddleware, authenticator, create_app, require_roles
from dondoc_platform.settings import AuthSettings, ServiceSettings
from dondoc_reports.entrypoints.schemas import SubmitReport


def ceiling_app(idempotency_store: str | None = None) -> FastAPI:
    app = create_app(service="ceiling", title="dondoc benchmark ceiling",
                     description="The command APIs' HTTP stack answering without doing the work")
    authenticated = authenticator(TokenVerifier(AuthSettings()))
    office = require_roles(authenticated, Role.OFFICE)
    submitter = require_roles(authenticated, Role.UNIT, Role.OFFICE)

    @app.post("/directives", status_code=201)
    def issue_directive(body: IssueDirective, principal: Annotated[Principal, office]) -> dict[str, str]:
        return {"directive_id": str(uuid.uuid4()), "number": body.number}

    @app.post("/reports/{report_id}/submissions", status_code=201)
    def submit_report(report_id: str, body: SubmitReport,
                      principal: Annotated[Principal, submitter]) -> dict[str, str | int]:
        return {"report_id": report_id, "lines": len(body.lines)}

    if idempotency_store:
        from dondoc_platform.projection import sql_engine
        from dondoc_platform.stores import StoreURL

        app.add_middleware(IdempotencyMiddleware,
                           engine=sql_engine(StoreURL.parse(idempotency_store).sqlalchemy_url()))
    return app


class CeilingSettings(ServiceSettings):
    service = "ceiling"


def main() -> None:
    from dondoc_platform.runtime import Service, run, tune_garbage_collector

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idempotency-store", help="a PostgreSQL URL for the idempotency records")
    args = parser.parse_args()
    settings = CeilingSettings(http_port=args.port, role="api")
    service = Service(name="ceiling", settings=settings, api=ceiling_app(args.idempotency_store))
    tune_garbage_collector()
    run(service, "api")


if __name__ == "__main__":
    main()
