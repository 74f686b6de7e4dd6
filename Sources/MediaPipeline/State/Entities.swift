import EventStore
import Foundation

/// Status of a generation job: `pending → processing → completed`, `pending|processing → failed`.
public enum JobStatus: String, Sendable, Hashable, CaseIterable {
    case pending, processing, completed, failed

    var code: UInt8 {
        switch self {
        case .pending: 0
        case .processing: 1
        case .completed: 2
        case .failed: 3
        }
    }

    init(code: UInt8) throws {
        switch code {
        case 0: self = .pending
        case 1: self = .processing
        case 2: self = .completed
        case 3: self = .failed
        default: throw DamagedRecord(what: "job status")
        }
    }
}

/// Review status of a frame: `pending` until reviewed, then the latest review wins.
public enum FrameStatus: String, Sendable, Hashable, CaseIterable {
    case pending, approved, rejected

    var code: UInt8 {
        switch self {
        case .pending: 0
        case .approved: 1
        case .rejected: 2
        }
    }

    init(code: UInt8) throws {
        switch code {
        case 0: self = .pending
        case 1: self = .approved
        case 2: self = .rejected
        default: throw DamagedRecord(what: "frame status")
        }
    }
}

struct UserRecord: EntityRecord {
    var email: String
    init(email: String) { self.email = email }
    init(from r: inout RecordReader) throws { email = try r.string() }
    func encode(into w: inout RecordWriter) { w.string(email) }
}

/// A session, stored under its user ‖ its id in `user-sessions` (a user's sessions are one key range);
/// `sessions` maps the id to its user (`SessionOwner`).
struct SessionRecord: EntityRecord {
    var title: String
    var createdAt: Int64
    var updatedAt: Int64
    /// Position of the event that set `updatedAt` (ties in time go to the later position).
    var updatedPosition: UInt64
    var imageCount: Int
    /// `gcp_url` of the earliest image still in the session, kept as the relational sessions design's trigger kept `thumbnail_url`.
    var thumbnailURL: String?

    init(title: String, createdAt: Int64, updatedAt: Int64, updatedPosition: UInt64, imageCount: Int, thumbnailURL: String?) {
        (self.title, self.createdAt, self.updatedAt) = (title, createdAt, updatedAt)
        (self.updatedPosition, self.imageCount, self.thumbnailURL) = (updatedPosition, imageCount, thumbnailURL)
    }
    init(from r: inout RecordReader) throws {
        try self.init(fixedFieldsFrom: &r)
        thumbnailURL = try r.optionalString()
    }
    /// A stored record without its thumbnail URL, which is appended to `text` instead of made a string: its range
    /// there.
    static func read(_ bytes: UnsafeRawBufferPointer, thumbnailInto text: inout [UInt8]) throws -> (SessionRecord, thumbnail: Range<Int>?) {
        var r = RecordReader(bytes, what: "session")
        let record = try SessionRecord(fixedFieldsFrom: &r)
        return (record, try r.optionalString(appendingTo: &text))
    }
    private init(fixedFieldsFrom r: inout RecordReader) throws {
        title = try r.string()
        createdAt = Int64(try r.int())
        updatedAt = Int64(try r.int())
        updatedPosition = try r.u64()
        imageCount = try r.int()
        thumbnailURL = nil
    }
    func encode(into w: inout RecordWriter) {
        w.string(title)
        w.int(Int(createdAt))
        w.int(Int(updatedAt))
        w.u64(updatedPosition)
        w.int(imageCount)
        w.string(thumbnailURL)
    }
}

/// The user a session belongs to: the value of `sessions`, which says where the session's record is.
struct SessionOwner: EntityRecord {
    var userID: UUID

    init(userID: UUID) { self.userID = userID }
    init(from r: inout RecordReader) throws { userID = try r.uuid() }
    func encode(into w: inout RecordWriter) { w.uuid(userID) }
}

struct ReferenceImageRecord: EntityRecord {
    var userID: UUID
    var sessionID: UUID?
    var gcpBucketPath: String
    var gcpURL: String
    var filename: String?
    var uploadedAt: Int64
    var position: UInt64

    init(userID: UUID, sessionID: UUID?, gcpBucketPath: String, gcpURL: String, filename: String?, uploadedAt: Int64, position: UInt64) {
        (self.userID, self.sessionID, self.gcpBucketPath, self.gcpURL) = (userID, sessionID, gcpBucketPath, gcpURL)
        (self.filename, self.uploadedAt, self.position) = (filename, uploadedAt, position)
    }
    /// `gcp_url` alone, without making the record's other strings; the fields before it are read as ``init(from:)``
    /// reads them.
    static func gcpURL(_ bytes: UnsafeRawBufferPointer) throws -> String {
        var r = RecordReader(bytes, what: "reference image")
        _ = try r.uuid()
        _ = try r.optionalUUID()
        try r.skipString()
        return try r.string()
    }

    init(from r: inout RecordReader) throws {
        userID = try r.uuid()
        sessionID = try r.optionalUUID()
        gcpBucketPath = try r.string()
        gcpURL = try r.string()
        filename = try r.optionalString()
        uploadedAt = Int64(try r.int())
        position = try r.u64()
    }
    func encode(into w: inout RecordWriter) {
        w.uuid(userID)
        w.uuid(sessionID)
        w.string(gcpBucketPath)
        w.string(gcpURL)
        w.string(filename)
        w.int(Int(uploadedAt))
        w.u64(position)
    }
}

/// A generation job. Its fixed fields come first (`JobHead`), so that rules and queries that need only those decode no
/// string, and a status change rewrites the record by patching its first byte and its last field (`error`). It keeps
/// its reference images' URLs, in order, beside their ids: a reference image never changes, and the job query then
/// reads no reference image record.
struct JobRecord: EntityRecord {
    var created: GenerationJobCreated
    var referenceImageURLs: [String]
    var numberOfShots: Int
    var status: JobStatus
    var error: String?
    var createdAt: Int64
    var position: UInt64

    init(
        created: GenerationJobCreated, referenceImageURLs: [String], numberOfShots: Int, status: JobStatus, error: String?,
        createdAt: Int64, position: UInt64
    ) {
        (self.created, self.referenceImageURLs, self.numberOfShots, self.status, self.error, self.createdAt, self.position) =
            (created, referenceImageURLs, numberOfShots, status, error, createdAt, position)
    }
    init(from r: inout RecordReader) throws {
        try self.init(allButURLsFrom: &r)
        referenceImageURLs = try r.strings()
        guard referenceImageURLs.count == created.referenceImageIDs?.count ?? 0 else { throw DamagedRecord(what: "job") }
        error = try r.optionalString()
    }
    /// A stored record whose reference images' URLs are appended to `text` instead of made strings (its own
    /// `referenceImageURLs` left empty), with where each ends appended to `ends`.
    static func read(_ bytes: UnsafeRawBufferPointer, referenceURLsInto text: inout [UInt8], ends: inout [Int]) throws -> JobRecord {
        var r = RecordReader(bytes, what: "job")
        var record = try JobRecord(allButURLsFrom: &r)
        let first = ends.count
        try r.strings(appendingTo: &text, ends: &ends)
        guard ends.count - first == record.created.referenceImageIDs?.count ?? 0 else { throw DamagedRecord(what: "job") }
        record.error = try r.optionalString()
        return record
    }
    private init(allButURLsFrom r: inout RecordReader) throws {
        let head = try JobHead(from: &r)
        (status, createdAt, position, numberOfShots) = (head.status, head.createdAt, head.position, head.numberOfShots)
        created = GenerationJobCreated(
            jobID: head.jobID, userID: head.userID, sessionID: head.sessionID, frameID: head.frameID,
            prompt: try r.string(), generatedPrompt: try r.optionalString(), shotType: try r.optionalString(),
            cameraAngle: try r.optionalString(), style: try r.optionalString(), location: try r.optionalString(),
            lighting: try r.optionalString(), weather: try r.optionalString(), aspectRatio: try r.optionalString(),
            numberOfShots: nil, referenceImageIDs: try r.uuids()
        )
        (referenceImageURLs, error) = ([], nil)
    }
    func encode(into w: inout RecordWriter) {
        JobHead(
            status: status, createdAt: createdAt, position: position, numberOfShots: numberOfShots, jobID: created.jobID,
            userID: created.userID, sessionID: created.sessionID, frameID: created.frameID
        ).encode(into: &w)
        w.string(created.prompt)
        for field in [created.generatedPrompt, created.shotType, created.cameraAngle, created.style, created.location,
                      created.lighting, created.weather, created.aspectRatio] {
            w.string(field)
        }
        w.uuids(created.referenceImageIDs ?? [])
        w.strings(referenceImageURLs)
        w.string(error)
    }

    /// A stored job record's head as it was, and the record with another status and error: the same bytes but for the
    /// first and the last field.
    static func replacingStatus(in stored: UnsafeRawBufferPointer, with status: JobStatus, error: String?) throws -> (JobHead, [UInt8]) {
        var r = RecordReader(stored, what: "job")
        let head = try JobHead(from: &r)
        try r.skipString()
        for _ in 0..<8 {
            if try r.flag() { try r.skipString() }
        }
        _ = try r.uuids()
        try r.skipStrings()
        let errorStart = stored.count - r.inner.remaining
        var w = RecordWriter(inner: ByteWriter(capacity: errorStart + 8 + (error?.utf8.count ?? 0)))
        w.u8(status.code)
        w.inner.raw(stored[1..<errorStart])
        w.string(error)
        return (head, w.inner.bytes)
    }
}

/// The fixed fields a job record starts with: all a rule or a query needs that does not show the job's parameters.
struct JobHead: EntityRecord {
    var status: JobStatus
    var createdAt: Int64
    var position: UInt64
    var numberOfShots: Int
    var jobID: UUID
    var userID: UUID
    var sessionID: UUID?
    var frameID: UUID?

    init(
        status: JobStatus, createdAt: Int64, position: UInt64, numberOfShots: Int, jobID: UUID, userID: UUID, sessionID: UUID?,
        frameID: UUID?
    ) {
        (self.status, self.createdAt, self.position, self.numberOfShots) = (status, createdAt, position, numberOfShots)
        (self.jobID, self.userID, self.sessionID, self.frameID) = (jobID, userID, sessionID, frameID)
    }
    init(from r: inout RecordReader) throws {
        status = try JobStatus(code: try r.u8())
        createdAt = Int64(try r.int())
        position = try r.u64()
        numberOfShots = try r.int()
        jobID = try r.uuid()
        userID = try r.uuid()
        sessionID = try r.optionalUUID()
        frameID = try r.optionalUUID()
    }
    func encode(into w: inout RecordWriter) {
        w.u8(status.code)
        w.int(Int(createdAt))
        w.u64(position)
        w.int(numberOfShots)
        w.uuid(jobID)
        w.uuid(userID)
        w.uuid(sessionID)
        w.uuid(frameID)
    }
}

/// A job's image as the job query shows it: the value under job id ‖ generation index in `job-images`, so that the
/// query reads its images in one key range rather than each image's record. Written with the image, removed when it
/// is deleted (an image never changes otherwise). The image's id comes first: the rule that a generation index is
/// free reads only that.
struct JobImageEntry: EntityRecord {
    var imageID: UUID
    var gcpURL: String
    var thumbnailURL: String?
    var createdAt: Int64

    init(imageID: UUID, gcpURL: String, thumbnailURL: String?, createdAt: Int64) {
        (self.imageID, self.gcpURL, self.thumbnailURL, self.createdAt) = (imageID, gcpURL, thumbnailURL, createdAt)
    }
    init(from r: inout RecordReader) throws {
        imageID = try r.uuid()
        gcpURL = try r.string()
        thumbnailURL = try r.optionalString()
        createdAt = Int64(try r.int())
    }
    /// A stored entry whose URLs are appended to `text` instead of made strings: its fields, with the URLs' ranges there.
    static func read(_ bytes: UnsafeRawBufferPointer, urlsInto text: inout [UInt8]) throws
        -> (imageID: UUID, gcpURL: Range<Int>, thumbnailURL: Range<Int>?, createdAt: Int64) {
        var r = RecordReader(bytes, what: "job image")
        let imageID = try r.uuid()
        let gcpURL = try r.string(appendingTo: &text)
        let thumbnailURL = try r.optionalString(appendingTo: &text)
        return (imageID, gcpURL, thumbnailURL, Int64(try r.int()))
    }
    func encode(into w: inout RecordWriter) {
        w.uuid(imageID)
        w.string(gcpURL)
        w.string(thumbnailURL)
        w.int(Int(createdAt))
    }
}

struct ImageRecord: EntityRecord {
    var jobID: UUID
    var generationIndex: Int
    var gcpBucketPath: String
    var gcpURL: String
    var thumbnailURL: String?
    var createdAt: Int64
    var position: UInt64
    var deleted: Bool
    var sessionID: UUID?

    init(jobID: UUID, generationIndex: Int, gcpBucketPath: String, gcpURL: String, thumbnailURL: String?, createdAt: Int64,
         position: UInt64, deleted: Bool, sessionID: UUID?) {
        (self.jobID, self.generationIndex, self.gcpBucketPath, self.gcpURL, self.thumbnailURL) =
            (jobID, generationIndex, gcpBucketPath, gcpURL, thumbnailURL)
        (self.createdAt, self.position, self.deleted, self.sessionID) = (createdAt, position, deleted, sessionID)
    }
    /// Only the `gcp_url` of a stored image record (a session's thumbnail), without decoding the rest; the fields
    /// before it are read as ``init(from:)`` reads them.
    static func gcpURL(_ bytes: UnsafeRawBufferPointer) throws -> String {
        var r = RecordReader(bytes, what: "image")
        _ = try r.uuid()
        _ = try r.int()
        try r.skipString()
        return try r.string()
    }

    /// What an image's summary shows, without making the record's other strings; the fields before them are read
    /// as ``init(from:)`` reads them.
    static func summary(_ bytes: UnsafeRawBufferPointer) throws
        -> (jobID: UUID, generationIndex: Int, gcpURL: String, thumbnailURL: String?, createdAt: Int64)
    {
        var r = RecordReader(bytes, what: "image")
        let jobID = try r.uuid()
        let generationIndex = try r.int()
        try r.skipString()
        return (jobID, generationIndex, try r.string(), try r.optionalString(), Int64(try r.int()))
    }

    init(from r: inout RecordReader) throws {
        jobID = try r.uuid()
        generationIndex = try r.int()
        gcpBucketPath = try r.string()
        gcpURL = try r.string()
        thumbnailURL = try r.optionalString()
        createdAt = Int64(try r.int())
        position = try r.u64()
        deleted = try r.bool()
        sessionID = try r.optionalUUID()
    }
    func encode(into w: inout RecordWriter) {
        w.uuid(jobID)
        w.int(generationIndex)
        w.string(gcpBucketPath)
        w.string(gcpURL)
        w.string(thumbnailURL)
        w.int(Int(createdAt))
        w.u64(position)
        w.bool(deleted)
        w.uuid(sessionID)
    }
}

struct ProjectRecord: EntityRecord {
    var userID: UUID?
    var title: String?
    init(userID: UUID?, title: String?) { (self.userID, self.title) = (userID, title) }
    init(from r: inout RecordReader) throws {
        userID = try r.optionalUUID()
        title = try r.optionalString()
    }
    func encode(into w: inout RecordWriter) {
        w.uuid(userID)
        w.string(title)
    }
}

struct StoryRecord: EntityRecord {
    var title: String
    var userID: UUID?
    var rootID: UUID?
    init(title: String, userID: UUID?, rootID: UUID?) { (self.title, self.userID, self.rootID) = (title, userID, rootID) }
    init(from r: inout RecordReader) throws {
        title = try r.string()
        userID = try r.optionalUUID()
        rootID = try r.optionalUUID()
    }
    func encode(into w: inout RecordWriter) {
        w.string(title)
        w.uuid(userID)
        w.uuid(rootID)
    }
}

/// A record stored by story under ``key`` (so a story's records are one key range), its id mapped to that key.
protocol StoryKeyed: EntityRecord {
    var id: UUID { get }
    var key: Key { get }
}

/// A scenelet, stored in `story-scenelets` under its ``key`` (story ‖ position) so that a story's scenelets are one
/// key range; `scenelets` maps its id to that key.
struct SceneletRecord: StoryKeyed {
    var id: UUID
    var storyID: UUID
    var parentID: UUID?
    /// Canonical JSON of `content`.
    var content: [UInt8]
    var isBranchPoint: Bool
    var choicePrompt: String?
    var endFrameID: UUID?
    /// The position of its `scenelet.added`: orders a story's scenelets, and siblings, as they were added.
    var position: UInt64
    /// Where `content` and `choicePrompt` are in the arena a query decoded them into (``init(from:arena:)``); not
    /// stored.
    var contentRange: Range<Int> = 0..<0
    var choicePromptRange: Range<Int>?

    init(
        id: UUID, storyID: UUID, parentID: UUID?, content: [UInt8], isBranchPoint: Bool, choicePrompt: String?, endFrameID: UUID?,
        position: UInt64
    ) {
        (self.id, self.storyID, self.parentID, self.content, self.isBranchPoint) = (id, storyID, parentID, content, isBranchPoint)
        (self.choicePrompt, self.endFrameID, self.position) = (choicePrompt, endFrameID, position)
    }
    init(from r: inout RecordReader) throws {
        var none: Arena?
        try self.init(from: &r, arena: &none)
    }
    /// With an `arena`, the content and the choice prompt are appended there (``contentRange``,
    /// ``choicePromptRange``) and ``content`` and ``choicePrompt`` stay empty: a query decoding a whole story allocates
    /// one buffer rather than an array or a string per field.
    init(from r: inout RecordReader, arena: inout Arena?) throws {
        id = try r.uuid()
        storyID = try r.uuid()
        parentID = try r.optionalUUID()
        if arena != nil {
            content = []
            contentRange = try r.bytes(appendingTo: &arena!.bytes) ?? 0..<0
        } else {
            content = try r.bytes() ?? []
        }
        isBranchPoint = try r.bool()
        if arena != nil { choicePromptRange = try r.optionalString(appendingTo: &arena!.text) } else { choicePrompt = try r.optionalString() }
        endFrameID = try r.optionalUUID()
        position = try r.u64()
    }
    func encode(into w: inout RecordWriter) {
        w.uuid(id)
        w.uuid(storyID)
        w.uuid(parentID)
        w.bytes(content)
        w.bool(isBranchPoint)
        w.string(choicePrompt)
        w.uuid(endFrameID)
        w.u64(position)
    }

    var place: ScenePlace { ScenePlace(storyID: storyID, position: position) }
    /// Its key in `story-scenelets`.
    var key: Key { place.key }
}

/// A shot, stored in `story-shots` under its ``key`` (story ‖ its scenelet's position ‖ shot index) so that a story's
/// shots are one key range in play order within each scenelet; `shots` maps its id to that key.
struct ShotRecord: StoryKeyed {
    var id: UUID
    var sceneletID: UUID
    var storyID: UUID
    /// The position of its scenelet's `scenelet.added`.
    var sceneletPosition: UInt64
    var shotIndex: Int
    /// Canonical JSON of `storyboard_payload`.
    var storyboardPayload: [UInt8]?
    var keyFrameImagePath: String?
    var audioFilePath: String?
    /// Where `storyboardPayload` and the paths are in the arena a query decoded them into (``init(from:arena:)``);
    /// not stored.
    var storyboardPayloadRange, keyFrameImagePathRange, audioFilePathRange: Range<Int>?

    init(
        id: UUID, scenelet: ScenePlace, sceneletID: UUID, shotIndex: Int, storyboardPayload: [UInt8]?, keyFrameImagePath: String?,
        audioFilePath: String?
    ) {
        (self.id, self.sceneletID, self.storyID, self.sceneletPosition) = (id, sceneletID, scenelet.storyID, scenelet.position)
        (self.shotIndex, self.storyboardPayload, self.keyFrameImagePath, self.audioFilePath) = (shotIndex, storyboardPayload, keyFrameImagePath, audioFilePath)
    }
    init(from r: inout RecordReader) throws {
        var none: Arena?
        try self.init(from: &r, arena: &none)
    }
    /// With an `arena`, the storyboard payload and the paths are appended there (the `…Range` properties) and stay
    /// `nil` here.
    init(from r: inout RecordReader, arena: inout Arena?) throws {
        id = try r.uuid()
        sceneletID = try r.uuid()
        storyID = try r.uuid()
        sceneletPosition = try r.u64()
        shotIndex = try r.int()
        guard shotIndex >= 1 else { throw DamagedRecord(what: "shot") }
        if arena != nil {
            storyboardPayloadRange = try r.bytes(appendingTo: &arena!.bytes)
            keyFrameImagePathRange = try r.optionalString(appendingTo: &arena!.text)
            audioFilePathRange = try r.optionalString(appendingTo: &arena!.text)
        } else {
            storyboardPayload = try r.bytes()
            keyFrameImagePath = try r.optionalString()
            audioFilePath = try r.optionalString()
        }
    }
    func encode(into w: inout RecordWriter) {
        w.uuid(id)
        w.uuid(sceneletID)
        w.uuid(storyID)
        w.u64(sceneletPosition)
        w.int(shotIndex)
        w.bytes(storyboardPayload)
        w.string(keyFrameImagePath)
        w.string(audioFilePath)
    }

    /// Its key in `story-shots`.
    var key: Key { Self.key(ScenePlace(storyID: storyID, position: sceneletPosition), shotIndex) }

    /// The `story-shots` key of shot `index` of a scenelet.
    static func key(_ scenelet: ScenePlace, _ index: Int) -> Key { Key(scenelet.storyID).with(scenelet.position).with(index) }
}

struct FrameRecord: EntityRecord {
    var shotID: UUID
    var storyID: UUID
    var frameType: String
    var previousFrameID: UUID?
    var status: FrameStatus
    var currentJobID: UUID?
    var latestCompletedJobID: UUID?
    var position: UInt64

    init(shotID: UUID, storyID: UUID, frameType: String, previousFrameID: UUID?, status: FrameStatus, currentJobID: UUID?,
         latestCompletedJobID: UUID?, position: UInt64) {
        (self.shotID, self.storyID, self.frameType, self.previousFrameID) = (shotID, storyID, frameType, previousFrameID)
        (self.status, self.currentJobID, self.latestCompletedJobID, self.position) = (status, currentJobID, latestCompletedJobID, position)
    }
    init(from r: inout RecordReader) throws {
        shotID = try r.uuid()
        storyID = try r.uuid()
        frameType = try r.string()
        previousFrameID = try r.optionalUUID()
        status = try FrameStatus(code: try r.u8())
        currentJobID = try r.optionalUUID()
        latestCompletedJobID = try r.optionalUUID()
        position = try r.u64()
    }
    func encode(into w: inout RecordWriter) {
        w.uuid(shotID)
        w.uuid(storyID)
        w.string(frameType)
        w.uuid(previousFrameID)
        w.u8(status.code)
        w.uuid(currentJobID)
        w.uuid(latestCompletedJobID)
        w.u64(position)
    }
}
