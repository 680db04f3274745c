"""The OpenAPI document: FastAPI's, with the Report v1 request bodies the endpoints read
themselves (they stream and parse bodies by hand to refuse oversized ones early)."""

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mintrace_common.models import Report

_REPORT = {"$ref": "#/components/schemas/Report"}
REPORT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _REPORT}}}}
BATCH_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "items": _REPORT, "maxItems": 1000}},
    "application/x-ndjson": {"schema": _REPORT,
                             "description": "one report per line, at most 1,000 lines"}}}}


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
