import EventStore
import Foundation
import LMDB

/// The media-pipeline domain as one inline projection: it checks every rule of the domain (docs/EVENTS.md) against current state inside
/// the append's write transaction, and keeps the entity records and the indexes every query of `reel query` reads.
///
/// One projection rather than one per query, because rules span entities (a job checks its user, session, frame and
/// reference images) and must see one state.
public struct MediaProjection: Projection {
    public let name = "media"
    /// 2: the add-only `entity-streams` index; ids of removed scenelets, shots and frames are reserved.
    /// 3: scenelets and shots stored by story (`story-scenelets`, `story-shots`; `scenelets` and `shots` map ids to
    /// them), so a story reads as two key ranges; `scenelet-shots` is gone.
    /// 4: `scene-images` holds a scene's images in front-coded chunks of 64 image indexes (`SceneImageChunk`), not
    /// one key per image.
    /// 5: sessions' records are stored by user (`user-sessions`; `sessions` maps ids to their user) and keep their
    /// thumbnail URL, so a user's sessions are one key range; a job's record starts with its fixed fields and ends
    /// with its error (`JobHead`), so a status change patches it and most reads decode no string.
    /// 6: a job's record keeps its reference images' URLs, and each `job-images` entry its image's URLs and time
    /// (`JobImageEntry`), so the job query reads no other record.
    /// 7: the add-only `entity-touches` index: the events that changed an entity from outside its own stream without
    /// naming it there (cascades, cleared pointers, counts), so its history lists them.
    public let version: UInt32 = 7
    /// The rules and records never look at the hash chain.
    public let readsHash = false
    public let databases = Tables.names.map { ProjectionDatabase($0) }

    public init() {}

    public func apply(_ event: RecordedEvent, _ txn: borrowing Transaction, _ databases: ProjectionDatabases) throws {
        func makeFold(checks: Bool) -> Fold {
            Fold(
                t: databases.memoized(Tables.init), checks: checks, type: event.type, id: event.id, stream: event.stream,
                time: event.recordedAtMilliseconds, position: event.position)
        }
        if let decoded = event.attachment as? Decoded {
            // Folded from the decoded event where it lies: a copy of the whole event would retain each of its strings.
            var fold = makeFold(checks: decoded.checks)
            try fold.apply(decoded.event, txn)
        } else {
            var fold = makeFold(checks: true)
            try fold.apply(try DomainEvent(recorded: event), txn)
        }
    }

    /// Decodes the payload ahead of ``apply(_:_:_:)`` in a refold of the log.
    public func prepare(_ event: RecordedEvent) -> (any Sendable)? {
        (try? DomainEvent(recorded: event)).map { Decoded($0, checks: false) }
    }

    /// An event's payload, decoded before ``apply(_:_:_:)`` (a class: a cast from the attachment's existential then
    /// copies a reference, not the event).
    ///
    /// `checks` is false for an event of the log being folded again (rebuild, replay, the audit's fresh fold): it
    /// passed every rule when it was appended and is a fact now, so the fold skips the lookups that only check rules —
    /// that an entity exists, is new, an id unused, a slot free — and keeps those that read state it needs. A fold's
    /// code may then gain a rule without the history that predates the rule failing its rebuild. The rules that need no
    /// lookup still run.
    final class Decoded: Sendable {
        let event: DomainEvent
        let checks: Bool

        init(_ event: DomainEvent, checks: Bool) {
            self.event = event
            self.checks = checks
        }
    }
}

extension DomainEvent {
    /// Decodes a stored event's payload.
    public init(recorded event: RecordedEvent) throws {
        let value = try event.payload.withUnsafeBytes { try JSONReader.read($0) }
        guard case let .object(data) = value else {
            throw InvalidData(type: event.type, field: "", reason: "is not a JSON object")
        }
        try self.init(type: event.type, data: data)
    }
}

/// Rules and fold of one event.
private struct Fold {
    let t: Tables
    /// Whether to make the lookups that only check rules (false in a refold: see ``MediaProjection/Decoded``).
    let checks: Bool
    /// The event's envelope (only what the rules need: a copy of the whole ``RecordedEvent`` costs a reference count
    /// for each of its arrays and strings).
    let type: String
    let id: UUID
    let stream: String
    let time: Int64
    let position: UInt64

    func reject(_ reason: String) -> DomainRejection { DomainRejection(type: type, reason: reason, eventID: id) }

    func require(_ condition: Bool, _ reason: @autoclosure () -> String) throws {
        if !condition { throw reject(reason()) }
    }

    /// A record that must exist.
    func must<R: EntityRecord>(_ type: R.Type, _ database: Database, _ id: UUID, _ what: String, _ txn: borrowing Transaction) throws -> R {
        guard let record = try t.record(R.self, database, id, txn) else { throw reject("\(what) \(id.text) does not exist") }
        return record
    }

    func mustScenelet(_ id: UUID, _ txn: borrowing Transaction) throws -> SceneletRecord {
        guard let record = try t.scenelet(id, txn) else { throw reject("scenelet \(id.text) does not exist") }
        return record
    }

    func mustShot(_ id: UUID, _ txn: borrowing Transaction) throws -> ShotRecord {
        guard let record = try t.shot(id, txn) else { throw reject("shot \(id.text) does not exist") }
        return record
    }

    /// An entity that must exist, when only its existence matters (its record is not decoded).
    func mustExist(_ database: Database, _ id: UUID, _ what: String, _ txn: borrowing Transaction) throws {
        if checks, try !t.exists(database, id, txn) { throw reject("\(what) \(id.text) does not exist") }
    }

    /// Stores a new entity's record, whose id must be new. Called after the event's other checks, as its first write:
    /// an existing id is then rejected with nothing written, and the check costs no lookup of its own.
    /// In a refold (no checks) an existing record is replaced, as before the rule existed.
    func create(_ record: some EntityRecord, _ database: Database, _ id: UUID, _ what: String, _ txn: borrowing Transaction) throws {
        if try !t.putNew(record, database, id, replacing: !checks, txn) { throw reject("\(what) \(id.text) already exists") }
    }

    /// Records the stream of a new image, scenelet, shot or frame, whose id must never have been used, even by an
    /// entity removed since. Called after the event's other checks, as its first write: a used id is then rejected
    /// with nothing written, and the check costs no lookup of its own.
    /// In a refold (no checks) the record is replaced, as before the rule existed.
    func claim(_ id: UUID, _ what: String, _ txn: borrowing Transaction) throws {
        if try !t.recordStream(of: id, stream, replacing: !checks, txn) { throw reject("\(what) id \(id.text) was used before") }
    }

    /// Records that the event at `at` (this one by default) changed entity `id` from a stream the entity's history
    /// would not otherwise read, for that history (`entity-touches`).
    func touch(_ id: UUID, at: UInt64? = nil, _ txn: borrowing Transaction) throws {
        try t.put(t.entityTouches, Key(id).with(at ?? position), [], txn)
    }

    /// Every event must be in the stream of the entity it belongs to (docs/EVENTS.md names each stream), or reads by stream would lie.
    func requireStream(_ entity: String, _ id: UUID) throws {
        // `<entity>-<uuid>`, compared without building the expected name.
        var stream = stream
        let prefix = entity.utf8.count
        let matches = stream.withUTF8 { utf8 in
            utf8.count == prefix + 37 && utf8.starts(with: entity.utf8) && utf8[prefix] == UInt8(ascii: "-")
                && id.isLowercasedText(UnsafeBufferPointer(rebasing: utf8[(prefix + 1)...]))
        }
        if matches { return }
        throw reject("the event belongs to stream \(entity)-\(id.text), not \(self.stream)")
    }

    mutating func apply(_ domainEvent: DomainEvent, _ txn: borrowing Transaction) throws {
        if let (entity, id) = domainEvent.directStream { try requireStream(entity, id) }
        switch domainEvent {
        case let .userRegistered(e): try userRegistered(e, txn)
        case let .sessionCreated(e): try sessionCreated(e, txn)
        case let .sessionRenamed(e):
            guard let (userID, stored) = try t.session(e.sessionID, txn) else { throw reject("session \(e.sessionID.text) does not exist") }
            var session = stored
            session.title = e.title
            session.updatedAt = time
            session.updatedPosition = position
            try t.put(session, e.sessionID, of: userID, txn)
        case let .referenceImageUploaded(e): try referenceImageUploaded(e, txn)
        case let .generationJobCreated(e): try jobCreated(e, txn)
        case let .generationJobStarted(e): try transition(e.jobID, from: [.pending], to: .processing, error: nil, txn)
        case let .generationJobCompleted(e): try transition(e.jobID, from: [.processing], to: .completed, error: nil, txn)
        case let .generationJobFailed(e): try transition(e.jobID, from: [.pending, .processing], to: .failed, error: e.error, txn)
        case let .imageGenerated(e): try imageGenerated(e, txn)
        case let .imageDeleted(e): try imageDeleted(e, txn)
        case let .projectCreated(e):
            try create(ProjectRecord(userID: e.userID, title: e.title), t.projects, e.projectID, "project", txn)
        case let .sceneImageSaved(e): try sceneImageSaved(e, txn)
        case let .sceneImagesCleared(e): try sceneImagesCleared(e, txn)
        case let .storyCreated(e):
            try create(StoryRecord(title: e.title, userID: e.userID, rootID: nil), t.stories, e.storyID, "story", txn)
        case let .sceneletAdded(e): try sceneletAdded(e, txn)
        case let .sceneletUpdated(e):
            var scenelet = try mustScenelet(e.sceneletID, txn)
            try requireStream("story", scenelet.storyID)
            if let content = e.content { scenelet.content = JSONWriter.canonical(.object(content)) }
            if let flag = e.isBranchPoint { scenelet.isBranchPoint = flag }
            if let prompt = e.choicePrompt { scenelet.choicePrompt = prompt }
            try t.put(scenelet, new: false, txn)
        case let .sceneletRemoved(e): try sceneletRemoved(e, txn)
        case let .sceneletEndFrameSet(e): try endFrameSet(e, txn)
        case let .shotPlanned(e): try shotPlanned(e, txn)
        case let .shotAssetsAttached(e):
            var shot = try mustShot(e.shotID, txn)
            try requireStream("story", shot.storyID)
            if let path = e.keyFrameImagePath { shot.keyFrameImagePath = path }
            if let path = e.audioFilePath { shot.audioFilePath = path }
            try t.put(shot, new: false, txn)
        case let .frameCreated(e): try frameCreated(e, txn)
        case let .frameApproved(e): try frameApproved(e, txn)
        case let .frameRejected(e):
            var frame = try must(FrameRecord.self, t.frames, e.frameID, "frame", txn)
            frame.status = .rejected
            frame.currentJobID = nil
            try t.put(frame, t.frames, e.frameID, txn)
        }
    }

    // MARK: Image-generation sessions, jobs and images

    func userRegistered(_ e: UserRegistered, _ txn: borrowing Transaction) throws {
        try require(!e.email.isEmpty && e.email.contains("@"), "email \"\(e.email.prefix(100))\" must be non-empty and contain @")
        try require(e.email.utf8.count <= 320, "email is longer than 320 bytes")
        let emailKey = Key(0).with(e.email.lowercased())
        if checks, let owner = try t.get(t.emails, emailKey, txn) {
            let other = owner.withUnsafeBytes { bytes -> String in
                var reader = ByteReader(bytes)
                return (try? reader.uuid())?.text ?? "?"
            }
            throw reject("email \(e.email) is already registered to user \(other)")
        }
        try create(UserRecord(email: e.email), t.users, e.userID, "user", txn)
        try t.put(t.emails, emailKey, id: e.userID, txn)
    }

    func sessionCreated(_ e: SessionCreated, _ txn: borrowing Transaction) throws {
        try mustExist(t.users, e.userID, "user", txn)
        // In a refold (no checks) a repeated id replaces the session, which must then leave its former user's range.
        if !checks, let former = try t.owner(ofSession: e.sessionID, txn), former != e.userID {
            try t.delete(t.userSessions, Key(former).with(e.sessionID), txn)
        }
        try create(SessionOwner(userID: e.userID), t.sessions, e.sessionID, "session", txn)
        let session = SessionRecord(title: e.title, createdAt: time, updatedAt: time, updatedPosition: position, imageCount: 0, thumbnailURL: nil)
        try t.put(session, e.sessionID, of: e.userID, txn)
        try touch(e.userID, txn)  // one more of the user's sessions
    }

    /// A session given with a user: it must exist and belong to that user.
    func sessionOfUser(_ sessionID: UUID?, _ userID: UUID, _ txn: borrowing Transaction) throws {
        guard checks, let sessionID else { return }
        let owner = try must(SessionOwner.self, t.sessions, sessionID, "session", txn).userID
        try require(owner == userID, "session \(sessionID.text) belongs to user \(owner.text), not \(userID.text)")
    }

    func referenceImageUploaded(_ e: ReferenceImageUploaded, _ txn: borrowing Transaction) throws {
        try mustExist(t.users, e.userID, "user", txn)
        try sessionOfUser(e.sessionID, e.userID, txn)
        let record = ReferenceImageRecord(
            userID: e.userID, sessionID: e.sessionID, gcpBucketPath: e.gcpBucketPath, gcpURL: e.gcpURL,
            filename: e.filename, uploadedAt: time, position: position
        )
        try create(record, t.referenceImages, e.referenceImageID, "reference image", txn)
        try t.put(t.userReferenceImages, Key(e.userID).with(position), id: e.referenceImageID, txn)
        try touch(e.userID, txn)  // one more of the user's reference images
    }

    func jobCreated(_ e: GenerationJobCreated, _ txn: borrowing Transaction) throws {
        try require(!e.prompt.isEmpty, "job \(e.jobID.text) has an empty prompt")
        let shots = e.numberOfShots ?? 1
        try require((1...16).contains(shots), "number_of_shots \(shots) of job \(e.jobID.text) is not within 1…16")
        try mustExist(t.users, e.userID, "user", txn)
        try sessionOfUser(e.sessionID, e.userID, txn)
        if let frameID = e.frameID { try mustExist(t.frames, frameID, "frame", txn) }
        // The job keeps its reference images' URLs (read in a refold too: the job query shows them).
        let referenceURLs = try (e.referenceImageIDs ?? []).map { referenceID in
            guard checks else {
                guard let url = try t.read(t.referenceImages, referenceID, txn, ReferenceImageRecord.gcpURL) else {
                    throw reject("reference image \(referenceID.text) does not exist")
                }
                return url
            }
            let reference = try must(ReferenceImageRecord.self, t.referenceImages, referenceID, "reference image", txn)
            try require(
                reference.userID == e.userID,
                "reference image \(referenceID.text) belongs to user \(reference.userID.text), not \(e.userID.text)"
            )
            return reference.gcpURL
        }
        var created = e
        created.numberOfShots = nil
        let job = JobRecord(
            created: created, referenceImageURLs: referenceURLs, numberOfShots: shots, status: .pending, error: nil, createdAt: time,
            position: position)
        try create(job, t.jobs, e.jobID, "job", txn)
        try t.put(t.jobsByStatus, Key(JobStatus.pending.code).with(position), id: e.jobID, txn)
        if let frameID = e.frameID { try t.put(t.frameJobs, Key(frameID).with(position), id: e.jobID, txn) }
    }

    func transition(_ jobID: UUID, from: [JobStatus], to status: JobStatus, error: String?, _ txn: borrowing Transaction) throws {
        // Only the record's head is decoded, and the stored bytes are patched, not decoded and encoded again.
        let found = try t.read(t.jobs, jobID, txn) { try JobRecord.replacingStatus(in: $0, with: status, error: error) }
        guard let (job, updated) = found else { throw reject("job \(jobID.text) does not exist") }
        try require(
            from.contains(job.status),
            "job \(jobID.text) is \(job.status.rawValue), not \(from.map(\.rawValue).joined(separator: " or "))"
        )
        try t.delete(t.jobsByStatus, Key(job.status.code).with(job.position), txn)
        try t.put(t.jobsByStatus, Key(status.code).with(job.position), id: jobID, txn)
        _ = try jobID.withBytes { key in try updated.withUnsafeBytes { try txn.put(t.jobs, key, $0) } }
        if status == .completed, let frameID = job.frameID, var frame = try t.record(FrameRecord.self, t.frames, frameID, txn) {
            frame.latestCompletedJobID = jobID
            try t.put(frame, t.frames, frameID, txn)
        }
    }

    func imageGenerated(_ e: ImageGenerated, _ txn: borrowing Transaction) throws {
        let job = try must(JobHead.self, t.jobs, e.jobID, "job", txn)
        try require(job.status == .processing, "job \(e.jobID.text) is \(job.status.rawValue), not processing")
        guard job.numberOfShots >= 1 else { throw DamagedRecord(what: "job") }
        try require(
            (1...job.numberOfShots).contains(e.generationIndex),
            "generation_index \(e.generationIndex) is not within 1…\(job.numberOfShots) (number_of_shots of job \(e.jobID.text))"
        )
        let slot = Key(e.jobID).with(e.generationIndex)
        if checks, let taken = try t.get(t.jobImages, slot, txn) {
            let other = taken.withUnsafeBytes { bytes -> String in
                var reader = ByteReader(bytes)
                return (try? reader.uuid())?.text ?? "?"
            }
            throw reject("job \(e.jobID.text) already has image \(other) at generation_index \(e.generationIndex)")
        }
        try claim(e.imageID, "image", txn)
        // The job's session is its user's (checked when the job was created), so its record is found without a lookup
        // of the session's owner. The image counts in the session only if it is found there, and then keeps the
        // session's id, by which `image.deleted` finds the session again (through its owner).
        let found = try job.sessionID.flatMap { id in try t.session(id, of: job.userID, txn).map { (id, $0) } }
        let sessionID = found?.0
        let image = ImageRecord(
            jobID: e.jobID, generationIndex: e.generationIndex, gcpBucketPath: e.gcpBucketPath, gcpURL: e.gcpURL,
            thumbnailURL: e.thumbnailURL, createdAt: time, position: position, deleted: false, sessionID: sessionID
        )
        try t.put(image, t.images, e.imageID, txn)
        try t.put(t.jobImages, slot, JobImageEntry(imageID: e.imageID, gcpURL: e.gcpURL, thumbnailURL: e.thumbnailURL, createdAt: time).bytes, txn)
        if let (sessionID, found) = found {
            var session = found
            try t.put(t.sessionImages, Key(sessionID).with(e.generationIndex).with(position), id: e.imageID, txn)
            try t.put(t.sessionImagesByTime, Key(sessionID).with(position), id: e.imageID, txn)
            session.imageCount += 1
            session.updatedAt = time
            session.updatedPosition = position
            // The newest image is the session's earliest only when the session was empty.
            if session.thumbnailURL == nil { session.thumbnailURL = e.gcpURL }
            try t.put(session, sessionID, of: job.userID, txn)
            // No touch: while the image is in the session, `session-images-by-time` holds this position under it.
        }
    }

    func imageDeleted(_ e: ImageDeleted, _ txn: borrowing Transaction) throws {
        var image = try must(ImageRecord.self, t.images, e.imageID, "image", txn)
        try requireStream("job", image.jobID)
        try require(!image.deleted, "image \(e.imageID.text) was already deleted")
        image.deleted = true
        try t.put(image, t.images, e.imageID, txn)
        try t.delete(t.jobImages, Key(image.jobID).with(image.generationIndex), txn)
        if let sessionID = image.sessionID, let (userID, stored) = try t.session(sessionID, txn) {
            var session = stored
            try t.delete(t.sessionImages, Key(sessionID).with(image.generationIndex).with(image.position), txn)
            try t.delete(t.sessionImagesByTime, Key(sessionID).with(image.position), txn)
            session.imageCount -= 1
            session.updatedAt = time
            session.updatedPosition = position
            // The thumbnail is the earliest image still in the session.
            session.thumbnailURL = try t.firstID(t.sessionImagesByTime, prefix: Key(sessionID), txn).flatMap { first in
                try t.read(t.images, first, txn, ImageRecord.gcpURL)
            }
            try t.put(session, sessionID, of: userID, txn)
            // This event, and the image's generation, which `session-images-by-time` no longer holds under it.
            try touch(sessionID, txn)
            try touch(sessionID, at: image.position, txn)
        }
    }

    // MARK: Content-creation projects and their scene images

    func sceneImageSaved(_ e: SceneImageSaved, _ txn: borrowing Transaction) throws {
        let imageIndex = e.imageIndex ?? 0
        try require(e.sceneIndex >= 0, "scene_index \(e.sceneIndex) of project \(e.projectID.text) is negative")
        try require(imageIndex >= 0, "image_index \(imageIndex) of project \(e.projectID.text) is negative")
        try require(!e.imageURL.isEmpty, "image_url of project \(e.projectID.text) scene \(e.sceneIndex) is empty")
        // The scene's chunk of images holding this image_index: read, the URL put in its place, written back. A stored
        // chunk means the project exists (no event removes one), so the project is looked up only when there is none:
        // for the first image of a scene's run of 64, not for the others.
        let key = Key(e.projectID).with(e.sceneIndex).with(SceneImageChunk.chunk(of: imageIndex))
        try t.update(t.sceneImages, key, txn) { stored in
            if stored == nil { try mustExist(t.projects, e.projectID, "project", txn) }
            return try SceneImageChunk.upserting(e.imageURL, at: imageIndex % SceneImageChunk.width, into: stored)
        }
    }

    func sceneImagesCleared(_ e: SceneImagesCleared, _ txn: borrowing Transaction) throws {
        try mustExist(t.projects, e.projectID, "project", txn)
        if let negative = e.sceneIndexes.first(where: { $0 < 0 }) {
            throw reject("scene_index \(negative) of project \(e.projectID.text) is negative")
        }
        let prefixes = e.sceneIndexes.isEmpty ? [Key(e.projectID)] : Set(e.sceneIndexes).sorted().map { Key(e.projectID).with($0) }
        for prefix in prefixes {
            var keys: [[UInt8]] = []
            try t.scan(t.sceneImages, prefix: prefix, txn) { suffix, _ in
                keys.append(prefix.bytes + Array(suffix))
                return true
            }
            for key in keys { try txn.delete(t.sceneImages, key) }
        }
    }

    // MARK: Stories, scenelets, shots and frames

    func sceneletAdded(_ e: SceneletAdded, _ txn: borrowing Transaction) throws {
        var story = try must(StoryRecord.self, t.stories, e.storyID, "story", txn)
        if let parentID = e.parentID {
            if checks {
                guard let parent = try t.place(ofScenelet: parentID, txn) else { throw reject("parent scenelet \(parentID.text) does not exist") }
                try require(
                    parent.storyID == e.storyID, "parent scenelet \(parentID.text) belongs to story \(parent.storyID.text), not \(e.storyID.text)")
            }
        } else if let root = story.rootID {
            throw reject("story \(e.storyID.text) already has root scenelet \(root.text)")
        }
        try claim(e.sceneletID, "scenelet", txn)
        if let parentID = e.parentID {
            try t.put(t.sceneletChildren, Key(parentID).with(position), id: e.sceneletID, txn)
        } else {
            story.rootID = e.sceneletID
            try t.put(story, t.stories, e.storyID, txn)
        }
        let scenelet = SceneletRecord(
            id: e.sceneletID, storyID: e.storyID, parentID: e.parentID, content: JSONWriter.canonical(.object(e.content)),
            isBranchPoint: e.isBranchPoint ?? false, choicePrompt: e.choicePrompt, endFrameID: nil, position: position
        )
        try t.put(scenelet, new: true, txn)
    }

    func sceneletRemoved(_ e: SceneletRemoved, _ txn: borrowing Transaction) throws {
        let scenelet = try mustScenelet(e.sceneletID, txn)
        try requireStream("story", scenelet.storyID)
        let children = try t.ids(t.sceneletChildren, prefix: Key(e.sceneletID), txn)
        if let child = children.first {
            throw reject("scenelet \(e.sceneletID.text) has child scenelets (\(child.text)\(children.count > 1 ? " and \(children.count - 1) more" : ""))")
        }
        for shot in try t.shots(of: scenelet, txn) {
            try removeShot(shot, txn)
        }
        if let frameID = scenelet.endFrameID {
            try t.delete(t.endFrameRefs, Key(frameID).with(e.sceneletID), txn)
            try touch(frameID, txn)  // no longer an end frame
        }
        if let parentID = scenelet.parentID {
            try t.delete(t.sceneletChildren, Key(parentID).with(scenelet.position), txn)
        } else if var story = try t.record(StoryRecord.self, t.stories, scenelet.storyID, txn), story.rootID == e.sceneletID {
            story.rootID = nil
            try t.put(story, t.stories, scenelet.storyID, txn)
        }
        try t.delete(scenelet, txn)
    }

    /// Removes a shot and its frames; pointers at those frames become null, jobs keep their `frame_id`.
    func removeShot(_ shot: ShotRecord, _ txn: borrowing Transaction) throws {
        let shotID = shot.id
        for frameID in try t.ids(t.shotFrames, prefix: Key(shotID), txn) {
            guard let frame = try t.record(FrameRecord.self, t.frames, frameID, txn) else { continue }
            try touch(frameID, txn)
            for sceneletID in try t.members(t.endFrameRefs, prefix: Key(frameID), txn) {
                if var scenelet = try t.scenelet(sceneletID, txn) {
                    scenelet.endFrameID = nil
                    try t.put(scenelet, new: false, txn)
                    try touch(sceneletID, txn)
                }
                try t.delete(t.endFrameRefs, Key(frameID).with(sceneletID), txn)
            }
            for nextID in try t.members(t.previousFrameRefs, prefix: Key(frameID), txn) {
                if var next = try t.record(FrameRecord.self, t.frames, nextID, txn) {
                    next.previousFrameID = nil
                    try t.put(next, t.frames, nextID, txn)
                    try touch(nextID, txn)
                }
                try t.delete(t.previousFrameRefs, Key(frameID).with(nextID), txn)
            }
            if let previousID = frame.previousFrameID { try t.delete(t.previousFrameRefs, Key(previousID).with(frameID), txn) }
            // The frame's job links stay: jobs keep their frame_id, and its history still lists them.
            try t.delete(t.shotFrameTypes, Key(shotID).with(frame.frameType), txn)
            try t.delete(t.shotFrames, Key(shotID).with(frame.position), txn)
            // The frame's creation, which `shot-frames` no longer holds under the shot.
            try touch(shotID, at: frame.position, txn)
            try t.delete(t.frames, frameID, txn)
        }
        try t.delete(shot, txn)
        try touch(shotID, txn)
    }

    func endFrameSet(_ e: SceneletEndFrameSet, _ txn: borrowing Transaction) throws {
        var scenelet = try mustScenelet(e.sceneletID, txn)
        try requireStream("story", scenelet.storyID)
        if checks {
            let frame = try must(FrameRecord.self, t.frames, e.frameID, "frame", txn)
            try require(
                frame.storyID == scenelet.storyID,
                "frame \(e.frameID.text) belongs to story \(frame.storyID.text), scenelet \(e.sceneletID.text) to story \(scenelet.storyID.text)"
            )
        }
        if let old = scenelet.endFrameID {
            try t.delete(t.endFrameRefs, Key(old).with(e.sceneletID), txn)
            if old != e.frameID { try touch(old, txn) }  // no longer the scenelet's end frame
        }
        scenelet.endFrameID = e.frameID
        try t.put(scenelet, new: false, txn)
        try t.put(t.endFrameRefs, Key(e.frameID).with(e.sceneletID), [], txn)
        try touch(e.frameID, txn)
    }

    func shotPlanned(_ e: ShotPlanned, _ txn: borrowing Transaction) throws {
        guard let scenelet = try t.place(ofScenelet: e.sceneletID, txn) else { throw reject("scenelet \(e.sceneletID.text) does not exist") }
        try requireStream("story", scenelet.storyID)
        try require(e.shotIndex >= 1, "shot_index \(e.shotIndex) of shot \(e.shotID.text) is below 1")
        if checks, try t.contains(t.storyShots, ShotRecord.key(scenelet, e.shotIndex), txn) {
            throw reject("scenelet \(e.sceneletID.text) already has a shot with shot_index \(e.shotIndex)")
        }
        try claim(e.shotID, "shot", txn)
        let shot = ShotRecord(
            id: e.shotID, scenelet: scenelet, sceneletID: e.sceneletID, shotIndex: e.shotIndex,
            storyboardPayload: e.storyboardPayload.map { JSONWriter.canonical(.object($0)) }, keyFrameImagePath: nil, audioFilePath: nil
        )
        try t.put(shot, new: true, txn)
    }

    func frameCreated(_ e: FrameCreated, _ txn: borrowing Transaction) throws {
        guard let storyID = try t.story(ofShot: e.shotID, txn) else { throw reject("shot \(e.shotID.text) does not exist") }
        try require(!e.frameType.isEmpty, "frame_type of frame \(e.frameID.text) is empty")
        try require(e.frameType.utf8.count <= 200, "frame_type of frame \(e.frameID.text) is longer than 200 bytes")
        let typeKey = Key(e.shotID).with(e.frameType)
        if checks, try t.contains(t.shotFrameTypes, typeKey, txn) {
            throw reject("shot \(e.shotID.text) already has a frame of type \"\(e.frameType)\"")
        }
        if let previousID = e.previousFrameID { try mustExist(t.frames, previousID, "previous frame", txn) }
        try claim(e.frameID, "frame", txn)
        if let previousID = e.previousFrameID { try t.put(t.previousFrameRefs, Key(previousID).with(e.frameID), [], txn) }
        let frame = FrameRecord(
            shotID: e.shotID, storyID: storyID, frameType: e.frameType, previousFrameID: e.previousFrameID,
            status: .pending, currentJobID: nil, latestCompletedJobID: nil, position: position
        )
        try t.put(frame, t.frames, e.frameID, txn)
        try t.put(t.shotFrameTypes, typeKey, id: e.frameID, txn)
        try t.put(t.shotFrames, Key(e.shotID).with(position), id: e.frameID, txn)
        // No touch: while the frame lives, `shot-frames` holds this position under the shot.
    }

    func frameApproved(_ e: FrameApproved, _ txn: borrowing Transaction) throws {
        var frame = try must(FrameRecord.self, t.frames, e.frameID, "frame", txn)
        if checks {
            let job = try must(JobHead.self, t.jobs, e.jobID, "job", txn)
            try require(job.frameID == e.frameID, "job \(e.jobID.text) was not created for frame \(e.frameID.text)")
            try require(job.status == .completed, "job \(e.jobID.text) is \(job.status.rawValue), not completed")
        }
        frame.status = .approved
        frame.currentJobID = e.jobID
        try t.put(frame, t.frames, e.frameID, txn)
    }
}
