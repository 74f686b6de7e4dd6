// The five queries of W2 on each side, each returning a signature (the ids/urls it found, in order) so the run can
// check that the three sides answer alike before timing them.

import EventStore
import Foundation
import MediaPipeline
import ProductionFixtures

enum QueryName: String, CaseIterable {
    case imagesByScene = "images-by-scene (100 scenes × 4)"
    case jobsByFrame = "jobs-by-frame (20 jobs)"
    case story = "story, depth-first (200 scenelets + shots)"
    case sessions = "sessions with thumbnails (20)"
    case job = "job with reference image URLs"
}

// MARK: Reel

struct ReelQueries {
    let media: MediaStore
    let targets: Targets

    /// Runs one query; with `sign`, returns its signature.
    func run(_ query: QueryName, sign: Bool = false) throws -> String {
        switch query {
        case .imagesByScene:
            let r = try media.imagesByScene(project: targets.project)
            return sign ? r.scenes.flatMap(\.imageURLs).joined(separator: ",") : ""
        case .jobsByFrame:
            let r = try media.jobsByFrame(frame: targets.frame)
            return sign ? ([r.currentJobID.text ?? "-", r.latestCompletedJobID.text ?? "-"] + r.jobs.map(\.jobID.text)).joined(separator: ",") : ""
        case .story:
            let r = try media.story(targets.story)
            return sign ? (r.scenelets.map(\.sceneletID.text) + r.shots.map(\.shotID.text)).joined(separator: ",") : ""
        case .sessions:
            let r = try media.sessions(user: targets.user)
            return sign ? r.sessions.map { "\($0.sessionID.text):\($0.thumbnailURL ?? "-"):\($0.generatedCount)" }.joined(separator: ",") : ""
        case .job:
            let r = try media.job(targets.job)
            return sign ? (r.referenceImageURLs + r.images.map(\.gcpURL)).joined(separator: ",") : ""
        }
    }
}

// MARK: SQL, shared by both peers where the dialects agree

enum SQL {
    static func imagesByScene(_ prefix: String) -> String {
        """
        SELECT scene_index, image_url FROM \(prefix)generated_images
        WHERE content_creation_request_id = $1 ORDER BY scene_index, image_index
        """
    }

    static func jobsByFrame(_ s: String) -> String {
        """
        SELECT f.frame_type, f.status, f.current_job_id,
               (SELECT j2.id FROM \(s)generation_jobs j2 WHERE j2.frame_id = f.id AND j2.status = 'completed'
                ORDER BY j2.completed_at DESC LIMIT 1) AS latest_completed_job_id,
               j.id, j.status, j.created_at
        FROM \(s)frames f LEFT JOIN \(s)generation_jobs j ON j.frame_id = f.id
        WHERE f.id = $1 ORDER BY j.created_at
        """
    }

    /// The sessions design's own query of a user's sessions with their thumbnails, as the design writes it.
    static func sessions(_ s: String) -> String {
        """
        SELECT s.id, s.title,
               (SELECT gcp_url FROM \(s)generated_images WHERE session_id = s.id ORDER BY created_at ASC LIMIT 1) AS thumbnail_url,
               s.generated_count, s.created_at, s.updated_at
        FROM \(s)sessions s WHERE s.user_id = $1 ORDER BY s.updated_at DESC
        """
    }
}

enum PeerQuerySQL {
    static let postgres: [QueryName: String] = [
        .imagesByScene: SQL.imagesByScene("content."),
        .jobsByFrame: SQL.jobsByFrame("studio."),
        .sessions: SQL.sessions("studio."),
        // Depth-first pre-order from the root, children in the order they were added (created_at), with each
        // scenelet's shots by shot_index: one statement.
        .story: """
        WITH RECURSIVE tree AS (
          SELECT s.id, s.parent_id, s.is_branch_point, s.choice_prompt, s.content, s.end_frame_id, ARRAY[s.created_at] AS path
          FROM studio.scenelets s WHERE s.story_id = $1 AND s.parent_id IS NULL
          UNION ALL
          SELECT c.id, c.parent_id, c.is_branch_point, c.choice_prompt, c.content, c.end_frame_id, t.path || c.created_at
          FROM studio.scenelets c JOIN tree t ON c.parent_id = t.id
        )
        SELECT (SELECT title FROM studio.stories WHERE id = $1), t.id, dense_rank() OVER (ORDER BY t.path) AS sequence,
               t.parent_id, t.is_branch_point, t.choice_prompt, t.content, t.end_frame_id,
               sh.id, sh.shot_index, sh.storyboard_payload, sh.key_frame_image_path, sh.audio_file_path
        FROM tree t LEFT JOIN studio.shots sh ON sh.scenelet_ref = t.id
        ORDER BY t.path, sh.shot_index
        """,
        // The sessions design's query of a job with its settings (array_agg over the junction, in the order given), with the
        // job's images joined in the same statement.
        .job: """
        SELECT gj.*, refs.urls, gi.id, gi.generation_index, gi.gcp_url, gi.thumbnail_url
        FROM studio.generation_jobs gj
        LEFT JOIN LATERAL (
          SELECT array_agg(ri.gcp_url ORDER BY gjri.position) AS urls
          FROM studio.generation_job_reference_images gjri
          JOIN studio.reference_images ri ON gjri.reference_image_id = ri.id
          WHERE gjri.generation_job_id = gj.id
        ) refs ON true
        LEFT JOIN studio.generated_images gi ON gi.generation_job_id = gj.id
        WHERE gj.id = $1 ORDER BY gi.generation_index
        """,
    ]

    static let sqlite: [QueryName: String] = [
        .imagesByScene: SQL.imagesByScene("content."),
        .jobsByFrame: SQL.jobsByFrame(""),
        .sessions: SQL.sessions(""),
        .story: """
        WITH RECURSIVE tree AS (
          SELECT s.id, s.parent_id, s.is_branch_point, s.choice_prompt, s.content, s.end_frame_id, s.created_at AS path
          FROM scenelets s WHERE s.story_id = $1 AND s.parent_id IS NULL
          UNION ALL
          SELECT c.id, c.parent_id, c.is_branch_point, c.choice_prompt, c.content, c.end_frame_id, t.path || '/' || c.created_at
          FROM scenelets c JOIN tree t ON c.parent_id = t.id
        )
        SELECT (SELECT title FROM stories WHERE id = $1), t.id, dense_rank() OVER (ORDER BY t.path) AS sequence,
               t.parent_id, t.is_branch_point, t.choice_prompt, t.content, t.end_frame_id,
               sh.id, sh.shot_index, sh.storyboard_payload, sh.key_frame_image_path, sh.audio_file_path
        FROM tree t LEFT JOIN shots sh ON sh.scenelet_ref = t.id
        ORDER BY t.path, sh.shot_index
        """,
        .job: """
        SELECT gj.*,
               (SELECT json_group_array(gcp_url) FROM (
                  SELECT ri.gcp_url FROM generation_job_reference_images gjri
                  JOIN reference_images ri ON gjri.reference_image_id = ri.id
                  WHERE gjri.generation_job_id = gj.id ORDER BY gjri.position)) AS urls,
               gi.id, gi.generation_index, gi.gcp_url, gi.thumbnail_url
        FROM generation_jobs gj
        LEFT JOIN generated_images gi ON gi.generation_job_id = gj.id
        WHERE gj.id = $1 ORDER BY gi.generation_index
        """,
    ]

    static func parameter(_ query: QueryName, _ targets: Targets) -> String {
        switch query {
        case .imagesByScene: targets.project.text
        case .jobsByFrame: targets.frame.text
        case .story: targets.story.text
        case .sessions: targets.user.text
        case .job: targets.job.text
        }
    }

    /// Turns the rows into the shape a service would return (grouped scenes, lists) and, with `sign`, a signature.
    static func shape(_ query: QueryName, _ rows: [[String?]], arrays: ArrayFormat, sign: Bool) -> String {
        switch query {
        case .imagesByScene:
            var scenes: [(Int, [String])] = []
            for row in rows {
                let scene = Int(row[0]!)!
                if scenes.last?.0 == scene { scenes[scenes.count - 1].1.append(row[1]!) } else { scenes.append((scene, [row[1]!])) }
            }
            return sign ? scenes.flatMap(\.1).joined(separator: ",") : ""
        case .jobsByFrame:
            let jobs = rows.compactMap { $0[4] }
            guard sign, let first = rows.first else { return "" }
            return ([first[2] ?? "-", first[3] ?? "-"] + jobs).joined(separator: ",")
        case .story:
            var scenelets: [String] = []
            var shots: [String] = []
            for row in rows {
                if scenelets.last != row[1]! { scenelets.append(row[1]!) }
                if let shot = row[8] { shots.append(shot) }
            }
            return sign ? (scenelets + shots).joined(separator: ",") : ""
        case .sessions:
            let sessions = rows.map { "\($0[0]!):\($0[2] ?? "-"):\($0[3]!)" }
            return sign ? sessions.joined(separator: ",") : ""
        case .job:
            guard let first = rows.first else { return "" }
            let urlsColumn = first.count - 5
            let refs = arrays.parse(first[urlsColumn])
            let images = rows.compactMap { $0[urlsColumn + 3] }
            return sign ? (refs + images).joined(separator: ",") : ""
        }
    }
}

/// How a peer returns an aggregated list of text: a PostgreSQL array literal or a JSON array (SQLite).
enum ArrayFormat {
    case postgres, json

    func parse(_ text: String?) -> [String] {
        guard var text else { return [] }
        switch self {
        case .postgres:
            // {a,b,c} (URLs here need no quoting)
            text.removeFirst()
            text.removeLast()
            return text.isEmpty ? [] : text.split(separator: ",").map(String.init)
        case .json:
            // ["a","b"]
            text.removeFirst(2)
            text.removeLast(2)
            return text.isEmpty ? [] : text.components(separatedBy: "\",\"")
        }
    }
}
