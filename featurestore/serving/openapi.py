"""GET /openapi.json and /docs: what `featurestore serve` answers, as an OpenAPI 3.1 document.

Feast's server (FastAPI) describes itself at the same two paths. Here the document is written
out, one entry per endpoint of featurestore.serving.app, and /docs renders it as a plain HTML
page (no script from a CDN: the server runs without network).
"""
from __future__ import annotations

import html
import json

_ERROR = {"description": "Feast's error form: a JSON string holding {module, class, message, status}; Feast's "
                         "clients raise it as that feast.errors exception",
          "content": {"application/json": {"schema": {"type": "string"}}}}
_COLUMNS = {"type": "object", "additionalProperties": {"type": "array"},
            "description": "column name -> one value per row: join keys, the event time (ISO-8601 or epoch "
                           "seconds), the features; bytes in base64, maps as JSON objects or text"}
_WRITTEN = {"type": "object", "properties": {"rows": {"type": "integer"},
                                             "written": {"type": "object",
                                                         "additionalProperties": {"type": "integer"}}}}
_MATERIALIZED = {"type": "object", "properties": {"status": {"const": "materialized"},
                                                  "feature_views": {"type": "array", "items": {"type": "string"}}}}


def _post(summary: str, request: dict, answer: dict, errors=(400, 404, 413, 422, 503)) -> dict:
    responses = {"200": {"description": "done", "content": {"application/json": {"schema": answer}}}}
    responses.update({str(status): _ERROR for status in errors})
    return {"post": {"summary": summary, "requestBody": {"required": True, "content": {
        "application/json": {"schema": request}}}, "responses": responses}}


def _get(summary: str, kind: str = "application/json") -> dict:
    return {"get": {"summary": summary, "responses": {"200": {"description": "ok", "content": {kind: {}}}}}}


PATHS = {
    "/get-online-features": _post(
        "Feature values of entity rows, from the online store (Feast's request and answer)",
        {"type": "object", "properties": {
            "entities": {"type": "object", "additionalProperties": {"type": "array"},
                         "description": "join key (and request field) -> one value per entity row"},
            "features": {"type": "array", "items": {"type": "string"}, "description": '"view:feature" references'},
            "feature_service": {"type": "string"},
            "full_feature_names": {"type": "boolean", "default": False}}, "required": ["entities"]},
        {"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"feature_names": {"type": "array"}}},
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "values": {"type": "array"},
                "statuses": {"type": "array", "items": {"enum": ["PRESENT", "NULL_VALUE", "NOT_FOUND",
                                                                 "OUTSIDE_MAX_AGE"]}},
                "event_timestamps": {"type": "array", "items": {"type": "string"}}}}}}}),
    "/push": _post(
        "Rows to every feature view reading a push source, online; all of them or none",
        {"type": "object", "properties": {"push_source_name": {"type": "string"}, "df": _COLUMNS,
                                          "to": {"enum": ["online"], "default": "online"}},
         "required": ["push_source_name", "df"]}, _WRITTEN, errors=(400, 404, 409, 413, 422, 503)),
    "/write-to-online-store": _post(
        "Rows of one feature view, online",
        {"type": "object", "properties": {"feature_view_name": {"type": "string"}, "df": _COLUMNS,
                                          "allow_registry_cache": {"type": "boolean"}},
         "required": ["feature_view_name", "df"]}, _WRITTEN, errors=(400, 404, 409, 413, 422, 503)),
    "/materialize": _post(
        "Run `featurestore materialize START END` (a Spark job) and answer when it is done",
        {"type": "object", "properties": {"start_ts": {"type": "string"}, "end_ts": {"type": "string"},
                                          "feature_views": {"type": "array", "items": {"type": "string"}}},
         "required": ["start_ts", "end_ts"]}, _MATERIALIZED, errors=(400, 404, 409, 422)),
    "/materialize-incremental": _post(
        "Run `featurestore materialize-incremental END` (a Spark job) and answer when it is done",
        {"type": "object", "properties": {"end_ts": {"type": "string"},
                                          "feature_views": {"type": "array", "items": {"type": "string"}}},
         "required": ["end_ts"]}, _MATERIALIZED, errors=(400, 404, 409, 422)),
    "/health": _get("The server process answers (no store is touched)"),
    "/ready": _get("The registry parses and the online store answers; 503 otherwise"),
    "/metrics": _get("Prometheus metrics: requests, their latency, the online store's time", "text/plain"),
    "/openapi.json": _get("This document"),
    "/docs": _get("This document as a page", "text/html"),
}


def document(version: str) -> dict:
    return {"openapi": "3.1.0",
            "info": {"title": "featurestore serve", "version": version,
                     "description": "Feast's feature server endpoints, served by featurestore (docs/serving.md)"},
            "paths": PATHS}


def docs_page(version: str) -> str:
    """The document as one HTML page: each endpoint, its summary, its body's schema."""
    rows = []
    for path, methods in PATHS.items():
        for method, entry in methods.items():
            body = entry.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            schema = f"<pre>{html.escape(json.dumps(body, indent=2))}</pre>" if body else ""
            rows.append(f"<h2>{method.upper()} {html.escape(path)}</h2><p>{html.escape(entry['summary'])}</p>{schema}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>featurestore serve {html.escape(version)}</title>"
            f"</head><body><h1>featurestore serve</h1><p>The machine-readable form: "
            f"<a href='/openapi.json'>/openapi.json</a></p>{''.join(rows)}</body></html>")
