import Foundation

// The description of every query of `reel query`: its arguments, the members of its JSON output and their order.
// `reel query` takes its names and arguments from it, docs/QUERIES.md is generated from it, and the reference tests
// run every query on a store and hold its JSON to these members.

/// The JSON type of a member of a query's output.
public indirect enum ValueType: Sendable, Hashable {
    /// A UUID as a lower-case string.
    case uuid
    case string
    case integer
    case boolean
    /// A time as a string, ISO-8601 UTC with milliseconds: `2026-11-22T01:02:03.456Z`.
    case time
    /// Any JSON object, as it was given in an event.
    case json
    case array(ValueType)
    /// An object with these members, in this order.
    case object([MemberDescription])

    /// The type in words: "UUID", "array of strings", "array of objects".
    public var text: String {
        switch self {
        case .uuid: "UUID"
        case .string: "string"
        case .integer: "integer"
        case .boolean: "boolean"
        case .time: "time"
        case .json: "object"
        case .object: "object"
        case let .array(element):
            switch element {
            case .uuid: "array of UUIDs"
            case .time: "array of times"
            case .json, .object: "array of objects"
            case .array: "array of arrays"
            default: "array of \(element.text)s"
            }
        }
    }
}

/// One member of a query's JSON output.
public struct MemberDescription: Sendable, Hashable {
    public let name: String
    public let type: ValueType
    /// Whether the member may be `null` (it is always present).
    public let isNullable: Bool
    public let summary: String

    init(_ name: String, _ type: ValueType, nullable isNullable: Bool = false, _ summary: String) {
        self.name = name
        self.type = type
        self.isNullable = isNullable
        self.summary = summary
    }
}

/// One option of a query.
public struct QueryArgument: Sendable, Hashable {
    /// What the option's value is.
    public enum Kind: Sendable, Hashable {
        /// An entity's id, a UUID.
        case id
        /// A job status: pending, processing, completed or failed.
        case status
        /// A count, 0 or more.
        case count
    }

    /// The option's name without its dashes, e.g. `project`.
    public let option: String
    public let kind: Kind
    public let isRequired: Bool
    public let summary: String

    /// The option's value as usage shows it: `ID`, `STATUS`, `N`.
    public var valueName: String {
        switch kind {
        case .id: "ID"
        case .status: "STATUS"
        case .count: "N"
        }
    }

    /// `--project ID`, or `[--limit N]` when optional.
    public var usage: String { isRequired ? "--\(option) \(valueName)" : "[--\(option) \(valueName)]" }

    init(_ option: String, _ kind: Kind, required isRequired: Bool = true, _ summary: String) {
        self.option = option
        self.kind = kind
        self.isRequired = isRequired
        self.summary = summary
    }
}

/// One query of `reel query` (and of ``MediaQueries``).
public struct QueryDescription: Sendable, Hashable {
    /// The name `reel query` takes, e.g. `images-by-scene`.
    public let name: String
    /// What it answers, one line.
    public let summary: String
    public let arguments: [QueryArgument]
    /// The members of the JSON object it prints, in order.
    public let output: [MemberDescription]
    /// The order of its lists.
    public let order: String
    /// The entity whose id the query takes, which must exist: an unknown id is an error (`<entity> <id> does not
    /// exist`, exit 1), not an empty answer. `nil` for a query without an id.
    public let entity: String?

    /// `images-by-scene --project ID`.
    public var usage: String { ([name] + arguments.map(\.usage)).joined(separator: " ") }

    /// Every option any query takes, each once, in the order first met.
    public static var options: [String] {
        var seen: [String] = []
        for query in all { for argument in query.arguments where !seen.contains(argument.option) { seen.append(argument.option) } }
        return seen
    }

    /// The description of the query `name`, if there is one.
    public static func named(_ name: String) -> QueryDescription? { all.first { $0.name == name } }

    /// The known query names nearest to `name` by edit distance, closest first.
    public static func nearest(to name: String, limit: Int = 3, within: Int? = nil) -> [String] {
        Suggestions.nearest(to: name, among: all.map(\.name), limit: limit, within: within)
    }

    /// The known query names close enough to `name` to be what was meant.
    public static func suggestions(for name: String) -> [String] {
        nearest(to: name, limit: 3, within: Suggestions.closeEnough(name))
    }
}

extension QueryDescription {
    static let jobStatusText = "pending, processing, completed or failed"
    static let frameStatusText = "pending, approved or rejected"

    static let sceneletMembers: [MemberDescription] = [
        MemberDescription("scenelet_id", .uuid, "The scenelet."),
        MemberDescription("display_id", .string, "`scenelet-<sequence>`: derived, it changes when the tree does."),
        MemberDescription("sequence", .integer, "Its place in the depth-first order, from 1."),
        MemberDescription("parent_id", .uuid, nullable: true, "Its parent; null for the root."),
        MemberDescription("is_branch_point", .boolean, "Whether the viewer chooses among its children."),
        MemberDescription("choice_prompt", .string, nullable: true, "The question a branch point asks."),
        MemberDescription("content", .json, "Its content, as last given."),
        MemberDescription("end_frame_id", .uuid, nullable: true, "Its end frame."),
    ]

    static let shotMembers: [MemberDescription] = [
        MemberDescription("shot_id", .uuid, "The shot."),
        MemberDescription("scenelet_id", .uuid, "Its scenelet."),
        MemberDescription("scenelet_display_id", .string, "Its scenelet's display id."),
        MemberDescription("scenelet_sequence", .integer, "Its scenelet's sequence."),
        MemberDescription("shot_index", .integer, "Its place among the scenelet's shots."),
        MemberDescription("storyboard_payload", .json, nullable: true, "Its storyboard, as given."),
        MemberDescription("key_frame_image_path", .string, nullable: true, "Its key frame image's path."),
        MemberDescription("audio_file_path", .string, nullable: true, "Its audio file's path."),
    ]

    static let imageMembers: [MemberDescription] = [
        MemberDescription("image_id", .uuid, "The image."),
        MemberDescription("job_id", .uuid, "The job that made it."),
        MemberDescription("generation_index", .integer, "Which of the job's images it is."),
        MemberDescription("gcp_url", .string, "Its URL."),
        MemberDescription("thumbnail_url", .string, nullable: true, "Its thumbnail's URL."),
        MemberDescription("created_at", .time, "When it was generated."),
    ]

    /// Every query, in the order `reel query` lists them.
    public static let all: [QueryDescription] = [
        QueryDescription(
            name: "images-by-scene", summary: "A project's image URLs by scene.",
            arguments: [QueryArgument("project", .id, "The project.")],
            output: [
                MemberDescription("project_id", .uuid, "The project."),
                MemberDescription("scenes", .array(.object([
                    MemberDescription("scene_index", .integer, "The scene."),
                    MemberDescription("image_urls", .array(.string), "Its images' URLs."),
                ])), "Its scenes that hold images."),
            ],
            order: "Scenes by `scene_index`, those without images left out; each scene's `image_urls` by `image_index`.",
            entity: "project"
        ),
        QueryDescription(
            name: "jobs-by-frame", summary: "A frame's review state and its regeneration history.",
            arguments: [QueryArgument("frame", .id, "The frame.")],
            output: [
                MemberDescription("frame_id", .uuid, "The frame."),
                MemberDescription("frame_type", .string, "Its type."),
                MemberDescription("status", .string, "Its review status: \(frameStatusText)."),
                MemberDescription("current_job_id", .uuid, nullable: true, "The approved job; null until one is approved, and after a rejection."),
                MemberDescription("latest_completed_job_id", .uuid, nullable: true, "The job made for it that completed last."),
                MemberDescription("jobs", .array(.object([
                    MemberDescription("job_id", .uuid, "The job."),
                    MemberDescription("status", .string, "Its status: \(jobStatusText)."),
                    MemberDescription("created_at", .time, "When it was created."),
                ])), "Every job made for the frame."),
            ],
            order: "`jobs` in the order they were created.",
            entity: "frame"
        ),
        QueryDescription(
            name: "frames-by-shot", summary: "A shot's frames.",
            arguments: [QueryArgument("shot", .id, "The shot.")],
            output: [
                MemberDescription("shot_id", .uuid, "The shot."),
                MemberDescription("frames", .array(.object([
                    MemberDescription("frame_id", .uuid, "The frame."),
                    MemberDescription("frame_type", .string, "Its type."),
                    MemberDescription("status", .string, "Its review status: \(frameStatusText)."),
                    MemberDescription("current_job_id", .uuid, nullable: true, "Its approved job."),
                    MemberDescription("previous_frame_id", .uuid, nullable: true, "The frame before it."),
                ])), "The shot's frames."),
            ],
            order: "`frames` in the order they were created.",
            entity: "shot"
        ),
        QueryDescription(
            name: "story", summary: "A story's scenelets depth-first with display ids, and its shots in play order.",
            arguments: [QueryArgument("story", .id, "The story.")],
            output: [
                MemberDescription("story_id", .uuid, "The story."),
                MemberDescription("title", .string, "Its title."),
                MemberDescription("scenelets", .array(.object(sceneletMembers)), "Its scenelets."),
                MemberDescription("shots", .array(.object(shotMembers)), "Its shots."),
            ],
            order: "`scenelets` depth-first from the root, each scenelet's children in the order they were added (`sequence` 1, 2, …); `shots` by (`scenelet_sequence`, `shot_index`).",
            entity: "story"
        ),
        QueryDescription(
            name: "bundle", summary: "What a player needs: the story's tree in play order, each shot's assets and each frame's approved image.",
            arguments: [QueryArgument("story", .id, "The story.")],
            output: [
                MemberDescription("story_id", .uuid, "The story."),
                MemberDescription("title", .string, "Its title."),
                MemberDescription("scenelets", .array(.object(sceneletMembers + [
                    MemberDescription("shots", .array(.object(shotMembers + [
                        MemberDescription("frames", .array(.object([
                            MemberDescription("frame_id", .uuid, "The frame."),
                            MemberDescription("frame_type", .string, "Its type."),
                            MemberDescription("status", .string, "Its review status: \(frameStatusText)."),
                            MemberDescription(
                                "approved_image_url", .string, nullable: true,
                                "For an approved frame, the URL of its approved job's first image still there (lowest generation_index); else null."),
                        ])), "The shot's frames."),
                    ])), "The scenelet's shots."),
                ])), "Its scenelets, each with its shots."),
            ],
            order: "`scenelets` as in `story`; each scenelet's `shots` by `shot_index`; each shot's `frames` in the order they were created.",
            entity: "story"
        ),
        QueryDescription(
            name: "sessions", summary: "A user's sessions with a thumbnail and a count of images.",
            arguments: [QueryArgument("user", .id, "The user.")],
            output: [
                MemberDescription("user_id", .uuid, "The user."),
                MemberDescription("sessions", .array(.object([
                    MemberDescription("session_id", .uuid, "The session."),
                    MemberDescription("title", .string, "Its title."),
                    MemberDescription("thumbnail_url", .string, nullable: true, "The `gcp_url` of its earliest image still there; null when it has none."),
                    MemberDescription("generated_count", .integer, "How many images it holds now."),
                    MemberDescription("created_at", .time, "When it was created."),
                    MemberDescription("updated_at", .time, "When it last changed (renamed, an image generated or deleted)."),
                ])), "The user's sessions."),
            ],
            order: "`sessions` most recently updated first.",
            entity: "user"
        ),
        QueryDescription(
            name: "job", summary: "A job with every parameter, its status, its reference images' URLs and its images.",
            arguments: [QueryArgument("job", .id, "The job.")],
            output: [
                MemberDescription("job_id", .uuid, "The job."),
                MemberDescription("user_id", .uuid, "The user who asked."),
                MemberDescription("session_id", .uuid, nullable: true, "Its session."),
                MemberDescription("frame_id", .uuid, nullable: true, "Its frame."),
                MemberDescription("prompt", .string, "The prompt."),
                MemberDescription("generated_prompt", .string, nullable: true, "The derived prompt."),
                MemberDescription("shot_type", .string, nullable: true, "As given."),
                MemberDescription("camera_angle", .string, nullable: true, "As given."),
                MemberDescription("style", .string, nullable: true, "As given."),
                MemberDescription("location", .string, nullable: true, "As given."),
                MemberDescription("lighting", .string, nullable: true, "As given."),
                MemberDescription("weather", .string, nullable: true, "As given."),
                MemberDescription("aspect_ratio", .string, nullable: true, "As given."),
                MemberDescription("number_of_shots", .integer, "How many images it makes (1 when not given)."),
                MemberDescription("status", .string, "Its status: \(jobStatusText)."),
                MemberDescription("error", .string, nullable: true, "Why it failed."),
                MemberDescription("created_at", .time, "When it was created."),
                MemberDescription("reference_image_ids", .array(.uuid), "Its reference images."),
                MemberDescription("reference_image_urls", .array(.string), "Their URLs."),
                MemberDescription("images", .array(.object([
                    MemberDescription("image_id", .uuid, "The image."),
                    MemberDescription("generation_index", .integer, "Which of the job's images it is."),
                    MemberDescription("gcp_url", .string, "Its URL."),
                    MemberDescription("thumbnail_url", .string, nullable: true, "Its thumbnail's URL."),
                ])), "Its images still there."),
            ],
            order: "`reference_image_ids` and `reference_image_urls` in the order given; `images` by `generation_index`.",
            entity: "job"
        ),
        QueryDescription(
            name: "session-images", summary: "The images of a session.",
            arguments: [QueryArgument("session", .id, "The session.")],
            output: [
                MemberDescription("session_id", .uuid, "The session."),
                MemberDescription("images", .array(.object(imageMembers)), "The images of its jobs still there."),
            ],
            order: "`images` by `generation_index`, then the order they were generated.",
            entity: "session"
        ),
        QueryDescription(
            name: "reference-images", summary: "A user's reference images.",
            arguments: [QueryArgument("user", .id, "The user.")],
            output: [
                MemberDescription("user_id", .uuid, "The user."),
                MemberDescription("reference_images", .array(.object([
                    MemberDescription("reference_image_id", .uuid, "The reference image."),
                    MemberDescription("gcp_url", .string, "Its URL."),
                    MemberDescription("filename", .string, nullable: true, "Its file's name."),
                    MemberDescription("session_id", .uuid, nullable: true, "The session it was uploaded into."),
                    MemberDescription("uploaded_at", .time, "When it was uploaded."),
                ])), "The user's reference images."),
            ],
            order: "`reference_images` newest first.",
            entity: "user"
        ),
        QueryDescription(
            name: "jobs", summary: "The jobs in a status: a work queue.",
            arguments: [
                QueryArgument("status", .status, "The status: \(jobStatusText)."),
                QueryArgument("limit", .count, required: false, "At most this many jobs (all when not given)."),
            ],
            output: [
                MemberDescription("status", .string, "The status asked for."),
                MemberDescription("jobs", .array(.object([
                    MemberDescription("job_id", .uuid, "The job."),
                    MemberDescription("user_id", .uuid, "The user who asked."),
                    MemberDescription("created_at", .time, "When it was created."),
                ])), "The jobs in that status."),
            ],
            order: "`jobs` oldest first (the order they were created).",
            entity: nil
        ),
    ]
}
