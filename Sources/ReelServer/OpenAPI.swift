import Foundation
import MediaPipeline

/// The OpenAPI 3.1 description of every route, served at `GET /openapi.json`.
///
/// The routes, their parameters, statuses and error bodies are written out below; the schemas of an input line (every
/// event type's `data`, field by field) and of each query (its options and the members of its answer) are made from
/// the catalogue that `reel events` and `reel query` print, so they cannot drift from what the service takes and
/// answers. Tests run schemathesis against a live service with it (every route but the endless subscription), so it
/// stays true.
enum OpenAPI {
    /// The document, built once for its text and its paths' methods.
    private static let built = build()
    static let document: String = String(decoding: JSONValue.object(built).jsonData, as: UTF8.self)

    /// Each path of the document and its methods, upper-case, in the document's order (the `Allow` of a `405`).
    static let methods: [String: [String]] = {
        let names = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        var methods: [String: [String]] = [:]
        for (path, item) in built["paths"].flatMap(\.object)?.members ?? [] {
            methods[path] = item.object?.members.map(\.key).filter(names.contains).map { $0.uppercased() } ?? []
        }
        return methods
    }()

    static func build() -> JSONObject {
        var document = object(template)
        var components = document["components"].flatMap(\.object) ?? JSONObject()
        var schemas = components["schemas"].flatMap(\.object) ?? JSONObject()
        schemas.set("InputLine", inputLine)
        components.set("schemas", .object(schemas))
        document.set("components", .object(components))

        // The queries follow the appends and reads of /v1/events.
        var paths = JSONObject()
        for (path, item) in document["paths"].flatMap(\.object)?.members ?? [] {
            paths.set(path, item)
            if path == "/v1/events" {
                for query in QueryDescription.all { paths.set("/v1/queries/\(query.name)", self.query(query)) }
            }
        }
        document.set("paths", .object(paths))
        return document
    }

    // MARK: Input lines

    /// One input line of `POST /v1/events`: one variant per event type, its `data` with exactly that type's fields.
    static var inputLine: JSONValue {
        let variants: [JSONValue] = EventDescription.all.map { event in
            var data = JSONObject()
            data.set("type", .string("object"))
            data.set("required", .array(event.requiredFields.map { .string($0.name) }))
            data.set("additionalProperties", .bool(false))
            var properties = JSONObject()
            for field in event.fields { properties.set(field.name, schema(of: field)) }
            data.set("properties", .object(properties))

            var line = JSONObject()
            line.set("title", .string(event.type))
            line.set("description", .string("\(event.summary) Stream: \(event.stream.pattern)."))
            line.set("type", .string("object"))
            line.set("required", .array([.string("type"), .string("data")]))
            line.set("additionalProperties", .bool(false))
            var members = JSONObject()
            members.set("type", object(#"{"const": \#(quoted(event.type))}"#).json)
            members.set("data", .object(data))
            for field in EventDescription.inputLineFields where field.name != "type" && field.name != "data" {
                members.set(field.name, field.name == "metadata" ? metadata : schema(of: field))
            }
            line.set("properties", .object(members))
            return .object(line)
        }
        var line = JSONObject()
        line.set(
            "description",
            .string(
                "An input line, as reel append takes it (docs/EVENTS.md): the event's type and data, and optionally its id (a retry with the same id is a no-op), the stream's expected version and metadata. null is the same as leaving an optional field out. Integers are written as whole numbers, without a fraction or an exponent (2, not 2.0): JSON Schema cannot say so."
            ))
        line.set("oneOf", .array(variants))
        return .object(line)
    }

    static var metadata: JSONValue {
        var properties = JSONObject()
        for field in EventDescription.metadataFields { properties.set(field.name, schema(of: field)) }
        var metadata = JSONObject()
        metadata.set("type", .array([.string("object"), .string("null")]))
        metadata.set("description", .string("Who and why, kept in the envelope."))
        metadata.set("additionalProperties", .bool(false))
        metadata.set("properties", .object(properties))
        return .object(metadata)
    }

    /// A field of `data` (or of the line): its JSON type; an optional field may also be `null`.
    static func schema(of field: FieldDescription) -> JSONValue {
        var schema: JSONObject
        switch field.type {
        case .uuid: schema = object(#"{"type": "string", "format": "uuid"}"#)
        case .string: schema = object(#"{"type": "string"}"#)
        case .integer: schema = object(#"{"type": "integer", "minimum": -9223372036854775808, "maximum": 9223372036854775807}"#)
        case .boolean: schema = object(#"{"type": "boolean"}"#)
        case .object: schema = object(#"{"type": "object"}"#)
        case .uuids: schema = object(#"{"type": "array", "items": {"type": "string", "format": "uuid"}}"#)
        case .integers:
            schema = object(#"{"type": "array", "items": {"type": "integer", "minimum": -9223372036854775808, "maximum": 9223372036854775807}}"#)
        }
        if field.name == "expected_version" { schema.set("minimum", .number(JSONNumber(0))) }
        if !field.isRequired, let type = schema["type"] { schema.set("type", .array([type, .string("null")])) }
        schema.set("description", .string(field.summary))
        if let value = field.defaultValue, let parsed = try? JSONReader.read(value) { schema.set("default", parsed) }
        return .object(schema)
    }

    // MARK: Queries

    /// `GET /v1/queries/NAME`: the query's options as query parameters, its answer's members as the schema.
    static func query(_ query: QueryDescription) -> JSONValue {
        var parameters: [JSONValue] = []
        for argument in query.arguments {
            var parameter = JSONObject()
            parameter.set("name", .string(argument.option))
            parameter.set("in", .string("query"))
            parameter.set("required", .bool(argument.isRequired))
            parameter.set("description", .string(argument.summary))
            switch argument.kind {
            case .id:
                parameter.set("schema", object(#"{"type": "string", "format": "uuid"}"#).json)
                if let id = exampleID(argument.option) { parameter.set("example", .string(id)) }
            case .status:
                parameter.set("schema", object(#"{"type": "string", "enum": ["pending", "processing", "completed", "failed"]}"#).json)
                parameter.set("example", .string("completed"))
            case .count:
                parameter.set("schema", object(#"{"type": "integer", "minimum": 0, "maximum": 9223372036854775807}"#).json)
            }
            parameters.append(.object(parameter))
        }
        var answer = schema(of: .object(query.output))
        answer.set("description", .string("\(query.summary) Order: \(query.order)"))
        var ok = JSONObject()
        ok.set("description", .string("The query's JSON, as reel query \(query.name) prints it (docs/QUERIES.md)."))
        var json = JSONObject()
        json.set("schema", .object(answer))
        var content = JSONObject()
        content.set("application/json", .object(json))
        ok.set("content", .object(content))

        let responses = object(
            #"""
            {
              "400": {"$ref": "#/components/responses/BadRequest"},
              "401": {"$ref": "#/components/responses/Unauthorized"},
              "403": {"$ref": "#/components/responses/Forbidden"},
              "404": {"$ref": "#/components/responses/NotFound"},
              "503": {"$ref": "#/components/responses/Unavailable"}
            }
            """#)
        var statuses = JSONObject()
        statuses.set("200", .object(ok))
        for (status, response) in responses.members where status != "404" || query.entity != nil { statuses.set(status, response) }
        var operation = JSONObject()
        operation.set("operationId", .string("query" + query.name.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()))
        operation.set("tags", .array([.string("queries")]))
        operation.set(
            "summary",
            .string(query.summary + (query.entity.map { " An id the store has never seen is 404 (\($0) <id> does not exist), not an empty answer." } ?? "")))
        operation.set("parameters", .array(parameters))
        operation.set("responses", .object(statuses))
        var item = JSONObject()
        item.set("get", .object(operation))
        return .object(item)
    }

    /// A member of a query's answer: every member is always present, a nullable one may be `null`.
    static func schema(of type: ValueType, nullable: Bool = false, summary: String? = nil) -> JSONObject {
        var schema: JSONObject
        switch type {
        case .uuid: schema = object(#"{"type": "string", "format": "uuid"}"#)
        case .string: schema = object(#"{"type": "string"}"#)
        case .integer: schema = object(#"{"type": "integer"}"#)
        case .boolean: schema = object(#"{"type": "boolean"}"#)
        case .time: schema = object(#"{"type": "string", "format": "date-time"}"#)
        case .json: schema = object(#"{"type": "object"}"#)
        case let .array(element):
            schema = object(#"{"type": "array"}"#)
            schema.set("items", .object(Self.schema(of: element)))
        case let .object(members):
            schema = object(#"{"type": "object", "additionalProperties": false}"#)
            schema.set("required", .array(members.map { .string($0.name) }))
            var properties = JSONObject()
            for member in members {
                properties.set(member.name, .object(Self.schema(of: member.type, nullable: member.isNullable, summary: member.summary)))
            }
            schema.set("properties", .object(properties))
        }
        if nullable, let type = schema["type"] { schema.set("type", .array([type, .string("null")])) }
        if let summary { schema.set("description", .string(summary)) }
        return schema
    }

    /// The id that the examples of docs/EVENTS.md give the entity an option names (`project` → their `project_id`):
    /// a store that holds those examples answers the document's examples.
    static func exampleID(_ option: String) -> String? {
        for event in EventDescription.all {
            if case let .object(data)? = try? JSONReader.read(event.exampleData), case let .string(id)? = data["\(option)_id"] { return id }
        }
        return nil
    }

    // MARK: Building

    static func object(_ text: String) -> JSONObject {
        guard case let .object(object)? = try? JSONReader.read(text) else { preconditionFailure("OpenAPI: not a JSON object: \(text.prefix(200))") }
        return object
    }

    static func quoted(_ text: String) -> String { String(decoding: JSONValue.string(text).jsonData, as: UTF8.self) }

    // MARK: The routes

    static var template: String {
        let project = exampleID("project") ?? ""
        let frame = exampleID("frame") ?? ""
        let job = exampleID("job") ?? ""
        let session = exampleID("session") ?? ""
        let renamed = EventDescription.named("session.renamed")?.exampleLine ?? ""
        return #"""
            {
              "openapi": "3.1.0",
              "info": {
                "title": "Reel",
                "version": "1.0.0",
                "description": "An event-sourced store for generative-media pipelines, as an HTTP service (reel serve). Every route but /health and /openapi.json needs a bearer token of the service's token file (when it has one) with a scope: read, append or admin (admin includes the others). Errors are JSON objects {\"error\": …} with the words the command line prints. The examples name the ids of the example events of docs/EVENTS.md."
              },
              "tags": [
                {"name": "events", "description": "Appending and reading the log."},
                {"name": "queries", "description": "The read models, as reel query prints them (docs/QUERIES.md)."},
                {"name": "operations", "description": "Statistics, audits, health, metrics."}
              ],
              "components": {
                "securitySchemes": {"token": {"type": "http", "scheme": "bearer", "description": "A token of the service's token file; every route is open when it has none."}},
                "schemas": {
                  "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string", "description": "What went wrong, as the command line words it."}}},
                  "AppendSummary": {
                    "type": "object",
                    "description": "What reel append prints, and each rejected line: its number in the body, the status it alone would be answered with (400 malformed, 409 a conflict with what is stored, 422 a broken rule) and the reason.",
                    "required": ["appended", "duplicates", "rejected", "last_position", "rejections"],
                    "additionalProperties": false,
                    "properties": {
                      "error": {"type": "string", "description": "Why the body was refused (a one-line or all-or-nothing body): the first rejected line and its reason."},
                      "appended": {"type": "integer", "minimum": 0},
                      "duplicates": {"type": "integer", "minimum": 0, "description": "Lines whose id was stored already with the same content: no-ops."},
                      "rejected": {"type": "integer", "minimum": 0},
                      "last_position": {"type": "integer", "minimum": 0, "description": "The position of the last event appended, or of the log's head when none was."},
                      "rejections": {
                        "type": "array",
                        "items": {
                          "type": "object",
                          "required": ["line", "status", "reason"],
                          "additionalProperties": false,
                          "properties": {"line": {"type": "integer", "minimum": 1}, "status": {"type": "integer", "enum": [400, 409, 422]}, "reason": {"type": "string"}}
                        }
                      }
                    }
                  },
                  "AppendRefusal": {
                    "description": "A body refused whole: the reason, and what was (not) appended.",
                    "allOf": [{"$ref": "#/components/schemas/AppendSummary"}, {"required": ["error"]}]
                  },
                  "Envelope": {
                    "type": "object",
                    "description": "A stored event, as reel read prints it: one line of GET /v1/events and /v1/audit/history, the data of each event of /v1/subscribe.",
                    "required": ["position", "stream", "version", "id", "type", "recorded_at", "data", "metadata", "hash"],
                    "properties": {
                      "position": {"type": "integer", "minimum": 1},
                      "stream": {"type": "string"},
                      "version": {"type": "integer", "minimum": 1},
                      "id": {"type": "string", "format": "uuid"},
                      "type": {"type": "string"},
                      "recorded_at": {"type": "string", "format": "date-time"},
                      "data": {"type": ["object", "string"], "description": "The event's data; hex digits for a payload that is not JSON (written through the engine directly, never by the domain)."},
                      "metadata": {"type": "object", "properties": {"actor": {"type": "string"}, "correlation_id": {"type": "string"}, "causation_id": {"type": "string"}}},
                      "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"}
                    }
                  }
                },
                "responses": {
                  "BadRequest": {"description": "A malformed request: a parameter that is missing, unknown or not of its kind.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "Unauthorized": {"description": "No valid token.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "Forbidden": {"description": "The token's scopes do not allow it.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "NotFound": {"description": "An id the store has never seen.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "Unavailable": {"description": "The store cannot serve the request.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
              },
              "security": [{"token": []}],
              "paths": {
                "/v1/events": {
                  "post": {
                    "operationId": "appendEvents",
                    "tags": ["events"],
                    "summary": "Append input lines, as reel append takes them (append scope); answered once every line is durable.",
                    "description": "Each line stands alone, as in reel append: the others are appended when one is rejected, and the answer lists the rejected ones. A body of one line that is rejected, or any rejected line with all_or_nothing, is refused whole with the status of that line (400, 409 or 422) and nothing of it is written.",
                    "parameters": [{"name": "all_or_nothing", "in": "query", "required": false, "description": "true or 1: every line is appended, or none is.", "schema": {"type": "string", "enum": ["true", "false", "1", "0"]}}],
                    "requestBody": {
                      "required": true,
                      "content": {
                        "application/x-ndjson": {
                          "schema": {"type": "string", "description": "Input lines, one JSON object a line, each an InputLine (e.g. \#(quoted(renamed).dropFirst().dropLast())); blank lines are skipped."}
                        },
                        "application/json": {
                          "schema": {"$ref": "#/components/schemas/InputLine"},
                          "example": \#(renamed)
                        }
                      }
                    },
                    "responses": {
                      "200": {"description": "What reel append prints, and each rejected line.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AppendSummary"}}}},
                      "400": {"description": "A body without an input line, or a malformed line refusing the body (one line, or all_or_nothing).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                      "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"},
                      "408": {"description": "The body did not arrive within the service's request timeout.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                      "409": {"description": "An expected version, or an id stored with other content, refusing the body.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AppendRefusal"}}}},
                      "413": {"description": "The body is longer than the service takes.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                      "422": {"description": "A rule of the domain refusing the body (docs/EVENTS.md gives each type's rules).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AppendRefusal"}}}},
                      "503": {"$ref": "#/components/responses/Unavailable"}
                    }
                  },
                  "get": {
                    "operationId": "readEvents",
                    "tags": ["events"],
                    "summary": "Stored events as NDJSON envelopes, as reel read prints them (read scope).",
                    "parameters": [
                      {"name": "from", "in": "query", "required": false, "description": "The first position (1 when left out).", "schema": {"type": "integer", "minimum": 0, "maximum": 18446744073709551615}},
                      {"name": "stream", "in": "query", "required": false, "description": "Only this stream's events.", "schema": {"type": "string"}, "example": "project-\#(project)"},
                      {"name": "type", "in": "query", "required": false, "description": "Only events of this type.", "schema": {"type": "string"}, "example": "scene_image.saved"},
                      {"name": "limit", "in": "query", "required": false, "description": "At most this many events.", "schema": {"type": "integer", "minimum": 0, "maximum": 18446744073709551615}}
                    ],
                    "responses": {
                      "200": {"description": "One Envelope a line.", "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"},
                      "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"}
                    }
                  }
                },
                "/v1/subscribe": {
                  "get": {
                    "operationId": "subscribe",
                    "tags": ["events"],
                    "summary": "Server-Sent Events (read scope): every envelope from a position on, then each new one as it is committed; the event id is the position, and Last-Event-ID resumes after it.",
                    "parameters": [
                      {"name": "from", "in": "query", "required": false, "description": "The first position (1 when left out).", "schema": {"type": "integer", "minimum": 0, "maximum": 18446744073709551615}},
                      {"name": "Last-Event-ID", "in": "header", "required": false, "description": "The last position received: the stream goes on after it (instead of from).", "schema": {"type": "string", "pattern": "^ *[0-9]+ *$"}}
                    ],
                    "responses": {
                      "200": {"description": "An endless stream: `id: P`, `event: event`, `data: <Envelope>` for each event; a comment (`: heartbeat`) on an idle connection; and, when the service ends the subscription (shutdown, a client that takes nothing), `event: end` with `data: {\"reason\": …}`.", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"},
                      "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"},
                      "503": {"description": "As many subscriptions are open as the service takes.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                    }
                  }
                },
                "/v1/stats": {
                  "get": {
                    "operationId": "stats",
                    "tags": ["operations"],
                    "summary": "What reel stats --json prints (read scope).",
                    "responses": {
                      "200": {
                        "description": "Counts and sizes.",
                        "content": {
                          "application/json": {
                            "schema": {
                              "type": "object",
                              "required": ["events", "streams", "file_bytes", "used_bytes", "types", "projections"],
                              "additionalProperties": false,
                              "properties": {
                                "events": {"type": "integer", "minimum": 0},
                                "streams": {"type": "integer", "minimum": 0},
                                "file_bytes": {"type": "integer", "minimum": 0},
                                "used_bytes": {"type": "integer", "minimum": 0},
                                "types": {"type": ["object", "null"], "additionalProperties": {"type": "integer", "minimum": 0}, "description": "Events by type; null when the type index is not served."},
                                "projections": {
                                  "type": "array",
                                  "items": {
                                    "type": "object",
                                    "required": ["name", "version", "checkpoint", "bytes", "entries"],
                                    "additionalProperties": false,
                                    "properties": {"name": {"type": "string"}, "version": {"type": "integer"}, "checkpoint": {"type": "integer", "minimum": 0}, "bytes": {"type": "integer", "minimum": 0}, "entries": {"type": "integer", "minimum": 0}}
                                  }
                                },
                                "unserved_projections": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Projections not served, each with the reason; present only when there are some."}
                              }
                            }
                          }
                        }
                      },
                      "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"}
                    }
                  }
                },
                "/v1/audit/verify": {
                  "get": {
                    "operationId": "auditVerify",
                    "tags": ["operations"],
                    "summary": "Every check of reel audit verify (admin scope): every page, the hash chain, the indexes and every read model against a fold from scratch.",
                    "parameters": [{"name": "log_only", "in": "query", "required": false, "description": "true or 1: the pages, the log and the indexes, not the read models.", "schema": {"type": "string", "enum": ["true", "false", "1", "0"]}}],
                    "responses": {
                      "200": {"description": "ok, and each problem found.", "content": {"application/json": {"schema": {"type": "object", "required": ["ok", "problems"], "additionalProperties": false, "properties": {"ok": {"type": "boolean"}, "problems": {"type": "array", "items": {"type": "string"}}}}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"},
                      "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"},
                      "503": {"$ref": "#/components/responses/Unavailable"}
                    }
                  }
                },
                "/v1/audit/history": {
                  "get": {
                    "operationId": "auditHistory",
                    "tags": ["operations"],
                    "summary": "Every event that touched an entity, as NDJSON envelopes, as reel audit history --json prints them (read scope). Give exactly one of frame, job, id.",
                    "parameters": [
                      {
                        "name": "entity",
                        "in": "query",
                        "required": true,
                        "style": "form",
                        "explode": true,
                        "description": "Exactly one of: frame=ID (the frame and its jobs), job=ID (the job and its images), id=ID (any entity).",
                        "schema": {
                          "oneOf": [
                            {"type": "object", "required": ["frame"], "additionalProperties": false, "properties": {"frame": {"type": "string", "format": "uuid"}}},
                            {"type": "object", "required": ["job"], "additionalProperties": false, "properties": {"job": {"type": "string", "format": "uuid"}}},
                            {"type": "object", "required": ["id"], "additionalProperties": false, "properties": {"id": {"type": "string", "format": "uuid"}}}
                          ]
                        },
                        "examples": {
                          "frame": {"value": {"frame": "\#(frame)"}},
                          "job": {"value": {"job": "\#(job)"}},
                          "id": {"value": {"id": "\#(session)"}}
                        }
                      }
                    ],
                    "responses": {
                      "200": {"description": "One Envelope a line.", "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"},
                      "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"},
                      "404": {"$ref": "#/components/responses/NotFound"}
                    }
                  }
                },
                "/health": {
                  "get": {
                    "operationId": "health",
                    "tags": ["operations"],
                    "summary": "Ready when the store is open and every projection has folded the whole log. Open to all.",
                    "security": [],
                    "responses": {
                      "200": {"description": "Ready.", "content": {"application/json": {"schema": {"type": "object", "required": ["status", "head"], "additionalProperties": false, "properties": {"status": {"const": "ready"}, "head": {"type": "integer", "minimum": 0}}}}}},
                      "503": {
                        "description": "Not ready: projections catching up (behind), or a store that cannot be read (error).",
                        "content": {
                          "application/json": {
                            "schema": {
                              "type": "object",
                              "required": ["status"],
                              "additionalProperties": false,
                              "properties": {"status": {"enum": ["catching up", "unavailable"]}, "head": {"type": "integer", "minimum": 0}, "behind": {"type": "array", "items": {"type": "string"}}, "error": {"type": "string"}}
                            }
                          }
                        }
                      }
                    }
                  }
                },
                "/metrics": {
                  "get": {
                    "operationId": "metrics",
                    "tags": ["operations"],
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
                    "operationId": "openapi",
                    "tags": ["operations"],
                    "summary": "This document. Open to all.",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object"}}}}}
                  }
                }
              }
            }
            """#
    }
}

extension JSONValue {
    fileprivate var object: JSONObject? {
        if case let .object(object) = self { return object }
        return nil
    }
}

extension JSONObject {
    fileprivate var json: JSONValue { .object(self) }
}
