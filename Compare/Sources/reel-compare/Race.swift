// W1, the projects design's race: 16 writers save images into the same projects at once.

import EventStore
import Foundation
import MediaPipeline
import Synchronization

struct RaceResult {
    var seconds: Double
    var saved: Int
    var found: Int
    var lost: Int { saved - found }
    var rate: Double { Double(saved) / seconds }
}

struct RacePlan {
    let writers: Int
    let perWriter: Int
    let projects: [UUID]

    var total: Int { writers * perWriter }
    var scenesPerProject: Int { (total / projects.count + 3) / 4 }

    typealias Image = (project: UUID, scene: Int, index: Int, url: String)

    /// Image `k` of writer `w`: its project, scene and image index (every image a distinct key).
    func image(_ w: Int, _ k: Int) -> Image {
        let g = w * perWriter + k
        let project = projects[g % projects.count]
        let slot = g / projects.count
        return (project, slot / 4, slot % 4, "https://cdn/race/\(project.text)/\(slot / 4)/\(slot % 4).png")
    }
}

extension RacePlan {
    /// Runs the race on one thread per writer: each saves its images in turn with `save` (given the writer's number).
    /// Returns seconds; throws, after the race, the first errors the saves met, named by `what`.
    func onThreads(_ what: String, _ save: @escaping @Sendable (_ writer: Int, _ image: Image) throws -> Void) throws -> Double {
        let errors = Errors()
        let seconds = reel_compare.onThreads(writers) { w in
            for k in 0..<perWriter {
                do {
                    try save(w, image(w, k))
                } catch {
                    errors.add("\(error)")
                }
            }
        }
        try errors.check(what)
        return seconds
    }
}

final class Errors: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ message: String) { list.withLock { if $0.count < 5 { $0.append(message) } } }
    func check(_ what: String) throws {
        let errors = list.withLock { $0 }
        if !errors.isEmpty { throw Failure(description: "\(what): \(errors.joined(separator: "; "))") }
    }
}

enum Race {
    static func reel(_ media: MediaStore, _ plan: RacePlan) async throws -> RaceResult {
        for project in plan.projects {
            try await media.append(.projectCreated(ProjectCreated(projectID: project, title: "Race")))
        }
        let seconds = try await timeAsync {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<plan.writers {
                    group.addTask {
                        for k in 0..<plan.perWriter {
                            let image = plan.image(w, k)
                            try await media.append(.sceneImageSaved(SceneImageSaved(
                                projectID: image.project, sceneIndex: image.scene, imageIndex: image.index, imageURL: image.url
                            )))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        var found = 0
        for project in plan.projects {
            found += try media.imagesByScene(project: project).scenes.reduce(0) { $0 + $1.imageURLs.count }
        }
        return RaceResult(seconds: seconds, saved: plan.total, found: found)
    }

    private static func projectList(_ plan: RacePlan) -> String { plan.projects.map { "'\($0.text)'" }.joined(separator: ",") }

    /// The projects design before the fix: read generated_output, add the URL to its scene, write the whole document back.
    static func postgresJSONB(_ conninfo: String, _ admin: PG, _ plan: RacePlan) throws -> RaceResult {
        let scenes = (0..<plan.scenesPerProject).map { "{\"index\": \($0), \"imageUrls\": []}" }.joined(separator: ", ")
        for project in plan.projects {
            try admin.exec("""
                INSERT INTO content.content_creation_requests (id, title, generated_output)
                VALUES ('\(project.text)', 'Race', '{"scenes": [\(scenes)]}')
                """)
        }
        let connections = try (0..<plan.writers).map { _ in try PG(conninfo) }
        for pg in connections {
            try pg.prepare("read", "SELECT generated_output FROM content.content_creation_requests WHERE id = $1")
            try pg.prepare("write", "UPDATE content.content_creation_requests SET generated_output = $2, updated_at = now() WHERE id = $1")
        }
        let seconds = try plan.onThreads("PostgreSQL JSONB race") { w, image in
            let pg = connections[w]
            let rows = try pg.run("read", [image.project.text])
            var output = try JSONSerialization.jsonObject(with: Data(rows[0][0]!.utf8)) as! [String: Any]
            var list = output["scenes"] as! [[String: Any]]
            var urls = list[image.scene]["imageUrls"] as! [String]
            urls.append(image.url)
            list[image.scene]["imageUrls"] = urls
            output["scenes"] = list
            let text = String(decoding: try JSONSerialization.data(withJSONObject: output), as: UTF8.self)
            try pg.command("write", [image.project.text, text])
        }
        let found = try admin.rows("""
            SELECT coalesce(sum(jsonb_array_length(s->'imageUrls')), 0) FROM content.content_creation_requests c,
            jsonb_array_elements(c.generated_output->'scenes') s WHERE c.id IN (\(projectList(plan)))
            """)
        return RaceResult(seconds: seconds, saved: plan.total, found: Int(found[0][0]!)!)
    }

    /// The projects design after the fix: one row per image, an upsert on (project, scene, image index).
    static func postgresRows(_ conninfo: String, _ admin: PG, _ plan: RacePlan) throws -> RaceResult {
        for project in plan.projects {
            try admin.exec("INSERT INTO content.content_creation_requests (id, title) VALUES ('\(project.text)', 'Race')")
        }
        let connections = try (0..<plan.writers).map { _ in try PG(conninfo) }
        for pg in connections {
            try pg.prepare("save", """
                INSERT INTO content.generated_images (content_creation_request_id, scene_index, image_url, image_index)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (content_creation_request_id, scene_index, image_index)
                DO UPDATE SET image_url = EXCLUDED.image_url, updated_at = now()
                """)
        }
        let seconds = try plan.onThreads("PostgreSQL rows race") { w, image in
            try connections[w].command("save", [image.project.text, String(image.scene), image.url, String(image.index)])
        }
        let found = try admin.rows("SELECT count(*) FROM content.generated_images WHERE content_creation_request_id IN (\(projectList(plan)))")
        return RaceResult(seconds: seconds, saved: plan.total, found: Int(found[0][0]!)!)
    }

    static func sqliteRows(_ directory: String, _ admin: SQLite, _ plan: RacePlan) throws -> RaceResult {
        for project in plan.projects {
            let now = timestamp(0)
            try admin.exec("""
                INSERT INTO content.content_creation_requests (id, title, created_at, updated_at)
                VALUES ('\(project.text)', 'Race', '\(now)', '\(now)')
                """)
        }
        // One writer connection shared by the 16 threads under a lock, as GRDB's DatabaseQueue/DatabasePool writer
        // serialises writes in-process: SQLite has one writer at a time anyway, and 16 connections of their own would
        // measure its busy-handler sleeps rather than its commits.
        let writer = try SQLiteSide.open(directory)
        try writer.prepare("save", """
            INSERT INTO content.generated_images (id, content_creation_request_id, scene_index, image_url, image_index, created_at, updated_at)
            VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now'))
            ON CONFLICT (content_creation_request_id, scene_index, image_index)
            DO UPDATE SET image_url = excluded.image_url, updated_at = excluded.updated_at
            """)
        let lock = NSLock()
        let seconds = try plan.onThreads("SQLite rows race") { _, image in
            let id = UUID().text
            lock.lock()
            defer { lock.unlock() }
            try writer.command("save", [.text(id), .text(image.project.text), .int(image.scene), .text(image.url), .int(image.index)])
        }
        let found = try admin.rows("SELECT count(*) FROM content.generated_images WHERE content_creation_request_id IN (\(projectList(plan)))")
        return RaceResult(seconds: seconds, saved: plan.total, found: Int(found[0][0]!)!)
    }
}
