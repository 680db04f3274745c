"""The OpenAPI document: FastAPI's, with the Report v1 request bodies the endpoints read
themselves (they stream and parse bodies by hand to refuse oversized ones early), and the links
from a receipt to the report's status and cancellation (followed by stateful API fuzzers)."""

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mintrace_common.examples import REPORT as EXAMPLE
from mintrace_common.models import Report

_REPORT = {"$ref": "#/components/schemas/Report"}
REPORT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _REPORT, "example": EXAMPLE}}}}
BATCH_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "items": _REPORT, "maxItems": 1000},
                         "example": [EXAMPLE]},
    "application/x-ndjson": {"schema": _REPORT,
                             "description": "one report per line, at most 1,000 lines"}}}}
_STATUS, _CANCEL = ("/v1/reports/{report_id}", "get"), ("/v1/reports/{report_id}/cancel", "post")
# (path, method, status) -> link name -> the operation it leads to, given the answer's report_id
LINKS = {("/v1/reports", "post", "202"): {"ReportStatus": _STATUS, "CancelReport": _CANCEL},
         ("/v1/reports/{report_id}", "get", "200"): {"CancelReport": _CANCEL},
         ("/v1/reports/{report_id}/cancel", "post", "202"): {"ReportStatus": _STATUS}}


def _link(doc: dict) -> None:
    paths = doc.get("paths", {})
    for (path, method, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: {"operationId": paths[target][verb]["operationId"],
                   "parameters": {"report_id": "$response.body#/report_id"}}
            for name, (target, verb) in links.items() if verb in paths.get(target, {})}


def install(app: FastAPI) -> None:
    """Serve the document with Report v1 and its parts under components.schemas."""

    def document() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            report = Report.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(report.pop("$defs", {}))
            schemas["Report"] = report
            _link(doc)
            # Declared so that /docs offers "Authorize" and clients know how to authenticate.
            doc["components"]["securitySchemes"] = {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A producer key: `mintrace keys issue --producer <USCC>`"}}
            for path, operations in doc.get("paths", {}).items():
                if path.startswith("/v1/"):
                    for op in operations.values():
                        op.setdefault("security", [{"bearer": []}])
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = document
