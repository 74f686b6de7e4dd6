import Foundation

// The catalogue's own description of every event type, for people and programs: its fields, stream, rules and an
// example input line. `reel events` prints it and docs/EVENTS.md is generated from it; the reference tests hold it to
// the decoders (every field, type and requirement), the rules (every rejection message) and the streams.

/// The JSON type of a field of an event's `data`, as ``DomainEvent/init(type:data:)`` reads it.
public enum FieldType: String, Sendable, Hashable, CaseIterable {
    /// A UUID as a string, e.g. `"3f6c1a2e-8b4d-4e7f-9a1b-2c3d4e5f6a01"` (any case; stored lower-case).
    case uuid = "UUID"
    case string
    /// A whole number that fits in 64 bits.
    case integer
    case boolean
    /// Any JSON object, stored as given (canonical JSON).
    case object
    case uuids = "array of UUIDs"
    case integers = "array of integers"
}

/// One field of an event's `data` (or of an input line).
public struct FieldDescription: Sendable, Hashable {
    /// The JSON name, e.g. `user_id`.
    public let name: String
    public let type: FieldType
    /// Required fields must be present and not `null`; optional ones may be absent or `null`, which mean the same.
    public let isRequired: Bool
    /// What an absent optional field stands for, when it stands for a value (e.g. `1`).
    public let defaultValue: String?
    /// What the field means, one sentence.
    public let summary: String

    init(_ name: String, _ type: FieldType, required isRequired: Bool, default defaultValue: String? = nil, _ summary: String) {
        self.name = name
        self.type = type
        self.isRequired = isRequired
        self.defaultValue = defaultValue
        self.summary = summary
    }
}

/// The stream an event is appended to, derived from its `data` (an input line never names it).
public enum StreamDescription: Sendable, Hashable {
    /// `<entity>-<the value of field>`, e.g. `user-<user_id>`.
    case own(entity: String, field: String)
    /// The stream of the entity that `field` names, which is its parent's: e.g. `image.deleted` goes to the stream of
    /// the job that generated the image, `job-<job_id>`.
    case parent(entity: String, parentField: String, field: String, child: String)

    /// The stream's name with a placeholder, e.g. `user-<user_id>` or `job-<job_id>`.
    public var pattern: String {
        switch self {
        case let .own(entity, field): "\(entity)-<\(field)>"
        case let .parent(entity, parentField, _, _): "\(entity)-<\(parentField)>"
        }
    }

    /// The pattern and, for a parent's stream, whose it is: "`job-<job_id>`, the stream of the image's job (`image_id`)".
    public var text: String {
        switch self {
        case .own: "`\(pattern)`"
        case let .parent(entity, _, field, child): "`\(pattern)`: the stream of the \(entity) of the \(child) that `\(field)` names"
        }
    }
}

/// One event type of the catalogue: what it records, its fields, its stream, the rules that reject it and an example
/// input line that `reel append` accepts.
public struct EventDescription: Sendable, Hashable {
    /// The event type, e.g. `user.registered`.
    public let type: String
    /// What the event records, one line.
    public let summary: String
    public let stream: StreamDescription
    /// The fields of `data`, in the order the decoder reads them.
    public let fields: [FieldDescription]
    /// What makes the store reject the event, each as the rejection message words it (after
    /// `<type> rejected: `). `<field>` stands for that field's value in the event; other `<…>` for a value the
    /// store holds (another entity's id, a status).
    public let rules: [String]
    /// The example's `data`, compact JSON.
    public let exampleData: String
    /// Event types whose examples must be in the store before this one's is accepted (directly; see
    /// ``exampleRequires``).
    public let after: [String]

    /// The example input line: `{"type":…,"data":…}`.
    public var exampleLine: String { #"{"type":"\#(type)","data":\#(exampleData)}"# }

    /// Every event type whose example must be appended before this one's, in an order `reel append` accepts
    /// (each one's own prerequisites first), without repeats.
    public var exampleRequires: [String] {
        var order: [String] = []
        func visit(_ type: String) {
            guard let description = EventDescription.named(type) else { return }
            for earlier in description.after where !order.contains(earlier) { visit(earlier) }
            if !order.contains(type) { order.append(type) }
        }
        for earlier in after { visit(earlier) }
        return order
    }

    /// The fields that must be given.
    public var requiredFields: [FieldDescription] { fields.filter(\.isRequired) }

    /// The description of `type`, if the catalogue has it.
    public static func named(_ type: String) -> EventDescription? { all.first { $0.type == type } }

    /// The known types nearest to `type` by edit distance (case ignored), closest first, at most `limit`; with
    /// `within`, only those at most that many edits away.
    public static func nearest(to type: String, limit: Int = 3, within: Int? = nil) -> [String] {
        Suggestions.nearest(to: type, among: all.map(\.type), limit: limit, within: within)
    }

    /// The known types close enough to `type` to be what was meant (a typo: a few edits for its length).
    public static func suggestions(for type: String) -> [String] {
        nearest(to: type, limit: 3, within: Suggestions.closeEnough(type))
    }

    init(
        _ type: String, _ summary: String, stream: StreamDescription, fields: [FieldDescription], rules: [String], example: String,
        after: [String] = []
    ) {
        self.type = type
        self.summary = summary
        self.stream = stream
        self.fields = fields
        self.rules = rules
        self.exampleData = example
        self.after = after
    }
}

/// Edit distance over names, for "did you mean" answers.
enum Suggestions {
    /// Levenshtein distance of the lower-cased names, over Unicode scalars.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased().unicodeScalars), b = Array(b.lowercased().unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// How many edits still make `name` a typo of a known name: a third of its length (of its first 200 characters,
    /// the most that is compared), at least 2.
    static func closeEnough(_ name: String) -> Int { max(2, name.prefix(200).count / 3) }

    /// The names nearest to `name`, at most `limit`: first the known names that contain it (of four characters or
    /// more, case ignored: `job.started` for `generation_job.started`), then the others by edit distance (with
    /// `within`, only those at most that many edits away); ties in the order given.
    static func nearest(to name: String, among names: [String], limit: Int, within: Int?) -> [String] {
        // A name longer than any known one by far is nothing like them: no need to measure it.
        let name = String(name.prefix(200))
        let lowered = name.lowercased()
        let scored = names.enumerated().map { index, known in
            (name: known, index: index, contains: lowered.count >= 4 && known.lowercased().contains(lowered), distance: distance(name, known))
        }
        return scored.filter { $0.contains || within == nil || $0.distance <= within! }
            .sorted { ($0.contains ? 0 : 1, $0.distance, $0.index) < ($1.contains ? 0 : 1, $1.distance, $1.index) }
            .prefix(limit).map(\.name)
    }
}

/// The ids the examples share, so that each example refers to what the ones before it created.
enum ExampleID {
    static let user = "3f6c1a2e-8b4d-4e7f-9a1b-2c3d4e5f6a01"
    static let session = "7a2b9c4d-1e3f-4a5b-8c6d-7e8f9a0b1c02"
    static let referenceImage = "c4d5e6f7-2a3b-4c1d-9e8f-0a1b2c3d4e03"
    static let job = "e1f2a3b4-5c6d-4e7f-8a9b-0c1d2e3f4a04"
    static let image = "b7c8d9e0-1f2a-4b3c-9d4e-5f6a7b8c9d05"
    static let project = "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e06"
    static let story = "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a07"
    static let scenelet = "8f9a0b1c-2d3e-4f5a-8b6c-7d8e9f0a1b08"
    static let shot = "6b7c8d9e-0f1a-4b2c-8d3e-4f5a6b7c8d09"
    static let frame = "9c0d1e2f-3a4b-4c5d-9e6f-7a8b9c0d1e0a"
}

extension EventDescription {
    /// The fields of an input line of `reel append`, around the event's `data`.
    public static let inputLineFields: [FieldDescription] = [
        FieldDescription("type", .string, required: true, "The event type, one of the catalogue's."),
        FieldDescription("data", .object, required: true, "The event's fields, as its type describes them."),
        FieldDescription(
            "id", .uuid, required: false,
            "The event's id; left out, a new time-ordered one. Appending an event again with the same id, stream, type and data is a no-op (counted as a duplicate); with other content it is rejected."
        ),
        FieldDescription(
            "expected_version", .integer, required: false,
            "How many events the event's stream must hold before it (0: the stream must be new); otherwise the line is rejected."
        ),
        FieldDescription("metadata", .object, required: false, "Who and why, kept in the envelope: the string fields below."),
    ]

    /// The fields of an input line's `metadata`.
    public static let metadataFields: [FieldDescription] = [
        FieldDescription("actor", .string, required: false, "Who or what made the change (a user, a worker)."),
        FieldDescription("correlation_id", .string, required: false, "Ties together the events of one piece of work."),
        FieldDescription("causation_id", .string, required: false, "The event or command that caused this one."),
    ]

    /// Every event type of the catalogue, in the catalogue's order (``DomainEvent/types``).
    public static let all: [EventDescription] = [
        EventDescription(
            UserRegistered.type, "A user signs up.",
            stream: .own(entity: "user", field: "user_id"),
            fields: [
                FieldDescription("user_id", .uuid, required: true, "The new user's id."),
                FieldDescription("email", .string, required: true, "The user's email address, unique among users ignoring case."),
            ],
            rules: [
                #"email "<email>" must be non-empty and contain @"#,
                "email is longer than 320 bytes",
                "email <email> is already registered to user <owner>",
                "user <user_id> already exists",
            ],
            example: #"{"user_id":"\#(ExampleID.user)","email":"ivo@lighthouse.film"}"#
        ),
        EventDescription(
            SessionCreated.type, "A user opens an image-generation session.",
            stream: .own(entity: "session", field: "session_id"),
            fields: [
                FieldDescription("session_id", .uuid, required: true, "The new session's id."),
                FieldDescription("user_id", .uuid, required: true, "The user the session belongs to."),
                FieldDescription("title", .string, required: true, "The session's title."),
            ],
            rules: ["user <user_id> does not exist", "session <session_id> already exists"],
            example: #"{"session_id":"\#(ExampleID.session)","user_id":"\#(ExampleID.user)","title":"Storm palette"}"#,
            after: [UserRegistered.type]
        ),
        EventDescription(
            SessionRenamed.type, "A session gets a new title.",
            stream: .own(entity: "session", field: "session_id"),
            fields: [
                FieldDescription("session_id", .uuid, required: true, "The session."),
                FieldDescription("title", .string, required: true, "Its new title."),
            ],
            rules: ["session <session_id> does not exist"],
            example: #"{"session_id":"\#(ExampleID.session)","title":"Storm palette, final"}"#,
            after: [SessionCreated.type]
        ),
        EventDescription(
            ReferenceImageUploaded.type, "A user uploads a reference image, optionally into one of their sessions.",
            stream: .own(entity: "reference-image", field: "reference_image_id"),
            fields: [
                FieldDescription("reference_image_id", .uuid, required: true, "The new reference image's id."),
                FieldDescription("user_id", .uuid, required: true, "The user who uploaded it."),
                FieldDescription("session_id", .uuid, required: false, "A session of that user it was uploaded into."),
                FieldDescription("gcp_bucket_path", .string, required: true, "Where the file is in the bucket."),
                FieldDescription("gcp_url", .string, required: true, "The file's URL."),
                FieldDescription("filename", .string, required: false, "The file's name as uploaded."),
            ],
            rules: [
                "user <user_id> does not exist",
                "session <session_id> does not exist",
                "session <session_id> belongs to user <owner>, not <user_id>",
                "reference image <reference_image_id> already exists",
            ],
            example: #"{"reference_image_id":"\#(ExampleID.referenceImage)","user_id":"\#(ExampleID.user)","session_id":"\#(ExampleID.session)","gcp_bucket_path":"uploads/ref-1.jpg","gcp_url":"https://storage.example/uploads/ref-1.jpg","filename":"ref-1.jpg"}"#,
            after: [SessionCreated.type]
        ),
        EventDescription(
            GenerationJobCreated.type, "A user asks for images: a generation job, pending until a worker starts it.",
            stream: .own(entity: "job", field: "job_id"),
            fields: [
                FieldDescription("job_id", .uuid, required: true, "The new job's id."),
                FieldDescription("user_id", .uuid, required: true, "The user who asked."),
                FieldDescription("session_id", .uuid, required: false, "A session of that user the images go into."),
                FieldDescription("frame_id", .uuid, required: false, "The frame the job generates a take of."),
                FieldDescription("prompt", .string, required: true, "The prompt as the user wrote it; not empty."),
                FieldDescription("generated_prompt", .string, required: false, "The prompt the pipeline derived from it."),
                FieldDescription("shot_type", .string, required: false, "A generation parameter, kept as given."),
                FieldDescription("camera_angle", .string, required: false, "A generation parameter, kept as given."),
                FieldDescription("style", .string, required: false, "A generation parameter, kept as given."),
                FieldDescription("location", .string, required: false, "A generation parameter, kept as given."),
                FieldDescription("lighting", .string, required: false, "A generation parameter, kept as given."),
                FieldDescription("weather", .string, required: false, "A generation parameter, kept as given."),
                FieldDescription("aspect_ratio", .string, required: false, "A generation parameter, kept as given."),
                FieldDescription("number_of_shots", .integer, required: false, default: "1", "How many images the job makes, 1…16."),
                FieldDescription(
                    "reference_image_ids", .uuids, required: false, default: "[]",
                    "Reference images of the same user to generate from, in the order given."),
            ],
            rules: [
                "job <job_id> has an empty prompt",
                "number_of_shots <number_of_shots> of job <job_id> is not within 1…16",
                "user <user_id> does not exist",
                "session <session_id> does not exist",
                "session <session_id> belongs to user <owner>, not <user_id>",
                "frame <frame_id> does not exist",
                "reference image <reference image id> does not exist",
                "reference image <reference image id> belongs to user <owner>, not <user_id>",
                "job <job_id> already exists",
            ],
            example: #"{"job_id":"\#(ExampleID.job)","user_id":"\#(ExampleID.user)","session_id":"\#(ExampleID.session)","frame_id":"\#(ExampleID.frame)","prompt":"a lighthouse in a storm","style":"oil","aspect_ratio":"16:9","number_of_shots":2,"reference_image_ids":["\#(ExampleID.referenceImage)"]}"#,
            after: [ReferenceImageUploaded.type, FrameCreated.type]
        ),
        EventDescription(
            GenerationJobStarted.type, "A worker starts a pending job: it is processing.",
            stream: .own(entity: "job", field: "job_id"),
            fields: [FieldDescription("job_id", .uuid, required: true, "The job.")],
            rules: ["job <job_id> does not exist", "job <job_id> is <status>, not pending"],
            example: #"{"job_id":"\#(ExampleID.job)"}"#,
            after: [GenerationJobCreated.type]
        ),
        EventDescription(
            GenerationJobCompleted.type, "A processing job has made its images: it is completed.",
            stream: .own(entity: "job", field: "job_id"),
            fields: [FieldDescription("job_id", .uuid, required: true, "The job.")],
            rules: ["job <job_id> does not exist", "job <job_id> is <status>, not processing"],
            example: #"{"job_id":"\#(ExampleID.job)"}"#,
            after: [ImageGenerated.type]
        ),
        EventDescription(
            GenerationJobFailed.type, "A pending or processing job fails: it is failed, with the error.",
            stream: .own(entity: "job", field: "job_id"),
            fields: [
                FieldDescription("job_id", .uuid, required: true, "The job."),
                FieldDescription("error", .string, required: true, "What went wrong."),
            ],
            rules: ["job <job_id> does not exist", "job <job_id> is <status>, not pending or processing"],
            example: #"{"job_id":"\#(ExampleID.job)","error":"GPU worker lost"}"#,
            after: [GenerationJobStarted.type]
        ),
        EventDescription(
            ImageGenerated.type, "A processing job has made one of its images.",
            stream: .own(entity: "job", field: "job_id"),
            fields: [
                FieldDescription("image_id", .uuid, required: true, "The new image's id, never used by another image before."),
                FieldDescription("job_id", .uuid, required: true, "The job that made it."),
                FieldDescription("generation_index", .integer, required: true, "Which of the job's images it is, 1…number_of_shots."),
                FieldDescription("gcp_bucket_path", .string, required: true, "Where the file is in the bucket."),
                FieldDescription("gcp_url", .string, required: true, "The image's URL."),
                FieldDescription("thumbnail_url", .string, required: false, "A thumbnail's URL."),
            ],
            rules: [
                "job <job_id> does not exist",
                "job <job_id> is <status>, not processing",
                "generation_index <generation_index> is not within 1…<number_of_shots> (number_of_shots of job <job_id>)",
                "job <job_id> already has image <image> at generation_index <generation_index>",
                "image id <image_id> was used before",
            ],
            example: #"{"image_id":"\#(ExampleID.image)","job_id":"\#(ExampleID.job)","generation_index":1,"gcp_bucket_path":"generated/lighthouse/1.jpg","gcp_url":"https://storage.example/generated/lighthouse/1.jpg","thumbnail_url":"https://storage.example/thumbs/lighthouse/1.jpg"}"#,
            after: [GenerationJobStarted.type]
        ),
        EventDescription(
            ImageDeleted.type, "A generated image is deleted: it leaves its job's and its session's images.",
            stream: .parent(entity: "job", parentField: "job_id", field: "image_id", child: "image"),
            fields: [FieldDescription("image_id", .uuid, required: true, "The image.")],
            rules: ["image <image_id> does not exist", "image <image_id> was already deleted"],
            example: #"{"image_id":"\#(ExampleID.image)"}"#,
            after: [ImageGenerated.type]
        ),
        EventDescription(
            ProjectCreated.type, "A content-creation project is started.",
            stream: .own(entity: "project", field: "project_id"),
            fields: [
                FieldDescription("project_id", .uuid, required: true, "The new project's id."),
                FieldDescription("user_id", .uuid, required: false, "The user who owns it (kept as given)."),
                FieldDescription("title", .string, required: false, "The project's title."),
            ],
            rules: ["project <project_id> already exists"],
            example: #"{"project_id":"\#(ExampleID.project)","user_id":"\#(ExampleID.user)","title":"Lighthouse trailer"}"#
        ),
        EventDescription(
            SceneImageSaved.type, "An image is saved into a scene of a project, replacing the one at the same image_index.",
            stream: .own(entity: "project", field: "project_id"),
            fields: [
                FieldDescription("project_id", .uuid, required: true, "The project."),
                FieldDescription("scene_index", .integer, required: true, "The scene, 0 or more."),
                FieldDescription("image_index", .integer, required: false, default: "0", "The image's place in the scene, 0 or more."),
                FieldDescription("image_url", .string, required: true, "The image's URL; not empty."),
            ],
            rules: [
                "scene_index <scene_index> of project <project_id> is negative",
                "image_index <image_index> of project <project_id> is negative",
                "image_url of project <project_id> scene <scene_index> is empty",
                "project <project_id> does not exist",
            ],
            example: #"{"project_id":"\#(ExampleID.project)","scene_index":3,"image_index":0,"image_url":"https://storage.example/projects/lighthouse/3/0.png"}"#,
            after: [ProjectCreated.type]
        ),
        EventDescription(
            SceneImagesCleared.type, "The images of some scenes of a project, or of all of them, are removed.",
            stream: .own(entity: "project", field: "project_id"),
            fields: [
                FieldDescription("project_id", .uuid, required: true, "The project."),
                FieldDescription("scene_indexes", .integers, required: true, "The scenes to clear; `[]` clears every scene."),
            ],
            rules: ["project <project_id> does not exist", "scene_index <scene index> of project <project_id> is negative"],
            example: #"{"project_id":"\#(ExampleID.project)","scene_indexes":[3]}"#,
            after: [SceneImageSaved.type]
        ),
        EventDescription(
            StoryCreated.type, "A branching story is started.",
            stream: .own(entity: "story", field: "story_id"),
            fields: [
                FieldDescription("story_id", .uuid, required: true, "The new story's id."),
                FieldDescription("title", .string, required: true, "The story's title."),
                FieldDescription("user_id", .uuid, required: false, "The user who owns it (kept as given)."),
            ],
            rules: ["story <story_id> already exists"],
            example: #"{"story_id":"\#(ExampleID.story)","title":"The Lighthouse Keeper","user_id":"\#(ExampleID.user)"}"#
        ),
        EventDescription(
            SceneletAdded.type, "A scenelet joins a story's tree: its root (no parent_id), or a child of one of its scenelets.",
            stream: .own(entity: "story", field: "story_id"),
            fields: [
                FieldDescription("scenelet_id", .uuid, required: true, "The new scenelet's id, never used by another scenelet before."),
                FieldDescription("story_id", .uuid, required: true, "The story."),
                FieldDescription(
                    "parent_id", .uuid, required: false,
                    "The parent scenelet, in the same story; left out, the scenelet is the story's root (a story has one)."),
                FieldDescription("content", .object, required: true, "The scenelet's content, any JSON object."),
                FieldDescription("is_branch_point", .boolean, required: false, default: "false", "Whether the viewer chooses among its children."),
                FieldDescription("choice_prompt", .string, required: false, "The question a branch point asks."),
            ],
            rules: [
                "story <story_id> does not exist",
                "parent scenelet <parent_id> does not exist",
                "parent scenelet <parent_id> belongs to story <other story>, not <story_id>",
                "story <story_id> already has root scenelet <root>",
                "scenelet id <scenelet_id> was used before",
            ],
            example: #"{"scenelet_id":"\#(ExampleID.scenelet)","story_id":"\#(ExampleID.story)","content":{"title":"A storm rolls in","beat":1},"is_branch_point":true,"choice_prompt":"Stay with the light, or go?"}"#,
            after: [StoryCreated.type]
        ),
        EventDescription(
            SceneletUpdated.type, "A scenelet's content, branch flag or choice prompt changes; fields left out keep their value.",
            stream: .parent(entity: "story", parentField: "story_id", field: "scenelet_id", child: "scenelet"),
            fields: [
                FieldDescription("scenelet_id", .uuid, required: true, "The scenelet."),
                FieldDescription("content", .object, required: false, "Its new content."),
                FieldDescription("is_branch_point", .boolean, required: false, "Whether it is a branch point now."),
                FieldDescription("choice_prompt", .string, required: false, "Its new choice prompt."),
            ],
            rules: ["scenelet <scenelet_id> does not exist"],
            example: #"{"scenelet_id":"\#(ExampleID.scenelet)","content":{"title":"A storm rolls in at dusk","beat":1}}"#,
            after: [SceneletAdded.type]
        ),
        EventDescription(
            SceneletRemoved.type, "A scenelet without children leaves the tree, with its shots and their frames.",
            stream: .parent(entity: "story", parentField: "story_id", field: "scenelet_id", child: "scenelet"),
            fields: [FieldDescription("scenelet_id", .uuid, required: true, "The scenelet.")],
            rules: ["scenelet <scenelet_id> does not exist", "scenelet <scenelet_id> has child scenelets (<children>)"],
            example: #"{"scenelet_id":"\#(ExampleID.scenelet)"}"#,
            after: [SceneletAdded.type]
        ),
        EventDescription(
            SceneletEndFrameSet.type, "A frame of the same story becomes a scenelet's end frame.",
            stream: .parent(entity: "story", parentField: "story_id", field: "scenelet_id", child: "scenelet"),
            fields: [
                FieldDescription("scenelet_id", .uuid, required: true, "The scenelet."),
                FieldDescription("frame_id", .uuid, required: true, "The frame."),
            ],
            rules: [
                "scenelet <scenelet_id> does not exist",
                "frame <frame_id> does not exist",
                "frame <frame_id> belongs to story <frame's story>, scenelet <scenelet_id> to story <scenelet's story>",
            ],
            example: #"{"scenelet_id":"\#(ExampleID.scenelet)","frame_id":"\#(ExampleID.frame)"}"#,
            after: [FrameCreated.type]
        ),
        EventDescription(
            ShotPlanned.type, "A shot is planned for a scenelet.",
            stream: .parent(entity: "story", parentField: "story_id", field: "scenelet_id", child: "scenelet"),
            fields: [
                FieldDescription("shot_id", .uuid, required: true, "The new shot's id, never used by another shot before."),
                FieldDescription("scenelet_id", .uuid, required: true, "The scenelet."),
                FieldDescription("shot_index", .integer, required: true, "Its place among the scenelet's shots, 1 or more, unique there."),
                FieldDescription("storyboard_payload", .object, required: false, "The storyboard, any JSON object."),
            ],
            rules: [
                "scenelet <scenelet_id> does not exist",
                "shot_index <shot_index> of shot <shot_id> is below 1",
                "scenelet <scenelet_id> already has a shot with shot_index <shot_index>",
                "shot id <shot_id> was used before",
            ],
            example: #"{"shot_id":"\#(ExampleID.shot)","scenelet_id":"\#(ExampleID.scenelet)","shot_index":1,"storyboard_payload":{"camera":"wide"}}"#,
            after: [SceneletAdded.type]
        ),
        EventDescription(
            ShotAssetsAttached.type, "A shot gets its key frame image or its audio; fields left out keep their value.",
            stream: .parent(entity: "story", parentField: "story_id", field: "shot_id", child: "shot"),
            fields: [
                FieldDescription("shot_id", .uuid, required: true, "The shot."),
                FieldDescription("key_frame_image_path", .string, required: false, "The key frame image's path."),
                FieldDescription("audio_file_path", .string, required: false, "The audio file's path."),
            ],
            rules: ["shot <shot_id> does not exist"],
            example: #"{"shot_id":"\#(ExampleID.shot)","key_frame_image_path":"keyframes/storm.png","audio_file_path":"audio/storm.mp3"}"#,
            after: [ShotPlanned.type]
        ),
        EventDescription(
            FrameCreated.type, "A frame of a shot is created, pending review.",
            stream: .own(entity: "frame", field: "frame_id"),
            fields: [
                FieldDescription("frame_id", .uuid, required: true, "The new frame's id, never used by another frame before."),
                FieldDescription("shot_id", .uuid, required: true, "The shot."),
                FieldDescription("frame_type", .string, required: true, "The frame's type (e.g. key, end), unique within the shot; 1…200 bytes."),
                FieldDescription("previous_frame_id", .uuid, required: false, "The frame before it."),
            ],
            rules: [
                "shot <shot_id> does not exist",
                "frame_type of frame <frame_id> is empty",
                "frame_type of frame <frame_id> is longer than 200 bytes",
                #"shot <shot_id> already has a frame of type "<frame_type>""#,
                "previous frame <previous_frame_id> does not exist",
                "frame id <frame_id> was used before",
            ],
            example: #"{"frame_id":"\#(ExampleID.frame)","shot_id":"\#(ExampleID.shot)","frame_type":"key"}"#,
            after: [ShotPlanned.type]
        ),
        EventDescription(
            FrameApproved.type, "A reviewer approves a frame with a completed job made for it: that job becomes its current job.",
            stream: .own(entity: "frame", field: "frame_id"),
            fields: [
                FieldDescription("frame_id", .uuid, required: true, "The frame."),
                FieldDescription("job_id", .uuid, required: true, "The approved job."),
            ],
            rules: [
                "frame <frame_id> does not exist",
                "job <job_id> does not exist",
                "job <job_id> was not created for frame <frame_id>",
                "job <job_id> is <status>, not completed",
            ],
            example: #"{"frame_id":"\#(ExampleID.frame)","job_id":"\#(ExampleID.job)"}"#,
            after: [GenerationJobCompleted.type]
        ),
        EventDescription(
            FrameRejected.type, "A reviewer rejects a frame: it has no current job until one is approved.",
            stream: .own(entity: "frame", field: "frame_id"),
            fields: [
                FieldDescription("frame_id", .uuid, required: true, "The frame."),
                FieldDescription("reason", .string, required: false, "Why."),
            ],
            rules: ["frame <frame_id> does not exist"],
            example: #"{"frame_id":"\#(ExampleID.frame)","reason":"the lamp is on the wrong side"}"#,
            after: [FrameCreated.type]
        ),
    ]
}
