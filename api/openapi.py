"""What /openapi.json says beyond each route: readable operation ids, one problem model on every
error answer, and links from a created job or data set (or the first of a page) to what can be
done with it next.

Each is derived from the routes when the schema is first built, so a route added later gets
them without opting in.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.errors import Problem

REF = "#/components/schemas/{model}"
# FastAPI's own error models, which our handlers never send (api/errors.py answers instead).
FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")
# A path parameter, and where an answer names one: the created resource's ``id``, and the first
# item of a page. Every operation with the parameter is linked from both answers (OpenAPI links,
# followed by clients and by schemathesis).
NAMED_BY = {"job_id": {"create_job": "$response.body#/id", "list_jobs": "$response.body#/items/0/id"},
            "dataset_id": {"upload_dataset": "$response.body#/id",
                           "list_datasets": "$response.body#/items/0/id"}}


def operation_id(route: APIRoute) -> str:
    """The route's function name, e.g. ``create_job``: stable, and what a generated client calls."""
    return route.name


def install(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete(build())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any]) -> None:
    operations = [op for item in schema["paths"].values() for op in item.values()]
    _add_problem(schema, operations)
    _add_links(schema, operations)


def _add_problem(schema: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    """Every 4xx and 5xx answer is a Problem, unless the route gave it another model."""
    models = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template=REF)
    models.update(problem.pop("$defs", {}))
    models["Problem"] = problem
    body = {"application/json": {"schema": {"$ref": REF.format(model="Problem")}}}
    fastapi_refs = {REF.format(model=m) for m in FASTAPI_ERRORS}
    for op in operations:
        for code, response in op["responses"].items():
            if code[0] not in "45":
                continue
            content = response.get("content", {}).get("application/json", {})
            if not content or content.get("schema", {}).get("$ref") in fastapi_refs:
                response["content"] = body
    for name in FASTAPI_ERRORS:
        models.pop(name, None)


def _add_links(schema: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    by_id = {op["operationId"]: op for op in operations}
    for param, sources in NAMED_BY.items():
        targets = [op["operationId"] for op in operations
                   if any(p["in"] == "path" and p["name"] == param for p in op.get("parameters", []))]
        for source, value in sources.items():
            for code, response in by_id[source]["responses"].items():
                if code.startswith("2"):
                    links = response.setdefault("links", {})
                    for target in targets:
                        where = value.removeprefix("$response.body#")
                        links[target] = {"operationId": target, "parameters": {f"path.{param}": value},
                                         "description": f"`{param}` from the answer's {where}"}
