// pg-append-service: W7's PostgreSQL side. `POST /v1/events` takes one input line, as `reel serve` does, and saves a
// `scene_image.saved` with the projects design's row-per-image upsert (or a `project.created` as its row), through a
// postgres-nio connection pool, autocommit with PostgreSQL's default durability (synchronous_commit on): it answers
// once the commit is flushed. A small Hummingbird service, as a team on the projects design would write it; it logs
// nothing per request. Started (and stopped with SIGTERM) by reel-compare.
//
//   pg-append-service --pg-host H --pg-port P --pg-user U --pg-database D --schema S [--pool N] [--port 0]
//
// Prints {"listening":"http://127.0.0.1:PORT"} on stdout once it is ready.

import Foundation
import Hummingbird
import NIOCore
import PostgresNIO

var pgHost = "127.0.0.1"
var pgPort = 5432
var pgUser = "postgres"
var pgDatabase = "postgres"
var schema = "public"
var poolSize = 64
var listenPort = 0
do {
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let arg = args.next() {
        guard let value = args.next() else {
            FileHandle.standardError.write(Data("pg-append-service: \(arg) needs a value\n".utf8))
            exit(2)
        }
        switch arg {
        case "--pg-host": pgHost = value
        case "--pg-port": pgPort = Int(value) ?? pgPort
        case "--pg-user": pgUser = value
        case "--pg-database": pgDatabase = value
        case "--schema": schema = value
        case "--pool": poolSize = max(1, Int(value) ?? poolSize)
        case "--port": listenPort = Int(value) ?? 0
        default:
            FileHandle.standardError.write(Data("usage: pg-append-service --pg-host H --pg-port P --pg-user U --pg-database D --schema S [--pool N] [--port 0]\n".utf8))
            exit(2)
        }
    }
}

/// The projects design's save after the fix: one row per image, an upsert on (project, scene, image index).
struct SaveImage: PostgresPreparedStatement {
    static let name = "save_image"
    static let sql = """
        INSERT INTO generated_images (content_creation_request_id, scene_index, image_url, image_index)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (content_creation_request_id, scene_index, image_index)
        DO UPDATE SET image_url = EXCLUDED.image_url, updated_at = now()
        """
    typealias Row = Void

    let project: UUID
    let scene: Int32
    let url: String
    let index: Int32

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(project)
        bindings.append(scene)
        bindings.append(url)
        bindings.append(index)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

struct CreateProject: PostgresPreparedStatement {
    static let name = "create_project"
    static let sql = "INSERT INTO content_creation_requests (id, user_id, title) VALUES ($1, $2, $3)"
    typealias Row = Void

    let project: UUID
    let user: UUID?
    let title: String?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(project)
        bindings.append(user)
        bindings.append(title)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// An input line: `{"type": …, "data": {…}}`.
struct InputLine: Decodable {
    struct Fields: Decodable {
        let project_id: UUID
        let scene_index: Int?
        let image_index: Int?
        let image_url: String?
        let user_id: UUID?
        let title: String?
    }

    let type: String
    let data: Fields
}

struct Rejected: Error {
    let status: HTTPResponse.Status
    let reason: String
}

func answer(_ status: HTTPResponse.Status, appended: Int, reason: String? = nil) -> Response {
    var text = "{\"appended\":\(appended),\"duplicates\":0,\"rejected\":\(reason == nil ? 0 : 1)"
    if let reason {
        let escaped = reason.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: " ")
        text += ",\"error\":\"\(escaped)\""
    }
    text += "}\n"
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
}

var configuration = PostgresClient.Configuration(
    host: pgHost, port: pgPort, username: pgUser, password: nil, database: pgDatabase, tls: .disable)
configuration.options.maximumConnections = poolSize
configuration.options.minimumConnections = poolSize
configuration.options.additionalStartupParameters = [("search_path", schema)]
let client = PostgresClient(configuration: configuration)
let decoder = JSONDecoder()

let router = Router()
router.post("/v1/events") { request, _ -> Response in
    let body = try await request.body.collect(upTo: 1 << 20)
    // Each line on its own, in order, as `reel serve` takes them (W7 sends one a request).
    var appended = 0
    for line in body.readableBytesView.split(separator: 0x0A) where line.contains(where: { $0 != 0x20 && $0 != 0x0D }) {
        do {
            try await save(Data(line))
            appended += 1
        } catch let rejected as Rejected {
            return answer(rejected.status, appended: appended, reason: rejected.reason)
        } catch let error as PSQLError {
            // 23503: the project does not exist (the foreign key); 23505: a project created twice.
            let state = error.serverInfo?[.sqlState]
            let status: HTTPResponse.Status = state == "23503" || state == "23505" ? .unprocessableContent : .serviceUnavailable
            return answer(status, appended: appended, reason: error.serverInfo?[.message] ?? "\(error)")
        }
    }
    return answer(.ok, appended: appended)
}

/// Saves one input line: the image's row (the upsert) or the project's.
@Sendable func save(_ bytes: Data) async throws {
    let line: InputLine
    do {
        line = try decoder.decode(InputLine.self, from: bytes)
    } catch {
        throw Rejected(status: .badRequest, reason: "the line is not an input line: \(error)")
    }
    switch line.type {
    case "scene_image.saved":
        guard let scene = line.data.scene_index, let url = line.data.image_url else {
            throw Rejected(status: .badRequest, reason: "scene_image.saved: data.scene_index and data.image_url are required")
        }
        let index = line.data.image_index ?? 0
        guard scene >= 0, index >= 0, !url.isEmpty, let scene32 = Int32(exactly: scene), let index32 = Int32(exactly: index) else {
            throw Rejected(status: .unprocessableContent, reason: "scene_image.saved rejected: a negative index or an empty URL")
        }
        for try await _ in try await client.execute(SaveImage(project: line.data.project_id, scene: scene32, url: url, index: index32)) {}
    case "project.created":
        for try await _ in try await client.execute(CreateProject(project: line.data.project_id, user: line.data.user_id, title: line.data.title)) {}
    default:
        throw Rejected(status: .badRequest, reason: "this service takes scene_image.saved and project.created, not \(line.type)")
    }
}

let application = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: listenPort), serverName: "pg-append-service", backlog: 1_024),
    services: [client],
    onServerRunning: { channel in
        FileHandle.standardOutput.write(Data("{\"listening\":\"http://127.0.0.1:\(channel.localAddress?.port ?? 0)\"}\n".utf8))
    }
)
try await application.runService()
