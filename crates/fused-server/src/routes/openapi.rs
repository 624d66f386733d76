//! `GET /openapi.json`: a hand-written OpenAPI 3.1 description of the HTTP API.

use axum::Json;
use serde_json::{json, Value};

fn tile_params() -> Value {
    json!([
        {"name": "z", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0, "maximum": 30}},
        {"name": "x", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}},
        {"name": "y", "in": "path", "required": true, "description": "may end in a format extension: `12.mvt`", "schema": {"type": "string"}}
    ])
}

fn output_params() -> Value {
    json!([
        {"name": "format", "in": "query", "description": "comma-separated preference list: parquet, geojson, json, csv, arrow, feather, mvt, png, tiff, npy", "schema": {"type": "string"}},
        {"name": "dtype_out_vector", "in": "query", "description": "legacy vector format choice", "schema": {"type": "string"}},
        {"name": "dtype_out_raster", "in": "query", "description": "legacy raster format choice", "schema": {"type": "string"}},
        {"name": "cache_max_age", "in": "query", "description": "result cache lifetime: \"10s\", \"30m\", \"48h\", \"90d\" or seconds (default: the UDF's own, else 90 days); 0 bypasses the cache", "schema": {"type": "string"}},
        {"name": "cache", "in": "query", "description": "false bypasses the result cache (no read, no write)", "schema": {"type": "boolean"}},
        {"name": "If-None-Match", "in": "header", "description": "an ETag of an earlier answer: 304 Not Modified when it still matches", "schema": {"type": "string"}},
        {"name": "udf parameters", "in": "query", "description": "every other query parameter is a UDF parameter, converted by the UDF's annotation; unknown names are ignored and listed in x-fused-metadata.ignored_parameters", "schema": {"type": "string"}}
    ])
}

fn run_responses() -> Value {
    json!({
        "200": {"description": "the encoded result; headers x-fused-metadata, x-fused-cached (true when served from the result cache) and ETag", "headers": {"x-fused-metadata": {"$ref": "#/components/headers/Metadata"}, "x-fused-cached": {"schema": {"type": "string", "enum": ["true", "false"]}}, "ETag": {"schema": {"type": "string"}}}},
        "304": {"description": "If-None-Match matched the ETag: empty body, same headers"},
        "400": {"description": "bad tile, body or impossible format", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "401": {"description": "missing or invalid login"},
        "404": {"description": "unknown UDF or token (also another user's private UDF)"},
        "422": {"description": "a parameter value does not convert (ParameterError) or the UDF raised (UdfError)", "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/ParameterError"}, {"$ref": "#/components/schemas/UdfError"}]}}}},
        "502": {"description": "the worker crashed while running the UDF (error_type worker_crash)"},
        "503": {"description": "no worker can be started, or shutting down"}
    })
}

fn concat(a: Value, b: Value) -> Value {
    let mut v = a.as_array().cloned().unwrap_or_default();
    v.extend(b.as_array().cloned().unwrap_or_default());
    Value::Array(v)
}

pub fn document() -> Value {
    let bearer = json!([{"bearer": []}]);
    let run_body = json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunBody"}}}});
    let saved_path = json!([
        {"name": "email", "in": "path", "required": true, "schema": {"type": "string"}},
        {"name": "name", "in": "path", "required": true, "description": "may end in a format extension: `name.parquet`", "schema": {"type": "string"}}
    ]);
    let token =
        json!([{"name": "token", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "fused-rs server", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Runs UDFs as HTTP endpoints on a pool of warm Python workers."},
        "paths": {
            "/health": {"get": {"summary": "liveness and worker counts", "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (text format 0.0.4; no login, for a private network)", "responses": {"200": {"description": "fused_requests_total{status}, fused_request_duration_seconds, fused_queue_depth, fused_workers_*, fused_worker_restarts_total, fused_cache_*", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/api/v1/udf/saved/{email}/{name}/cache": {"delete": {"summary": "remove the cached results of the caller's saved UDF (all, or one tile with x, y, z)", "security": bearer, "parameters": concat(saved_path.clone(), json!([{"name": "x", "in": "query", "schema": {"type": "integer"}}, {"name": "y", "in": "query", "schema": {"type": "integer"}}, {"name": "z", "in": "query", "schema": {"type": "integer"}}])), "responses": {"200": {"description": "{\"removed\": N}"}, "401": {"description": "missing or invalid login"}, "404": {"description": "unknown UDF, or another user's"}}}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/api/v1/run/udf": {"post": {"summary": "run UDF code in File mode", "security": bearer, "parameters": output_params(), "requestBody": run_body, "responses": run_responses()}},
            "/api/v1/run/udf/tiles/{z}/{x}/{y}": {"post": {"summary": "run UDF code in Tile mode", "security": bearer, "parameters": concat(tile_params(), output_params()), "requestBody": run_body, "responses": run_responses()}},
            "/api/v1/run/udf/saved/{email}/{name}": {"get": {"summary": "run the caller's saved UDF in File mode", "security": bearer, "parameters": concat(saved_path.clone(), output_params()), "responses": run_responses()}},
            "/api/v1/run/udf/saved/{email}/{name}/tiles/{z}/{x}/{y}": {"get": {"summary": "run the caller's saved UDF in Tile mode", "security": bearer, "parameters": concat(concat(saved_path, tile_params()), output_params()), "responses": run_responses()}},
            "/shared/{token}/run/file": {"get": {"summary": "run a shared UDF in File mode (no login; `file.<ext>` picks a format)", "parameters": concat(token.clone(), output_params()), "responses": run_responses()}},
            "/shared/{token}/run/tiles/{z}/{x}/{y}": {"get": {"summary": "run a shared UDF in Tile mode (no login)", "parameters": concat(concat(token, tile_params()), output_params()), "responses": run_responses()}},
            "/oauth/device/code": {"post": {"summary": "RFC 8628 device authorization request (client_id=fused)", "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"client_id": {"type": "string"}, "scope": {"type": "string"}}, "required": ["client_id"]}}}}, "responses": {"200": {"description": "device_code, user_code, verification_uri, verification_uri_complete, expires_in, interval"}, "400": {"description": "RFC 6749 error response"}}}},
            "/oauth/token": {"post": {"summary": "RFC 8628 device access token request, and refresh_token grant", "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"grant_type": {"type": "string"}, "device_code": {"type": "string"}, "refresh_token": {"type": "string"}, "client_id": {"type": "string"}}, "required": ["grant_type", "client_id"]}}}}, "responses": {"200": {"description": "access_token, token_type, expires_in, refresh_token"}, "400": {"description": "authorization_pending, slow_down, access_denied, expired_token, invalid_grant (RFC 6749 error response)"}}}},
            "/device": {
                "get": {"summary": "device approval page (HTML form)", "responses": {"200": {"description": "text/html"}}},
                "post": {"summary": "approve or deny a device code", "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"user_code": {"type": "string"}, "api_key": {"type": "string"}}, "required": ["user_code", "api_key"]}}}}, "responses": {"200": {"description": "text/html confirmation"}}}
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an API key (fused-server admin create-user) or an OAuth access token"}},
            "headers": {"Metadata": {"description": "JSON: stdout, stderr, has_exception, exception_class, errormsg, lineno, error_type, request_id, ignored_parameters", "schema": {"type": "string"}}},
            "schemas": {
                "Health": {"type": "object", "properties": {"status": {"const": "ok"}, "version": {"type": "string"}, "workers": {"type": "object", "properties": {"configured": {"type": "integer"}, "alive": {"type": "integer"}}}}},
                "RunBody": {"type": "object", "required": ["udf"], "properties": {
                    "udf": {"$ref": "#/components/schemas/UdfPackage"},
                    "schema": {"type": "object", "additionalProperties": {"type": "string"}, "description": "parameter name -> type spec (fused-core grammar); without it values are checked in the worker"},
                    "parameters": {"type": "object", "description": "values: strings (string rules) or JSON"},
                    "format": {"type": "string"}, "dtype_out_vector": {"type": "string"}, "dtype_out_raster": {"type": "string"}}},
                "UdfPackage": {"type": "object", "required": ["name", "code"], "properties": {
                    "name": {"type": "string"}, "code": {"type": "string"}, "entrypoint": {"type": ["string", "null"]},
                    "source_file": {"type": "string"},
                    "headers": {"type": "array", "items": {"type": "object", "required": ["module_name", "source_code"], "properties": {"module_name": {"type": "string"}, "source_code": {"type": "string"}, "source_file": {"type": "string"}}}},
                    "parameters": {"type": "object"}, "metadata": {"type": "object"}, "readme": {"type": ["string", "null"]}, "type": {"type": "string"}}},
                "Error": {"type": "object", "required": ["error", "error_type", "error_description"], "properties": {"error": {"type": "string"}, "error_type": {"type": "string"}, "error_description": {"type": "string"}, "request_id": {"type": "string"}}},
                "ParameterError": {"type": "object", "required": ["error", "parameter", "expected", "value"], "properties": {"error": {"type": "string"}, "parameter": {"type": "string"}, "expected": {"type": "string"}, "value": {"type": "string"}}},
                "UdfError": {"type": "object", "required": ["error", "exception_class", "errormsg"], "properties": {"error": {"type": "string"}, "error_type": {"type": "string"}, "exception_class": {"type": "string"}, "errormsg": {"type": "string"}, "lineno": {"type": ["integer", "null"]}, "traceback": {"type": "string"}, "stdout": {"type": "string"}, "stderr": {"type": "string"}}}
            }
        }
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        if let Some(more) = super::tilesets::openapi_paths().as_object() {
            paths.extend(more.clone());
        }
        if let Some(more) = super::jobs::openapi_paths().as_object() {
            paths.extend(more.clone());
        }
    }
    doc
}

pub async fn openapi() -> Json<Value> {
    Json(document())
}
