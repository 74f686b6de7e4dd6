// Folds the generated events into the rows the relational designs hold after the same history: what a service on
// PostgreSQL (or SQLite) would have in its tables had it processed the same requests. The peers are
// loaded with these rows, so every side answers the queries over the same data.

import EventStore
import Foundation
import MediaPipeline
import ProductionFixtures

/// One table's rows, every value in PostgreSQL's text form (nil = NULL; booleans "t"/"f").
struct Table {
    let name: String
    let columns: [String]
    var rows: [[String?]] = []
    /// Columns holding booleans (SQLite stores 0/1).
    var booleans: Set<Int> = []

    init(_ name: String, _ columns: [String], booleans: Set<String> = []) {
        self.name = name
        self.columns = columns
        self.booleans = Set(columns.indices.filter { booleans.contains(columns[$0]) })
    }
}

/// The time a row records for the event at `index`: a fixed base plus one microsecond per event, so times are unique
/// and ordered as the events are (Reel's recorded_at never decreases with position either).
func timestamp(_ index: Int) -> String {
    // 2026-11-22 00:00:00 UTC + index µs.
    let micros = index % 1_000_000
    var seconds = index / 1_000_000
    let s = seconds % 60
    seconds /= 60
    let m = seconds % 60
    let h = seconds / 60
    func pad(_ n: Int, _ width: Int) -> String {
        let text = String(n)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "2026-11-22 \(pad(h, 2)):\(pad(m, 2)):\(pad(s, 2)).\(pad(micros, 6))+00"
}

struct FoldedRows {
    var users = Table("users", ["id", "email", "created_at", "updated_at"])
    var sessions = Table("sessions", ["id", "user_id", "title", "thumbnail_url", "generated_count", "created_at", "updated_at"])
    var referenceImages = Table(
        "reference_images", ["id", "user_id", "session_id", "gcp_bucket_path", "gcp_url", "filename", "uploaded_at"]
    )
    var stories = Table("stories", ["id", "user_id", "title", "created_at"])
    var scenelets = Table(
        "scenelets", ["id", "story_id", "parent_id", "content", "is_branch_point", "choice_prompt", "end_frame_id", "created_at"],
        booleans: ["is_branch_point"]
    )
    var shots = Table(
        "shots",
        [
            "id", "story_id", "scenelet_ref", "scenelet_id", "scenelet_sequence", "shot_index", "storyboard_payload",
            "key_frame_image_path", "audio_file_path", "created_at",
        ]
    )
    /// Loaded with current_job_id NULL; `frameApprovals` sets it once the jobs are in (the two tables point at each other).
    var frames = Table("frames", ["id", "shot_id", "frame_type", "status", "previous_frame_id", "created_at", "updated_at"])
    var frameApprovals: [(frame: String, job: String)] = []
    var jobs = Table(
        "generation_jobs",
        [
            "id", "user_id", "session_id", "frame_id", "prompt", "generated_prompt", "shot_type", "camera_angle", "style",
            "location", "lighting", "weather", "aspect_ratio", "number_of_shots", "status", "error_message", "created_at",
            "updated_at", "started_at", "completed_at",
        ]
    )
    var jobReferences = Table("generation_job_reference_images", ["generation_job_id", "reference_image_id", "position", "created_at"])
    var images = Table(
        "generated_images",
        ["id", "generation_job_id", "user_id", "session_id", "gcp_bucket_path", "gcp_url", "thumbnail_url", "generation_index", "created_at"]
    )
    var projects = Table("content_creation_requests", ["id", "user_id", "title", "generated_output", "created_at", "updated_at"])
    var sceneImages = Table(
        "generated_images", ["id", "content_creation_request_id", "scene_index", "image_url", "image_index", "created_at", "updated_at"]
    )

    /// Tables of the studio schema (the sessions, frames and stories designs) in load order, then the content schema's
    /// (the projects design).
    var studioTables: [Table] { [users, sessions, referenceImages, stories, scenelets, shots, frames, jobs, jobReferences, images] }
    var contentTables: [Table] { [projects, sceneImages] }
    var rowCount: Int { (studioTables + contentTables).reduce(0) { $0 + $1.rows.count } + frameApprovals.count }
}

extension UUID {
    var text: String { uuidString.lowercased() }
}

extension Optional where Wrapped == UUID {
    var text: String? { map { $0.uuidString.lowercased() } }
}

func jsonText(_ object: JSONObject) -> String {
    String(decoding: JSONWriter.canonical(.object(object)), as: UTF8.self)
}

enum Fold {
    struct Unsupported: Error, CustomStringConvertible {
        let description: String
    }

    static func rows(_ inputs: [MediaStore.Input]) throws -> FoldedRows {
        var out = FoldedRows()
        var sessionRow: [UUID: Int] = [:]
        var sessionImages: [UUID: [Int]] = [:]  // image rows in creation order
        var jobRow: [UUID: Int] = [:]
        var imageRow: [UUID: Int] = [:]
        var deletedImages = Set<Int>()
        var frameRow: [UUID: Int] = [:]
        var sceneletRow: [UUID: Int] = [:]
        var sceneletChildren: [UUID: [UUID]] = [:]
        var storyRoot: [UUID: UUID] = [:]
        var shotRow: [UUID: Int] = [:]
        var sceneletShots: [UUID: [Int]] = [:]
        var projectRow: [UUID: Int] = [:]
        var sceneImageRow: [String: Int] = [:]
        var approval: [UUID: UUID?] = [:]
        var rng = SeededRandom(seed: 0xC0FFEE)
        let jobColumns = Dictionary(uniqueKeysWithValues: out.jobs.columns.enumerated().map { ($1, $0) })

        for (index, input) in inputs.enumerated() {
            let now = timestamp(index)
            switch input.event {
            case let .userRegistered(e):
                out.users.rows.append([e.userID.text, e.email, now, now])
            case let .sessionCreated(e):
                sessionRow[e.sessionID] = out.sessions.rows.count
                out.sessions.rows.append([e.sessionID.text, e.userID.text, e.title, nil, "0", now, now])
            case let .sessionRenamed(e):
                let row = sessionRow[e.sessionID]!
                out.sessions.rows[row][2] = e.title
                out.sessions.rows[row][6] = now
            case let .referenceImageUploaded(e):
                out.referenceImages.rows.append([
                    e.referenceImageID.text, e.userID.text, e.sessionID.text, e.gcpBucketPath, e.gcpURL, e.filename, now,
                ])
            case let .generationJobCreated(e):
                jobRow[e.jobID] = out.jobs.rows.count
                out.jobs.rows.append([
                    e.jobID.text, e.userID.text, e.sessionID.text, e.frameID.text, e.prompt, e.generatedPrompt, e.shotType,
                    e.cameraAngle, e.style, e.location, e.lighting, e.weather, e.aspectRatio, String(e.numberOfShots ?? 1),
                    "pending", nil, now, now, nil, nil,
                ])
                for (position, ref) in (e.referenceImageIDs ?? []).enumerated() {
                    out.jobReferences.rows.append([e.jobID.text, ref.text, String(position), now])
                }
            case let .generationJobStarted(e):
                let row = jobRow[e.jobID]!
                out.jobs.rows[row][jobColumns["status"]!] = "processing"
                out.jobs.rows[row][jobColumns["started_at"]!] = now
                out.jobs.rows[row][jobColumns["updated_at"]!] = now
            case let .generationJobCompleted(e):
                let row = jobRow[e.jobID]!
                out.jobs.rows[row][jobColumns["status"]!] = "completed"
                out.jobs.rows[row][jobColumns["completed_at"]!] = now
                out.jobs.rows[row][jobColumns["updated_at"]!] = now
            case let .generationJobFailed(e):
                let row = jobRow[e.jobID]!
                out.jobs.rows[row][jobColumns["status"]!] = "failed"
                out.jobs.rows[row][jobColumns["error_message"]!] = e.error
                out.jobs.rows[row][jobColumns["updated_at"]!] = now
            case let .imageGenerated(e):
                let job = out.jobs.rows[jobRow[e.jobID]!]
                let session = job[2]
                imageRow[e.imageID] = out.images.rows.count
                if let session, let s = UUID(uuidString: session) {
                    sessionImages[s, default: []].append(out.images.rows.count)
                    out.sessions.rows[sessionRow[s]!][6] = now
                }
                out.images.rows.append([
                    e.imageID.text, e.jobID.text, job[1], session, e.gcpBucketPath, e.gcpURL, e.thumbnailURL, String(e.generationIndex), now,
                ])
            case let .imageDeleted(e):
                let row = imageRow[e.imageID]!
                deletedImages.insert(row)
                if let session = out.images.rows[row][3], let s = UUID(uuidString: session) {
                    out.sessions.rows[sessionRow[s]!][6] = now
                }
            case let .projectCreated(e):
                projectRow[e.projectID] = out.projects.rows.count
                out.projects.rows.append([e.projectID.text, e.userID.text, e.title, nil, now, now])
            case let .sceneImageSaved(e):
                let key = "\(e.projectID.text)/\(e.sceneIndex)/\(e.imageIndex ?? 0)"
                if let row = sceneImageRow[key] {
                    out.sceneImages.rows[row][3] = e.imageURL
                    out.sceneImages.rows[row][6] = now
                } else {
                    sceneImageRow[key] = out.sceneImages.rows.count
                    out.sceneImages.rows.append([
                        rng.uuid().text, e.projectID.text, String(e.sceneIndex), e.imageURL, String(e.imageIndex ?? 0), now, now,
                    ])
                }
                out.projects.rows[projectRow[e.projectID]!][5] = now
            case let .storyCreated(e):
                out.stories.rows.append([e.storyID.text, e.userID.text, e.title, now])
            case let .sceneletAdded(e):
                sceneletRow[e.sceneletID] = out.scenelets.rows.count
                if let parent = e.parentID { sceneletChildren[parent, default: []].append(e.sceneletID) } else { storyRoot[e.storyID] = e.sceneletID }
                out.scenelets.rows.append([
                    e.sceneletID.text, e.storyID.text, e.parentID.text, jsonText(e.content), (e.isBranchPoint ?? false) ? "t" : "f",
                    e.choicePrompt, nil, now,
                ])
            case let .shotPlanned(e):
                let scenelet = out.scenelets.rows[sceneletRow[e.sceneletID]!]
                shotRow[e.shotID] = out.shots.rows.count
                sceneletShots[e.sceneletID, default: []].append(out.shots.rows.count)
                out.shots.rows.append([
                    e.shotID.text, scenelet[1], e.sceneletID.text, nil, nil, String(e.shotIndex), e.storyboardPayload.map(jsonText),
                    nil, nil, now,
                ])
            case let .shotAssetsAttached(e):
                let row = shotRow[e.shotID]!
                if let path = e.keyFrameImagePath { out.shots.rows[row][7] = path }
                if let path = e.audioFilePath { out.shots.rows[row][8] = path }
            case let .frameCreated(e):
                frameRow[e.frameID] = out.frames.rows.count
                out.frames.rows.append([e.frameID.text, e.shotID.text, e.frameType, "pending", e.previousFrameID.text, now, now])
            case let .frameApproved(e):
                let row = frameRow[e.frameID]!
                out.frames.rows[row][3] = "approved"
                out.frames.rows[row][6] = now
                approval[e.frameID] = e.jobID
            case let .frameRejected(e):
                let row = frameRow[e.frameID]!
                out.frames.rows[row][3] = "rejected"
                out.frames.rows[row][6] = now
                approval[e.frameID] = .some(nil)
            default:
                throw Unsupported(description: "the fold into rows does not handle \(input.event.type), which the generator does not make")
            }
        }

        // Deleted images are gone from the table; sessions' counts and thumbnails are what the sessions design's
        // triggers keep.
        for (session, rows) in sessionImages {
            let live = rows.filter { !deletedImages.contains($0) }
            let row = sessionRow[session]!
            out.sessions.rows[row][4] = String(live.count)
            out.sessions.rows[row][3] = live.first.map { out.images.rows[$0][5]! }
        }
        out.images.rows = out.images.rows.enumerated().filter { !deletedImages.contains($0.offset) }.map(\.element)
        for (frame, job) in approval {
            if let job { out.frameApprovals.append((frame.text, job.text)) }
        }
        out.frameApprovals.sort { $0.frame < $1.frame }

        // The stories design: shots keep the display id and sequence of their scenelet, depth-first from the root.
        for (_, root) in storyRoot {
            var sequence = 0
            var stack = [root]
            while let scenelet = stack.popLast() {
                sequence += 1
                for row in sceneletShots[scenelet] ?? [] {
                    out.shots.rows[row][3] = "scenelet-\(sequence)"
                    out.shots.rows[row][4] = String(sequence)
                }
                stack.append(contentsOf: (sceneletChildren[scenelet] ?? []).reversed())
            }
        }
        return out
    }
}
