// The peers: PostgreSQL 15 through libpq and SQLite through its C API, each with the relational designs' schema.

import CSQLite3
import Foundation

// MARK: - PostgreSQL

enum Postgres {
    static let chunk = 50_000

    /// Creates the schema (not timed), then loads every table with COPY in transactions of `chunk` rows and sets the
    /// frames' approved jobs with one UPDATE … FROM. Returns seconds for the load.
    static func load(_ pg: PG, _ rows: FoldedRows) throws -> Double {
        try pg.exec(Schema.postgres)
        return try time {
            for (schema, tables) in [("studio", rows.studioTables), ("content", rows.contentTables)] {
                for table in tables {
                    var start = 0
                    while start < table.rows.count {
                        let end = min(table.rows.count, start + chunk)
                        var buffer = CopyBuffer()
                        buffer.bytes.reserveCapacity((end - start) * 200)
                        for row in table.rows[start..<end] {
                            for value in row { buffer.field(value) }
                            buffer.endRow()
                        }
                        try pg.exec("BEGIN")
                        try pg.copy("\(schema).\(table.name)", table.columns.joined(separator: ", "), buffer.bytes)
                        try pg.exec("COMMIT")
                        start = end
                    }
                }
            }
            var buffer = CopyBuffer()
            for (frame, job) in rows.frameApprovals {
                buffer.field(frame)
                buffer.field(job)
                buffer.endRow()
            }
            try pg.exec("BEGIN; CREATE TEMP TABLE approvals (frame_id uuid, job_id uuid) ON COMMIT DROP")
            try pg.copy("approvals", "frame_id, job_id", buffer.bytes)
            try pg.exec("UPDATE studio.frames f SET current_job_id = a.job_id FROM approvals a WHERE f.id = a.frame_id; COMMIT")
        }
    }

    /// Bytes of the tables, their indexes and TOAST (pg_total_relation_size), and the row count.
    static func bytes(_ pg: PG) throws -> (bytes: Int, rows: Int) {
        let r = try pg.rows("""
            SELECT sum(pg_total_relation_size(c.oid))::bigint, sum(c.reltuples)::bigint FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('studio', 'content') AND c.relkind = 'r'
            """)
        return (Int(r[0][0]!)!, Int(r[0][1]!)!)
    }

    static func prepareQueries(_ pg: PG) throws {
        for (query, sql) in PeerQuerySQL.postgres { try pg.prepare("q\(QueryName.allCases.firstIndex(of: query)!)", sql) }
    }

    static func query(_ pg: PG, _ query: QueryName, _ parameter: String, sign: Bool = false) throws -> String {
        let rows = try pg.run("q\(QueryName.allCases.firstIndex(of: query)!)", [parameter])
        return PeerQuerySQL.shape(query, rows, arrays: .postgres, sign: sign)
    }

    /// W4: the read models Reel keeps, recomputed in SQL from the rows in one transaction.
    static let readModels = """
    BEGIN;
    DROP TABLE IF EXISTS studio.rm_images_by_scene, studio.rm_frame_jobs, studio.rm_sessions, studio.rm_scenelet_order, studio.rm_job_refs;
    CREATE TABLE studio.rm_images_by_scene AS
      SELECT content_creation_request_id AS project_id, scene_index, array_agg(image_url ORDER BY image_index) AS image_urls
      FROM content.generated_images GROUP BY 1, 2;
    CREATE INDEX ON studio.rm_images_by_scene (project_id, scene_index);
    CREATE TABLE studio.rm_frame_jobs AS
      SELECT f.id AS frame_id, f.frame_type, f.status, f.current_job_id,
             (SELECT j.id FROM studio.generation_jobs j WHERE j.frame_id = f.id AND j.status = 'completed'
              ORDER BY j.completed_at DESC LIMIT 1) AS latest_completed_job_id,
             (SELECT array_agg(j.id ORDER BY j.created_at) FROM studio.generation_jobs j WHERE j.frame_id = f.id) AS job_ids
      FROM studio.frames f;
    CREATE INDEX ON studio.rm_frame_jobs (frame_id);
    CREATE TABLE studio.rm_sessions AS
      SELECT s.id AS session_id, s.user_id, s.title,
             (SELECT gi.gcp_url FROM studio.generated_images gi WHERE gi.session_id = s.id ORDER BY gi.created_at LIMIT 1) AS thumbnail_url,
             (SELECT count(*) FROM studio.generated_images gi WHERE gi.session_id = s.id) AS generated_count,
             greatest(s.updated_at, (SELECT max(gi.created_at) FROM studio.generated_images gi WHERE gi.session_id = s.id)) AS updated_at
      FROM studio.sessions s;
    CREATE INDEX ON studio.rm_sessions (user_id, updated_at DESC);
    CREATE TABLE studio.rm_scenelet_order AS
      WITH RECURSIVE tree AS (
        SELECT id, story_id, ARRAY[created_at] AS path FROM studio.scenelets WHERE parent_id IS NULL
        UNION ALL
        SELECT c.id, c.story_id, t.path || c.created_at FROM studio.scenelets c JOIN tree t ON c.parent_id = t.id
      )
      SELECT id AS scenelet_id, story_id, row_number() OVER (PARTITION BY story_id ORDER BY path) AS sequence FROM tree;
    CREATE INDEX ON studio.rm_scenelet_order (story_id, sequence);
    CREATE TABLE studio.rm_job_refs AS
      SELECT gjri.generation_job_id AS job_id, array_agg(ri.gcp_url ORDER BY gjri.position) AS reference_image_urls
      FROM studio.generation_job_reference_images gjri JOIN studio.reference_images ri ON ri.id = gjri.reference_image_id
      GROUP BY 1;
    CREATE INDEX ON studio.rm_job_refs (job_id);
    COMMIT;
    """
}

// MARK: - SQLite

enum SQLiteSide {
    static let chunk = 50_000

    /// Opens the main database and attaches the projects design's as `content`; WAL with synchronous=FULL, foreign keys on.
    static func open(_ directory: String) throws -> SQLite {
        let db = try SQLite(directory + "/studio.db")
        try db.exec("ATTACH DATABASE '\(directory)/content.db' AS content")
        try db.exec("""
            PRAGMA main.journal_mode = WAL; PRAGMA content.journal_mode = WAL;
            PRAGMA main.synchronous = FULL; PRAGMA content.synchronous = FULL;
            PRAGMA foreign_keys = ON;
            """)
        return db
    }

    /// Creates the schema (not timed), then inserts every row with prepared INSERTs in transactions of `chunk` rows.
    static func load(_ db: SQLite, _ rows: FoldedRows) throws -> Double {
        try db.exec(Schema.sqliteStudio)
        try db.exec(Schema.sqliteContent)
        let tables = rows.studioTables.map { ("main", $0) } + rows.contentTables.map { ("content", $0) }
        for (schema, table) in tables {
            let marks = Array(repeating: "?", count: table.columns.count).joined(separator: ", ")
            try db.prepare("load.\(schema).\(table.name)", "INSERT INTO \(schema).\(table.name) (\(table.columns.joined(separator: ", "))) VALUES (\(marks))")
        }
        try db.prepare("approve", "UPDATE frames SET current_job_id = ? WHERE id = ?")
        return try time {
            for (schema, table) in tables {
                var start = 0
                while start < table.rows.count {
                    let end = min(table.rows.count, start + chunk)
                    try db.exec("BEGIN")
                    for row in table.rows[start..<end] {
                        var values: [SQLValue] = []
                        values.reserveCapacity(row.count)
                        for (i, value) in row.enumerated() {
                            if let value {
                                values.append(table.booleans.contains(i) ? .int(value == "t" ? 1 : 0) : .text(value))
                            } else {
                                values.append(.null)
                            }
                        }
                        try db.command("load.\(schema).\(table.name)", values)
                    }
                    try db.exec("COMMIT")
                    start = end
                }
            }
            try db.exec("BEGIN")
            for (frame, job) in rows.frameApprovals { try db.command("approve", [.text(job), .text(frame)]) }
            try db.exec("COMMIT")
        }
    }

    /// Bytes of both database files and their WAL after a checkpoint.
    static func bytes(_ db: SQLite, _ directory: String) throws -> Int {
        _ = try db.rows("PRAGMA main.wal_checkpoint(TRUNCATE)")
        _ = try db.rows("PRAGMA content.wal_checkpoint(TRUNCATE)")
        var total = 0
        for name in ["studio.db", "studio.db-wal", "content.db", "content.db-wal"] {
            total += (try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int) ?? 0
        }
        return total
    }

    static func prepareQueries(_ db: SQLite) throws {
        for (query, sql) in PeerQuerySQL.sqlite { try db.prepare("q\(QueryName.allCases.firstIndex(of: query)!)", sql) }
    }

    static func query(_ db: SQLite, _ query: QueryName, _ parameter: String, sign: Bool = false) throws -> String {
        let rows = try db.run("q\(QueryName.allCases.firstIndex(of: query)!)", [.text(parameter)])
        return PeerQuerySQL.shape(query, rows, arrays: .json, sign: sign)
    }

    static let readModels = """
    BEGIN;
    DROP TABLE IF EXISTS rm_images_by_scene; DROP TABLE IF EXISTS rm_frame_jobs; DROP TABLE IF EXISTS rm_sessions;
    DROP TABLE IF EXISTS rm_scenelet_order; DROP TABLE IF EXISTS rm_job_refs;
    CREATE TABLE rm_images_by_scene AS
      SELECT project_id, scene_index, json_group_array(image_url) AS image_urls FROM (
        SELECT content_creation_request_id AS project_id, scene_index, image_url FROM content.generated_images
        ORDER BY content_creation_request_id, scene_index, image_index)
      GROUP BY 1, 2;
    CREATE INDEX rm_images_by_scene_idx ON rm_images_by_scene (project_id, scene_index);
    CREATE TABLE rm_frame_jobs AS
      SELECT f.id AS frame_id, f.frame_type, f.status, f.current_job_id,
             (SELECT j.id FROM generation_jobs j WHERE j.frame_id = f.id AND j.status = 'completed'
              ORDER BY j.completed_at DESC LIMIT 1) AS latest_completed_job_id,
             (SELECT json_group_array(id) FROM (SELECT j.id FROM generation_jobs j WHERE j.frame_id = f.id ORDER BY j.created_at)) AS job_ids
      FROM frames f;
    CREATE INDEX rm_frame_jobs_idx ON rm_frame_jobs (frame_id);
    CREATE TABLE rm_sessions AS
      SELECT s.id AS session_id, s.user_id, s.title,
             (SELECT gi.gcp_url FROM generated_images gi WHERE gi.session_id = s.id ORDER BY gi.created_at LIMIT 1) AS thumbnail_url,
             (SELECT count(*) FROM generated_images gi WHERE gi.session_id = s.id) AS generated_count,
             max(s.updated_at, coalesce((SELECT max(gi.created_at) FROM generated_images gi WHERE gi.session_id = s.id), '')) AS updated_at
      FROM sessions s;
    CREATE INDEX rm_sessions_idx ON rm_sessions (user_id, updated_at DESC);
    CREATE TABLE rm_scenelet_order AS
      WITH RECURSIVE tree AS (
        SELECT id, story_id, created_at AS path FROM scenelets WHERE parent_id IS NULL
        UNION ALL
        SELECT c.id, c.story_id, t.path || '/' || c.created_at FROM scenelets c JOIN tree t ON c.parent_id = t.id
      )
      SELECT id AS scenelet_id, story_id, row_number() OVER (PARTITION BY story_id ORDER BY path) AS sequence FROM tree;
    CREATE INDEX rm_scenelet_order_idx ON rm_scenelet_order (story_id, sequence);
    CREATE TABLE rm_job_refs AS
      SELECT job_id, json_group_array(gcp_url) AS reference_image_urls FROM (
        SELECT gjri.generation_job_id AS job_id, ri.gcp_url FROM generation_job_reference_images gjri
        JOIN reference_images ri ON ri.id = gjri.reference_image_id ORDER BY gjri.generation_job_id, gjri.position)
      GROUP BY 1;
    CREATE INDEX rm_job_refs_idx ON rm_job_refs (job_id);
    COMMIT;
    """
}

/// Runs `body(i)` on `count` threads at once (each with its own connection made beforehand), returning seconds from
/// the moment all are released until the last finishes.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
    let ready = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    for i in 0..<count {
        done.enter()
        let thread = Thread {
            ready.signal()
            go.wait()
            body(i)
            done.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    for _ in 0..<count { ready.wait() }
    return time {
        for _ in 0..<count { go.signal() }
        done.wait()
    }
}
