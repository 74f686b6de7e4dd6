import Foundation

// Every event of the domain as a typed value (docs/EVENTS.md lists them): one struct per event type, its
// JSON `data` keys in snake_case exactly as the spec names them, optional fields as Swift optionals.

/// `user.registered` — stream `user-<id>`.
public struct UserRegistered: Sendable, Hashable {
    public static let type = "user.registered"
    public var userID: UUID
    public var email: String

    public init(userID: UUID, email: String) {
        self.userID = userID
        self.email = email
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        userID = try reader.uuid("user_id")
        email = try reader.string("email")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("user_id", userID)
        writer.put("email", email)
        return writer.object
    }
}

/// `session.created` — stream `session-<id>`.
public struct SessionCreated: Sendable, Hashable {
    public static let type = "session.created"
    public var sessionID: UUID
    public var userID: UUID
    public var title: String

    public init(sessionID: UUID, userID: UUID, title: String) {
        self.sessionID = sessionID
        self.userID = userID
        self.title = title
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        sessionID = try reader.uuid("session_id")
        userID = try reader.uuid("user_id")
        title = try reader.string("title")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("session_id", sessionID)
        writer.put("user_id", userID)
        writer.put("title", title)
        return writer.object
    }
}

/// `session.renamed` — stream `session-<id>`.
public struct SessionRenamed: Sendable, Hashable {
    public static let type = "session.renamed"
    public var sessionID: UUID
    public var title: String

    public init(sessionID: UUID, title: String) {
        self.sessionID = sessionID
        self.title = title
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        sessionID = try reader.uuid("session_id")
        title = try reader.string("title")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("session_id", sessionID)
        writer.put("title", title)
        return writer.object
    }
}

/// `reference_image.uploaded` — stream `reference-image-<id>`.
public struct ReferenceImageUploaded: Sendable, Hashable {
    public static let type = "reference_image.uploaded"
    public var referenceImageID: UUID
    public var userID: UUID
    public var sessionID: UUID?
    public var gcpBucketPath: String
    public var gcpURL: String
    public var filename: String?

    public init(referenceImageID: UUID, userID: UUID, sessionID: UUID? = nil, gcpBucketPath: String, gcpURL: String, filename: String? = nil) {
        self.referenceImageID = referenceImageID
        self.userID = userID
        self.sessionID = sessionID
        self.gcpBucketPath = gcpBucketPath
        self.gcpURL = gcpURL
        self.filename = filename
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        referenceImageID = try reader.uuid("reference_image_id")
        userID = try reader.uuid("user_id")
        sessionID = try reader.optionalUUID("session_id")
        gcpBucketPath = try reader.string("gcp_bucket_path")
        gcpURL = try reader.string("gcp_url")
        filename = try reader.optionalString("filename")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("reference_image_id", referenceImageID)
        writer.put("user_id", userID)
        writer.put("session_id", sessionID)
        writer.put("gcp_bucket_path", gcpBucketPath)
        writer.put("gcp_url", gcpURL)
        writer.put("filename", filename)
        return writer.object
    }
}

/// `generation_job.created` — stream `job-<id>`.
public struct GenerationJobCreated: Sendable, Hashable {
    public static let type = "generation_job.created"
    public var jobID: UUID
    public var userID: UUID
    public var sessionID: UUID?
    public var frameID: UUID?
    public var prompt: String
    public var generatedPrompt: String?
    public var shotType: String?
    public var cameraAngle: String?
    public var style: String?
    public var location: String?
    public var lighting: String?
    public var weather: String?
    public var aspectRatio: String?
    public var numberOfShots: Int?
    public var referenceImageIDs: [UUID]?

    public init(jobID: UUID, userID: UUID, sessionID: UUID? = nil, frameID: UUID? = nil, prompt: String, generatedPrompt: String? = nil, shotType: String? = nil, cameraAngle: String? = nil, style: String? = nil, location: String? = nil, lighting: String? = nil, weather: String? = nil, aspectRatio: String? = nil, numberOfShots: Int? = nil, referenceImageIDs: [UUID]? = nil) {
        self.jobID = jobID
        self.userID = userID
        self.sessionID = sessionID
        self.frameID = frameID
        self.prompt = prompt
        self.generatedPrompt = generatedPrompt
        self.shotType = shotType
        self.cameraAngle = cameraAngle
        self.style = style
        self.location = location
        self.lighting = lighting
        self.weather = weather
        self.aspectRatio = aspectRatio
        self.numberOfShots = numberOfShots
        self.referenceImageIDs = referenceImageIDs
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        jobID = try reader.uuid("job_id")
        userID = try reader.uuid("user_id")
        sessionID = try reader.optionalUUID("session_id")
        frameID = try reader.optionalUUID("frame_id")
        prompt = try reader.string("prompt")
        generatedPrompt = try reader.optionalString("generated_prompt")
        shotType = try reader.optionalString("shot_type")
        cameraAngle = try reader.optionalString("camera_angle")
        style = try reader.optionalString("style")
        location = try reader.optionalString("location")
        lighting = try reader.optionalString("lighting")
        weather = try reader.optionalString("weather")
        aspectRatio = try reader.optionalString("aspect_ratio")
        numberOfShots = try reader.optionalInt("number_of_shots")
        referenceImageIDs = try reader.optionalUUIDs("reference_image_ids")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("job_id", jobID)
        writer.put("user_id", userID)
        writer.put("session_id", sessionID)
        writer.put("frame_id", frameID)
        writer.put("prompt", prompt)
        writer.put("generated_prompt", generatedPrompt)
        writer.put("shot_type", shotType)
        writer.put("camera_angle", cameraAngle)
        writer.put("style", style)
        writer.put("location", location)
        writer.put("lighting", lighting)
        writer.put("weather", weather)
        writer.put("aspect_ratio", aspectRatio)
        writer.put("number_of_shots", numberOfShots)
        writer.put("reference_image_ids", referenceImageIDs)
        return writer.object
    }
}

/// `generation_job.started` — stream `job-<id>`.
public struct GenerationJobStarted: Sendable, Hashable {
    public static let type = "generation_job.started"
    public var jobID: UUID

    public init(jobID: UUID) {
        self.jobID = jobID
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        jobID = try reader.uuid("job_id")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("job_id", jobID)
        return writer.object
    }
}

/// `generation_job.completed` — stream `job-<id>`.
public struct GenerationJobCompleted: Sendable, Hashable {
    public static let type = "generation_job.completed"
    public var jobID: UUID

    public init(jobID: UUID) {
        self.jobID = jobID
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        jobID = try reader.uuid("job_id")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("job_id", jobID)
        return writer.object
    }
}

/// `generation_job.failed` — stream `job-<id>`.
public struct GenerationJobFailed: Sendable, Hashable {
    public static let type = "generation_job.failed"
    public var jobID: UUID
    public var error: String

    public init(jobID: UUID, error: String) {
        self.jobID = jobID
        self.error = error
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        jobID = try reader.uuid("job_id")
        error = try reader.string("error")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("job_id", jobID)
        writer.put("error", error)
        return writer.object
    }
}

/// `image.generated` — stream `job-<id>`.
public struct ImageGenerated: Sendable, Hashable {
    public static let type = "image.generated"
    public var imageID: UUID
    public var jobID: UUID
    public var generationIndex: Int
    public var gcpBucketPath: String
    public var gcpURL: String
    public var thumbnailURL: String?

    public init(imageID: UUID, jobID: UUID, generationIndex: Int, gcpBucketPath: String, gcpURL: String, thumbnailURL: String? = nil) {
        self.imageID = imageID
        self.jobID = jobID
        self.generationIndex = generationIndex
        self.gcpBucketPath = gcpBucketPath
        self.gcpURL = gcpURL
        self.thumbnailURL = thumbnailURL
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        imageID = try reader.uuid("image_id")
        jobID = try reader.uuid("job_id")
        generationIndex = try reader.int("generation_index")
        gcpBucketPath = try reader.string("gcp_bucket_path")
        gcpURL = try reader.string("gcp_url")
        thumbnailURL = try reader.optionalString("thumbnail_url")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("image_id", imageID)
        writer.put("job_id", jobID)
        writer.put("generation_index", generationIndex)
        writer.put("gcp_bucket_path", gcpBucketPath)
        writer.put("gcp_url", gcpURL)
        writer.put("thumbnail_url", thumbnailURL)
        return writer.object
    }
}

/// `image.deleted` — stream `job-<id>`.
public struct ImageDeleted: Sendable, Hashable {
    public static let type = "image.deleted"
    public var imageID: UUID

    public init(imageID: UUID) {
        self.imageID = imageID
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        imageID = try reader.uuid("image_id")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("image_id", imageID)
        return writer.object
    }
}

/// `project.created` — stream `project-<id>`.
public struct ProjectCreated: Sendable, Hashable {
    public static let type = "project.created"
    public var projectID: UUID
    public var userID: UUID?
    public var title: String?

    public init(projectID: UUID, userID: UUID? = nil, title: String? = nil) {
        self.projectID = projectID
        self.userID = userID
        self.title = title
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        projectID = try reader.uuid("project_id")
        userID = try reader.optionalUUID("user_id")
        title = try reader.optionalString("title")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("project_id", projectID)
        writer.put("user_id", userID)
        writer.put("title", title)
        return writer.object
    }
}

/// `scene_image.saved` — stream `project-<id>`.
public struct SceneImageSaved: Sendable, Hashable {
    public static let type = "scene_image.saved"
    public var projectID: UUID
    public var sceneIndex: Int
    public var imageIndex: Int?
    public var imageURL: String

    public init(projectID: UUID, sceneIndex: Int, imageIndex: Int? = nil, imageURL: String) {
        self.projectID = projectID
        self.sceneIndex = sceneIndex
        self.imageIndex = imageIndex
        self.imageURL = imageURL
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        projectID = try reader.uuid("project_id")
        sceneIndex = try reader.int("scene_index")
        imageIndex = try reader.optionalInt("image_index")
        imageURL = try reader.string("image_url")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("project_id", projectID)
        writer.put("scene_index", sceneIndex)
        writer.put("image_index", imageIndex)
        writer.put("image_url", imageURL)
        return writer.object
    }
}

/// `scene_images.cleared` — stream `project-<id>`.
public struct SceneImagesCleared: Sendable, Hashable {
    public static let type = "scene_images.cleared"
    public var projectID: UUID
    public var sceneIndexes: [Int]

    public init(projectID: UUID, sceneIndexes: [Int]) {
        self.projectID = projectID
        self.sceneIndexes = sceneIndexes
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        projectID = try reader.uuid("project_id")
        sceneIndexes = try reader.ints("scene_indexes")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("project_id", projectID)
        writer.put("scene_indexes", sceneIndexes)
        return writer.object
    }
}

/// `story.created` — stream `story-<id>`.
public struct StoryCreated: Sendable, Hashable {
    public static let type = "story.created"
    public var storyID: UUID
    public var title: String
    public var userID: UUID?

    public init(storyID: UUID, title: String, userID: UUID? = nil) {
        self.storyID = storyID
        self.title = title
        self.userID = userID
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        storyID = try reader.uuid("story_id")
        title = try reader.string("title")
        userID = try reader.optionalUUID("user_id")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("story_id", storyID)
        writer.put("title", title)
        writer.put("user_id", userID)
        return writer.object
    }
}

/// `scenelet.added` — stream `story-<id>`.
public struct SceneletAdded: Sendable, Hashable {
    public static let type = "scenelet.added"
    public var sceneletID: UUID
    public var storyID: UUID
    public var parentID: UUID?
    public var content: JSONObject
    public var isBranchPoint: Bool?
    public var choicePrompt: String?

    public init(sceneletID: UUID, storyID: UUID, parentID: UUID? = nil, content: JSONObject, isBranchPoint: Bool? = nil, choicePrompt: String? = nil) {
        self.sceneletID = sceneletID
        self.storyID = storyID
        self.parentID = parentID
        self.content = content
        self.isBranchPoint = isBranchPoint
        self.choicePrompt = choicePrompt
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        sceneletID = try reader.uuid("scenelet_id")
        storyID = try reader.uuid("story_id")
        parentID = try reader.optionalUUID("parent_id")
        content = try reader.object("content")
        isBranchPoint = try reader.optionalBool("is_branch_point")
        choicePrompt = try reader.optionalString("choice_prompt")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("scenelet_id", sceneletID)
        writer.put("story_id", storyID)
        writer.put("parent_id", parentID)
        writer.put("content", content)
        writer.put("is_branch_point", isBranchPoint)
        writer.put("choice_prompt", choicePrompt)
        return writer.object
    }
}

/// `scenelet.updated` — stream `story-<id>`.
public struct SceneletUpdated: Sendable, Hashable {
    public static let type = "scenelet.updated"
    public var sceneletID: UUID
    public var content: JSONObject?
    public var isBranchPoint: Bool?
    public var choicePrompt: String?

    public init(sceneletID: UUID, content: JSONObject? = nil, isBranchPoint: Bool? = nil, choicePrompt: String? = nil) {
        self.sceneletID = sceneletID
        self.content = content
        self.isBranchPoint = isBranchPoint
        self.choicePrompt = choicePrompt
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        sceneletID = try reader.uuid("scenelet_id")
        content = try reader.optionalObject("content")
        isBranchPoint = try reader.optionalBool("is_branch_point")
        choicePrompt = try reader.optionalString("choice_prompt")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("scenelet_id", sceneletID)
        writer.put("content", content)
        writer.put("is_branch_point", isBranchPoint)
        writer.put("choice_prompt", choicePrompt)
        return writer.object
    }
}

/// `scenelet.removed` — stream `story-<id>`.
public struct SceneletRemoved: Sendable, Hashable {
    public static let type = "scenelet.removed"
    public var sceneletID: UUID

    public init(sceneletID: UUID) {
        self.sceneletID = sceneletID
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        sceneletID = try reader.uuid("scenelet_id")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("scenelet_id", sceneletID)
        return writer.object
    }
}

/// `scenelet.end_frame_set` — stream `story-<id>`.
public struct SceneletEndFrameSet: Sendable, Hashable {
    public static let type = "scenelet.end_frame_set"
    public var sceneletID: UUID
    public var frameID: UUID

    public init(sceneletID: UUID, frameID: UUID) {
        self.sceneletID = sceneletID
        self.frameID = frameID
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        sceneletID = try reader.uuid("scenelet_id")
        frameID = try reader.uuid("frame_id")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("scenelet_id", sceneletID)
        writer.put("frame_id", frameID)
        return writer.object
    }
}

/// `shot.planned` — stream `story-<id>`.
public struct ShotPlanned: Sendable, Hashable {
    public static let type = "shot.planned"
    public var shotID: UUID
    public var sceneletID: UUID
    public var shotIndex: Int
    public var storyboardPayload: JSONObject?

    public init(shotID: UUID, sceneletID: UUID, shotIndex: Int, storyboardPayload: JSONObject? = nil) {
        self.shotID = shotID
        self.sceneletID = sceneletID
        self.shotIndex = shotIndex
        self.storyboardPayload = storyboardPayload
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        shotID = try reader.uuid("shot_id")
        sceneletID = try reader.uuid("scenelet_id")
        shotIndex = try reader.int("shot_index")
        storyboardPayload = try reader.optionalObject("storyboard_payload")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("shot_id", shotID)
        writer.put("scenelet_id", sceneletID)
        writer.put("shot_index", shotIndex)
        writer.put("storyboard_payload", storyboardPayload)
        return writer.object
    }
}

/// `shot.assets_attached` — stream `story-<id>`.
public struct ShotAssetsAttached: Sendable, Hashable {
    public static let type = "shot.assets_attached"
    public var shotID: UUID
    public var keyFrameImagePath: String?
    public var audioFilePath: String?

    public init(shotID: UUID, keyFrameImagePath: String? = nil, audioFilePath: String? = nil) {
        self.shotID = shotID
        self.keyFrameImagePath = keyFrameImagePath
        self.audioFilePath = audioFilePath
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        shotID = try reader.uuid("shot_id")
        keyFrameImagePath = try reader.optionalString("key_frame_image_path")
        audioFilePath = try reader.optionalString("audio_file_path")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("shot_id", shotID)
        writer.put("key_frame_image_path", keyFrameImagePath)
        writer.put("audio_file_path", audioFilePath)
        return writer.object
    }
}

/// `frame.created` — stream `frame-<id>`.
public struct FrameCreated: Sendable, Hashable {
    public static let type = "frame.created"
    public var frameID: UUID
    public var shotID: UUID
    public var frameType: String
    public var previousFrameID: UUID?

    public init(frameID: UUID, shotID: UUID, frameType: String, previousFrameID: UUID? = nil) {
        self.frameID = frameID
        self.shotID = shotID
        self.frameType = frameType
        self.previousFrameID = previousFrameID
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        frameID = try reader.uuid("frame_id")
        shotID = try reader.uuid("shot_id")
        frameType = try reader.string("frame_type")
        previousFrameID = try reader.optionalUUID("previous_frame_id")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("frame_id", frameID)
        writer.put("shot_id", shotID)
        writer.put("frame_type", frameType)
        writer.put("previous_frame_id", previousFrameID)
        return writer.object
    }
}

/// `frame.approved` — stream `frame-<id>`.
public struct FrameApproved: Sendable, Hashable {
    public static let type = "frame.approved"
    public var frameID: UUID
    public var jobID: UUID

    public init(frameID: UUID, jobID: UUID) {
        self.frameID = frameID
        self.jobID = jobID
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        frameID = try reader.uuid("frame_id")
        jobID = try reader.uuid("job_id")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("frame_id", frameID)
        writer.put("job_id", jobID)
        return writer.object
    }
}

/// `frame.rejected` — stream `frame-<id>`.
public struct FrameRejected: Sendable, Hashable {
    public static let type = "frame.rejected"
    public var frameID: UUID
    public var reason: String?

    public init(frameID: UUID, reason: String? = nil) {
        self.frameID = frameID
        self.reason = reason
    }

    init(reading data: JSONObject) throws {
        var reader = DataReader(type: Self.type, object: data)
        frameID = try reader.uuid("frame_id")
        reason = try reader.optionalString("reason")
        try reader.finish()
    }

    var data: JSONObject {
        var writer = DataWriter()
        writer.put("frame_id", frameID)
        writer.put("reason", reason)
        return writer.object
    }
}

/// Any event of the media-pipeline domain.
public enum DomainEvent: Sendable, Hashable {
    case userRegistered(UserRegistered)
    case sessionCreated(SessionCreated)
    case sessionRenamed(SessionRenamed)
    case referenceImageUploaded(ReferenceImageUploaded)
    case generationJobCreated(GenerationJobCreated)
    case generationJobStarted(GenerationJobStarted)
    case generationJobCompleted(GenerationJobCompleted)
    case generationJobFailed(GenerationJobFailed)
    case imageGenerated(ImageGenerated)
    case imageDeleted(ImageDeleted)
    case projectCreated(ProjectCreated)
    case sceneImageSaved(SceneImageSaved)
    case sceneImagesCleared(SceneImagesCleared)
    case storyCreated(StoryCreated)
    case sceneletAdded(SceneletAdded)
    case sceneletUpdated(SceneletUpdated)
    case sceneletRemoved(SceneletRemoved)
    case sceneletEndFrameSet(SceneletEndFrameSet)
    case shotPlanned(ShotPlanned)
    case shotAssetsAttached(ShotAssetsAttached)
    case frameCreated(FrameCreated)
    case frameApproved(FrameApproved)
    case frameRejected(FrameRejected)

    /// Every event type of the catalogue, in the spec's order.
    public static let types: [String] = [UserRegistered.type, SessionCreated.type, SessionRenamed.type, ReferenceImageUploaded.type, GenerationJobCreated.type, GenerationJobStarted.type, GenerationJobCompleted.type, GenerationJobFailed.type, ImageGenerated.type, ImageDeleted.type, ProjectCreated.type, SceneImageSaved.type, SceneImagesCleared.type, StoryCreated.type, SceneletAdded.type, SceneletUpdated.type, SceneletRemoved.type, SceneletEndFrameSet.type, ShotPlanned.type, ShotAssetsAttached.type, FrameCreated.type, FrameApproved.type, FrameRejected.type]

    /// The event type, e.g. `image.generated`.
    public var type: String {
        switch self {
        case .userRegistered: UserRegistered.type
        case .sessionCreated: SessionCreated.type
        case .sessionRenamed: SessionRenamed.type
        case .referenceImageUploaded: ReferenceImageUploaded.type
        case .generationJobCreated: GenerationJobCreated.type
        case .generationJobStarted: GenerationJobStarted.type
        case .generationJobCompleted: GenerationJobCompleted.type
        case .generationJobFailed: GenerationJobFailed.type
        case .imageGenerated: ImageGenerated.type
        case .imageDeleted: ImageDeleted.type
        case .projectCreated: ProjectCreated.type
        case .sceneImageSaved: SceneImageSaved.type
        case .sceneImagesCleared: SceneImagesCleared.type
        case .storyCreated: StoryCreated.type
        case .sceneletAdded: SceneletAdded.type
        case .sceneletUpdated: SceneletUpdated.type
        case .sceneletRemoved: SceneletRemoved.type
        case .sceneletEndFrameSet: SceneletEndFrameSet.type
        case .shotPlanned: ShotPlanned.type
        case .shotAssetsAttached: ShotAssetsAttached.type
        case .frameCreated: FrameCreated.type
        case .frameApproved: FrameApproved.type
        case .frameRejected: FrameRejected.type
        }
    }

    /// The `data` object of the event, absent optionals left out.
    public var data: JSONObject {
        switch self {
        case let .userRegistered(event): event.data
        case let .sessionCreated(event): event.data
        case let .sessionRenamed(event): event.data
        case let .referenceImageUploaded(event): event.data
        case let .generationJobCreated(event): event.data
        case let .generationJobStarted(event): event.data
        case let .generationJobCompleted(event): event.data
        case let .generationJobFailed(event): event.data
        case let .imageGenerated(event): event.data
        case let .imageDeleted(event): event.data
        case let .projectCreated(event): event.data
        case let .sceneImageSaved(event): event.data
        case let .sceneImagesCleared(event): event.data
        case let .storyCreated(event): event.data
        case let .sceneletAdded(event): event.data
        case let .sceneletUpdated(event): event.data
        case let .sceneletRemoved(event): event.data
        case let .sceneletEndFrameSet(event): event.data
        case let .shotPlanned(event): event.data
        case let .shotAssetsAttached(event): event.data
        case let .frameCreated(event): event.data
        case let .frameApproved(event): event.data
        case let .frameRejected(event): event.data
        }
    }

    /// Decodes `data` for `type`. Throws ``UnknownEventType`` or ``InvalidData``.
    public init(type: String, data: JSONObject) throws {
        switch type {
        case UserRegistered.type: self = .userRegistered(try UserRegistered(reading: data))
        case SessionCreated.type: self = .sessionCreated(try SessionCreated(reading: data))
        case SessionRenamed.type: self = .sessionRenamed(try SessionRenamed(reading: data))
        case ReferenceImageUploaded.type: self = .referenceImageUploaded(try ReferenceImageUploaded(reading: data))
        case GenerationJobCreated.type: self = .generationJobCreated(try GenerationJobCreated(reading: data))
        case GenerationJobStarted.type: self = .generationJobStarted(try GenerationJobStarted(reading: data))
        case GenerationJobCompleted.type: self = .generationJobCompleted(try GenerationJobCompleted(reading: data))
        case GenerationJobFailed.type: self = .generationJobFailed(try GenerationJobFailed(reading: data))
        case ImageGenerated.type: self = .imageGenerated(try ImageGenerated(reading: data))
        case ImageDeleted.type: self = .imageDeleted(try ImageDeleted(reading: data))
        case ProjectCreated.type: self = .projectCreated(try ProjectCreated(reading: data))
        case SceneImageSaved.type: self = .sceneImageSaved(try SceneImageSaved(reading: data))
        case SceneImagesCleared.type: self = .sceneImagesCleared(try SceneImagesCleared(reading: data))
        case StoryCreated.type: self = .storyCreated(try StoryCreated(reading: data))
        case SceneletAdded.type: self = .sceneletAdded(try SceneletAdded(reading: data))
        case SceneletUpdated.type: self = .sceneletUpdated(try SceneletUpdated(reading: data))
        case SceneletRemoved.type: self = .sceneletRemoved(try SceneletRemoved(reading: data))
        case SceneletEndFrameSet.type: self = .sceneletEndFrameSet(try SceneletEndFrameSet(reading: data))
        case ShotPlanned.type: self = .shotPlanned(try ShotPlanned(reading: data))
        case ShotAssetsAttached.type: self = .shotAssetsAttached(try ShotAssetsAttached(reading: data))
        case FrameCreated.type: self = .frameCreated(try FrameCreated(reading: data))
        case FrameApproved.type: self = .frameApproved(try FrameApproved(reading: data))
        case FrameRejected.type: self = .frameRejected(try FrameRejected(reading: data))
        default: throw UnknownEventType(type: type)
        }
    }

    /// The stream entity and id when the event names them itself (`nil` for events whose stream is that of a
    /// parent entity: `image.deleted`, `scenelet.updated|removed|end_frame_set`, `shot.*`).

    var directStream: (entity: String, id: UUID)? {
        switch self {
        case let .userRegistered(event): ("user", event.userID)
        case let .sessionCreated(event): ("session", event.sessionID)
        case let .sessionRenamed(event): ("session", event.sessionID)
        case let .referenceImageUploaded(event): ("reference-image", event.referenceImageID)
        case let .generationJobCreated(event): ("job", event.jobID)
        case let .generationJobStarted(event): ("job", event.jobID)
        case let .generationJobCompleted(event): ("job", event.jobID)
        case let .generationJobFailed(event): ("job", event.jobID)
        case let .imageGenerated(event): ("job", event.jobID)
        case .imageDeleted: nil
        case let .projectCreated(event): ("project", event.projectID)
        case let .sceneImageSaved(event): ("project", event.projectID)
        case let .sceneImagesCleared(event): ("project", event.projectID)
        case let .storyCreated(event): ("story", event.storyID)
        case let .sceneletAdded(event): ("story", event.storyID)
        case .sceneletUpdated: nil
        case .sceneletRemoved: nil
        case .sceneletEndFrameSet: nil
        case .shotPlanned: nil
        case .shotAssetsAttached: nil
        case let .frameCreated(event): ("frame", event.frameID)
        case let .frameApproved(event): ("frame", event.frameID)
        case let .frameRejected(event): ("frame", event.frameID)
        }
    }
}

/// An input named an event type the catalogue does not have.
public struct UnknownEventType: Error, Sendable, Equatable, CustomStringConvertible {
    public let type: String
    public var description: String { "unknown event type \"\(type.prefix(100))\"" }
}
