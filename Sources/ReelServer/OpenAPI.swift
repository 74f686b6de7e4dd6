/// The OpenAPI 3.1 description of every route, served at `GET /openapi.json`. Tests run schemathesis against a live
/// service with it (every route but the endless subscription), so it stays true.
enum OpenAPI {
    static let document = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "Reel",
        "version": "1.0.0",
        "description": "An event-sourced store for generative-media pipelines, as an HTTP service (reel serve). Errors are JSON objects {\"error\": …} with the words the command line prints."
      },
      "components": {
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer", "description": "A token of the service's token file; open when it has none."}},
        "schemas": {
          "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
          "AppendSummary": {
            "type": "object",
            "required": ["appended", "duplicates", "rejected", "last_position", "rejections"],
            "properties": {
              "error": {"type": "string"},
              "appended": {"type": "integer", "minimum": 0},
              "duplicates": {"type": "integer", "minimum": 0},
              "rejected": {"type": "integer", "minimum": 0},
              "last_position": {"type": "integer", "minimum": 0},
              "rejections": {
                "type": "array",
                "items": {
                  "type": "object",
                  "required": ["line", "status", "reason"],
                  "properties": {"line": {"type": "integer"}, "status": {"type": "integer"}, "reason": {"type": "string"}}
                }
              }
            }
          }
        },
        "responses": {
          "BadRequest": {"description": "A malformed request.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Unauthorized": {"description": "No valid token.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Forbidden": {"description": "The token's scopes do not allow it.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "NotFound": {"description": "An id the store has never seen, or an unknown query.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "Unavailable": {"description": "The store cannot serve the request.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      },
      "security": [{"token": []}],
      "paths": {
        "/v1/events": {
          "post": {
            "summary": "Append NDJSON input lines, as reel append takes them; answered once every line is durable.",
            "parameters": [{"name": "all_or_nothing", "in": "query", "required": false, "schema": {"type": "string", "enum": ["true", "false", "1", "0"]}}],
            "requestBody": {"required": true, "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
            "responses": {
              "200": {"description": "What reel append prints, and each rejected line.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AppendSummary"}}}},
              "400": {"description": "Malformed input (a one-line or all-or-nothing body).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "409": {"description": "An expected version or an id in conflict with what is stored.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AppendSummary"}}}},
              "413": {"description": "The body is longer than the service takes.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "422": {"description": "A rule of the domain refuses the line.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AppendSummary"}}}},
              "503": {"$ref": "#/components/responses/Unavailable"}
            }
          },
          "get": {
            "summary": "Stored events as NDJSON envelopes, as reel read prints them.",
            "parameters": [
              {"name": "from", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}},
              {"name": "stream", "in": "query", "required": false, "schema": {"type": "string"}},
              {"name": "type", "in": "query", "required": false, "schema": {"type": "string"}},
              {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}}
            ],
            "responses": {
              "200": {"description": "One envelope per line.", "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"}
            }
          }
        },
        "/v1/queries/{name}": {
          "get": {
            "summary": "One query of reel query, its options as query parameters, its JSON exactly as the command prints it.",
            "parameters": [
              {"name": "name", "in": "path", "required": true, "schema": {"type": "string", "enum": ["images-by-scene", "jobs-by-frame", "frames-by-shot", "story", "bundle", "sessions", "job", "session-images", "reference-images", "jobs"]}},
              {"name": "project", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
              {"name": "frame", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
              {"name": "shot", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
              {"name": "story", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
              {"name": "user", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
              {"name": "job", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
              {"name": "session", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
              {"name": "status", "in": "query", "required": false, "schema": {"type": "string", "enum": ["pending", "processing", "completed", "failed"]}},
              {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}}
            ],
            "responses": {
              "200": {"description": "The query's JSON object (docs/QUERIES.md).", "content": {"application/json": {"schema": {"type": "object"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "404": {"$ref": "#/components/responses/NotFound"},
              "503": {"$ref": "#/components/responses/Unavailable"}
            }
          }
        },
        "/v1/subscribe": {
          "get": {
            "summary": "Server-Sent Events: every envelope from a position on, then live; the event id is the position, Last-Event-ID resumes after it.",
            "parameters": [
              {"name": "from", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}},
              {"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"}}
            ],
            "responses": {
              "200": {"description": "An endless stream of events (event: event, data: an envelope), heartbeats, and an end event with its reason.", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "503": {"$ref": "#/components/responses/Unavailable"}
            }
          }
        },
        "/v1/stats": {
          "get": {
            "summary": "What reel stats --json prints.",
            "responses": {
              "200": {"description": "Counts and sizes.", "content": {"application/json": {"schema": {"type": "object", "required": ["events", "streams", "file_bytes", "used_bytes", "types", "projections"]}}}},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"}
            }
          }
        },
        "/v1/audit/verify": {
          "get": {
            "summary": "Every check of reel audit verify (admin scope).",
            "parameters": [{"name": "log_only", "in": "query", "required": false, "schema": {"type": "string", "enum": ["true", "false", "1", "0"]}}],
            "responses": {
              "200": {"description": "ok, and each problem found.", "content": {"application/json": {"schema": {"type": "object", "required": ["ok", "problems"], "properties": {"ok": {"type": "boolean"}, "problems": {"type": "array", "items": {"type": "string"}}}}}}},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "503": {"$ref": "#/components/responses/Unavailable"}
            }
          }
        },
        "/v1/audit/history": {
          "get": {
            "summary": "Every event that touched an entity, as reel audit history --json prints it; give one of frame, job, id.",
            "parameters": [
              {"name": "frame", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
              {"name": "job", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
              {"name": "id", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}}
            ],
            "responses": {
              "200": {"description": "One envelope per line.", "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "404": {"$ref": "#/components/responses/NotFound"}
            }
          }
        },
        "/health": {
          "get": {
            "summary": "Ready when the store is open and every projection has folded the whole log. Open to all.",
            "security": [],
            "responses": {
              "200": {"description": "Ready.", "content": {"application/json": {"schema": {"type": "object", "required": ["status"]}}}},
              "503": {"description": "Not ready.", "content": {"application/json": {"schema": {"type": "object", "required": ["status"]}}}}
            }
          }
        },
        "/metrics": {
          "get": {
            "summary": "Prometheus metrics in the text format (read scope).",
            "responses": {
              "200": {"description": "The metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"}
            }
          }
        },
        "/openapi.json": {
          "get": {
            "summary": "This document. Open to all.",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object"}}}}}
          }
        }
      }
    }
    """#
}
