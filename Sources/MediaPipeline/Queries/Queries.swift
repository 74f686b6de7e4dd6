import EventStore
import Foundation
import LMDB

/// Read access to the media projection: the queries of `reel query`, each on one snapshot. ``MediaStore`` answers them from
/// the live store, ``MediaReplay`` from the projections as they stood at a past position.
public protocol MediaQueries: Sendable {
    /// Runs `body` on one snapshot of the media projection's databases.
    func withQueries<R>(_ body: (SnapshotQueries, borrowing Transaction) throws -> R) throws -> R
}

extension MediaQueries {
    /// A project's image URLs by scene, scenes without images left out.
    public func imagesByScene(project: UUID) throws -> ImagesByScene { try withQueries { try $0.imagesByScene(project, $1) } }
    /// A frame's review state and regeneration history.
    public func jobsByFrame(frame: UUID) throws -> JobsByFrame { try withQueries { try $0.jobsByFrame(frame, $1) } }
    /// A shot's frames in creation order.
    public func framesByShot(shot: UUID) throws -> FramesByShot { try withQueries { try $0.framesByShot(shot, $1) } }
    /// A story's scenelets depth-first with display ids, and its shots in play order.
    public func story(_ story: UUID) throws -> StoryView { try withQueries { try $0.story(story, $1) } }
    /// The player bundle of a story.
    public func bundle(story: UUID) throws -> PlayerBundle { try withQueries { try $0.bundle(story, $1) } }
    /// A user's sessions with thumbnails and counts, most recently updated first.
    public func sessions(user: UUID) throws -> Sessions { try withQueries { try $0.sessions(user, $1) } }
    /// A job with every parameter, its reference image URLs and its images.
    public func job(_ job: UUID) throws -> JobView { try withQueries { try $0.job(job, $1) } }
    /// The images of a session by generation_index, then time.
    public func sessionImages(session: UUID) throws -> SessionImages { try withQueries { try $0.sessionImages(session, $1) } }
    /// A user's reference images, newest first.
    public func referenceImages(user: UUID) throws -> ReferenceImages { try withQueries { try $0.referenceImages(user, $1) } }
    /// Jobs in a status, oldest first: a work queue.
    public func jobs(status: JobStatus, limit: Int = .max) throws -> JobQueue {
        try withQueries { try $0.jobs(status, limit: limit, $1) }
    }
}

/// The queries over one snapshot, lent by ``MediaQueries/withQueries(_:)``. Each reads only the keys of the
/// entity asked about: its record, then one contiguous key range per index it needs.
public struct SnapshotQueries {
    let t: Tables

    private func must<R: EntityRecord>(_ type: R.Type, _ database: Database, _ id: UUID, _ entity: String, _ txn: borrowing Transaction) throws -> R {
        guard let record = try t.record(R.self, database, id, txn) else { throw UnknownEntity(entity: entity, id: id) }
        return record
    }

    func imagesByScene(_ projectID: UUID, _ txn: borrowing Transaction) throws -> ImagesByScene {
        // Every URL goes into one text, which the scenes share with where each URL ends: a few allocations for the
        // whole result rather than one per URL and per scene (malloc is most of such a query's time), and no
        // `Substring` until a URL is read. The scan reads each chunk's total (a read snapshot's values stay where
        // they are until it ends, so it keeps pointers to them); then the chunks are decoded straight into the text.
        var chunks: [(scene: Int, value: UnsafeRawBufferPointer)] = []
        chunks.reserveCapacity(128)
        var total = 0
        try t.scan(t.sceneImages, prefix: Key(projectID), txn) { suffix, value in
            guard suffix.count == 16, let scene = BigEndian.u64(suffix), scene <= UInt64(Int.max) else {
                throw DamagedRecord(what: "scene images")
            }
            chunks.append((Int(scene), value))
            total += try SceneImageChunk.total(value)
            return true
        }
        // No event removes a project, and its chunks exist only once it does: the project's record is read only
        // when it has none.
        if chunks.isEmpty {
            guard try t.exists(t.projects, projectID, txn) else { throw UnknownEntity(entity: "project", id: projectID) }
            return ImagesByScene(projectID: projectID, scenes: [])
        }
        var ends: [Int] = []
        ends.reserveCapacity(chunks.count * 4)
        var firsts: [(scene: Int, first: Int)] = []  // each scene and the index of its first URL
        firsts.reserveCapacity(chunks.count)
        var sound = false
        let text = try String(unsafeUninitializedCapacity: total) { buffer in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var offset = 0
            for (scene, value) in chunks {
                if firsts.last?.scene != scene { firsts.append((scene, ends.count)) }
                offset = try SceneImageChunk.decode(value, into: raw, at: offset, ends: &ends)
            }
            guard offset == total else { throw DamagedRecord(what: "scene images") }
            sound = Self.isText(UnsafeBufferPointer(rebasing: buffer[..<total]), pieceEnds: ends)
            return total
        }
        guard sound else { throw DamagedRecord(what: "scene image") }
        let storage = SharedTexts.Storage(text: text, ends: ends)
        let scenes = firsts.indices.map { index in
            let upper = index + 1 < firsts.count ? firsts[index + 1].first : ends.count
            return ImagesByScene.Scene(sceneIndex: firsts[index].scene, imageURLs: SharedTexts(storage, firsts[index].first..<upper))
        }
        return ImagesByScene(projectID: projectID, scenes: scenes)
    }

    func jobsByFrame(_ frameID: UUID, _ txn: borrowing Transaction) throws -> JobsByFrame {
        let frame = try must(FrameRecord.self, t.frames, frameID, "frame", txn)
        let jobs = try t.ids(t.frameJobs, prefix: Key(frameID), txn).map { jobID in
            let job = try must(JobHead.self, t.jobs, jobID, "job", txn)
            return JobsByFrame.Job(jobID: jobID, status: job.status, createdAt: job.createdAt)
        }
        return JobsByFrame(
            frameID: frameID, frameType: frame.frameType, status: frame.status, currentJobID: frame.currentJobID,
            latestCompletedJobID: frame.latestCompletedJobID, jobs: jobs
        )
    }

    func framesByShot(_ shotID: UUID, _ txn: borrowing Transaction) throws -> FramesByShot {
        guard try t.story(ofShot: shotID, txn) != nil else { throw UnknownEntity(entity: "shot", id: shotID) }
        let frames = try t.ids(t.shotFrames, prefix: Key(shotID), txn).map { frameID in
            let frame = try must(FrameRecord.self, t.frames, frameID, "frame", txn)
            return FramesByShot.Frame(
                frameID: frameID, frameType: frame.frameType, status: frame.status, currentJobID: frame.currentJobID,
                previousFrameID: frame.previousFrameID
            )
        }
        return FramesByShot(shotID: shotID, frames: frames)
    }

    /// The story's scenelets depth-first with display ids, and its shots by (sequence, shot index): two key ranges
    /// (its scenelets in the order added, its shots by scenelet), ordered in memory.
    func story(_ storyID: UUID, _ txn: borrowing Transaction) throws -> StoryView {
        let story = try must(StoryRecord.self, t.stories, storyID, "story", txn)
        // The records' variable-length fields go into an arena, which the result slices: contents and payloads as
        // bytes, prompts and paths as one text.
        var arena: Arena? = Arena()
        arena!.bytes.reserveCapacity(8_192)
        arena!.text.reserveCapacity(8_192)
        var records: [SceneletRecord] = []
        try t.scan(t.storyScenelets, prefix: Key(storyID), txn) { _, value in
            var reader = RecordReader(inner: ByteReader(value))
            records.append(try SceneletRecord(from: &reader, arena: &arena))
            return true
        }
        // Shots come by scenelet position (the order of `records`), then shot index: each scenelet's are one run.
        let positions = records.map(\.position)
        var shotRecords: [ShotRecord] = []
        shotRecords.reserveCapacity(records.count)
        var runs = [Range<Int>?](repeating: nil, count: records.count)
        var runIndex = -1
        var runStart = 0
        try t.scan(t.storyShots, prefix: Key(storyID), txn) { _, value in
            var reader = RecordReader(inner: ByteReader(value))
            let shot = try ShotRecord(from: &reader, arena: &arena)
            if runIndex < 0 || shot.sceneletPosition != positions[runIndex] {
                if runIndex >= 0 { runs[runIndex] = runStart..<shotRecords.count }
                runIndex = Self.index(of: shot.sceneletPosition, in: positions)
                runStart = shotRecords.count
                if runIndex < 0 { return true }  // damaged: a shot of no scenelet
            }
            shotRecords.append(shot)
            return true
        }
        if runIndex >= 0 { runs[runIndex] = runStart..<shotRecords.count }
        let bytes = arena!.bytes
        // The text's pieces were appended one after the other: each ends where the next begins, and the last at the end.
        var pieceEnds: [Int] = []
        pieceEnds.reserveCapacity(records.count + 2 * shotRecords.count)
        for record in records { if let range = record.choicePromptRange { pieceEnds.append(range.upperBound) } }
        for shot in shotRecords {
            if let range = shot.keyFrameImagePathRange { pieceEnds.append(range.upperBound) }
            if let range = shot.audioFilePathRange { pieceEnds.append(range.upperBound) }
        }
        guard let text = Self.text(of: arena!.text, pieceEnds: pieceEnds) else { throw DamagedRecord(what: "scenelet or shot") }
        func slice(_ range: Range<Int>?) -> Substring? { range.map { Self.slice(text, $0) } }

        // Pre-order from the root, children in the order added (`records` is in that order): a child list per
        // scenelet as first child and next sibling, then an explicit stack.
        var indexByID: [UUID: Int] = [:]
        indexByID.reserveCapacity(records.count)
        for index in records.indices { indexByID[records[index].id] = index }
        var firstChild = [Int](repeating: -1, count: records.count)
        var lastChild = firstChild
        var nextSibling = firstChild
        for index in records.indices {
            guard let parentID = records[index].parentID, let parent = indexByID[parentID] else { continue }
            if lastChild[parent] < 0 { firstChild[parent] = index } else { nextSibling[lastChild[parent]] = index }
            lastChild[parent] = index
        }
        var scenelets: [StoryView.Scenelet] = []
        scenelets.reserveCapacity(records.count)
        var shots: [StoryView.Shot] = []
        shots.reserveCapacity(shotRecords.count)
        var stack: [Int] = []
        if let rootID = story.rootID {
            guard let root = indexByID[rootID] else { throw DamagedRecord(what: "scenelet") }
            stack.append(root)
        }
        // Parent links come from stored records: a damaged one could make a cycle, which must not loop.
        var visited = [Bool](repeating: false, count: records.count)
        while let index = stack.popLast() {
            guard !visited[index] else { throw DamagedRecord(what: "scenelet") }
            visited[index] = true
            let sequence = scenelets.count + 1
            let displayID = "scenelet-" + String(sequence)
            scenelets.append(
                StoryView.Scenelet(
                    sceneletID: records[index].id, displayID: displayID, sequence: sequence, parentID: records[index].parentID,
                    isBranchPoint: records[index].isBranchPoint, choicePrompt: slice(records[index].choicePromptRange),
                    content: SharedSlice(bytes[records[index].contentRange]), endFrameID: records[index].endFrameID
                ))
            for shot in runs[index].map({ shotRecords[$0] }) ?? [] {
                shots.append(
                    StoryView.Shot(
                        shotID: shot.id, sceneletID: records[index].id, sceneletDisplayID: displayID, sceneletSequence: sequence,
                        shotIndex: shot.shotIndex, storyboardPayload: shot.storyboardPayloadRange.map { SharedSlice(bytes[$0]) },
                        keyFrameImagePath: slice(shot.keyFrameImagePathRange), audioFilePath: slice(shot.audioFilePathRange)
                    ))
            }
            // Push the children last to first, so the first is visited next.
            let mark = stack.count
            var child = firstChild[index]
            while child >= 0 {
                stack.append(child)
                child = nextSibling[child]
            }
            stack[mark...].reverse()
        }
        return StoryView(storyID: storyID, title: story.title, scenelets: scenelets, shots: shots)
    }

    /// The text of a buffer of pieces (stored fields, appended one after the other), or `nil` when the buffer is not
    /// UTF-8 or a piece ends inside a character: only then are the pieces' byte offsets those of the text. Checked once
    /// for the whole buffer, not piece by piece.
    static func text(of bytes: [UInt8], pieceEnds: some Sequence<Int>) -> String? {
        for end in pieceEnds where end < bytes.count && bytes[end] & 0xC0 == 0x80 { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The piece of `text` at UTF-8 offsets `range` (from `text(of:pieceEnds:)`, so on character boundaries).
    static func slice(_ text: String, _ range: Range<Int>) -> Substring {
        let start = text.utf8.index(text.utf8.startIndex, offsetBy: range.lowerBound)
        return text[start..<text.utf8.index(start, offsetBy: range.count)]
    }

    /// Whether a buffer of pieces is UTF-8 with no piece ending inside a character (see `text(of:pieceEnds:)`),
    /// checked without a copy.
    static func isText(_ bytes: UnsafeBufferPointer<UInt8>, pieceEnds: [Int]) -> Bool {
        for end in pieceEnds where end < bytes.count && bytes[end] & 0xC0 == 0x80 { return false }
        return (try? UTF8Span(validating: bytes.span)) != nil
    }

    /// The index of `position` in `positions` (ascending), or -1.
    private static func index(of position: UInt64, in positions: [UInt64]) -> Int {
        var (low, high) = (0, positions.count)
        while low < high {
            let middle = (low + high) / 2
            if positions[middle] < position { low = middle + 1 } else { high = middle }
        }
        return low < positions.count && positions[low] == position ? low : -1
    }

    func bundle(_ storyID: UUID, _ txn: borrowing Transaction) throws -> PlayerBundle {
        let view = try story(storyID, txn)
        var byScenelet: [UUID: [StoryView.Shot]] = [:]
        for shot in view.shots { byScenelet[shot.sceneletID, default: []].append(shot) }
        let scenelets = try view.scenelets.map { scenelet in
            let shots = try (byScenelet[scenelet.sceneletID] ?? []).map { shot in
                let frames = try t.ids(t.shotFrames, prefix: Key(shot.shotID), txn).map { frameID in
                    let frame = try must(FrameRecord.self, t.frames, frameID, "frame", txn)
                    var url: String?
                    if frame.status == .approved, let jobID = frame.currentJobID {
                        url = try firstImageURL(ofJob: jobID, txn)
                    }
                    return PlayerBundle.Frame(frameID: frameID, frameType: frame.frameType, status: frame.status, approvedImageURL: url)
                }
                return PlayerBundle.Shot(shot: shot, frames: frames)
            }
            return PlayerBundle.Scenelet(scenelet: scenelet, shots: shots)
        }
        return PlayerBundle(storyID: storyID, title: view.title, scenelets: scenelets)
    }

    func sessions(_ userID: UUID, _ txn: borrowing Transaction) throws -> Sessions {
        _ = try must(UserRecord.self, t.users, userID, "user", txn)
        // The user's sessions are one key range of records, each with its thumbnail and count. The thumbnails go
        // into one text, which the result slices: one allocation for them all rather than one per session.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(2_048)
        var entries: [(sessionID: UUID, title: String, thumbnail: Range<Int>?, count: Int, createdAt: Int64, updatedAt: Int64, position: UInt64)] = []
        entries.reserveCapacity(32)
        try t.scan(t.userSessions, prefix: Key(userID), txn) { suffix, value in
            var key = ByteReader(suffix)
            guard suffix.count == 16, let sessionID = try? key.uuid() else { throw DamagedRecord(what: "session") }
            let (session, thumbnail) = try SessionRecord.read(value, thumbnailInto: &bytes)
            entries.append((sessionID, session.title, thumbnail, session.imageCount, session.createdAt, session.updatedAt, session.updatedPosition))
            return true
        }
        guard let text = Self.text(of: bytes, pieceEnds: entries.lazy.compactMap { $0.thumbnail?.upperBound }) else {
            throw DamagedRecord(what: "session")
        }
        entries.sort { ($0.updatedAt, $0.position) > ($1.updatedAt, $1.position) }
        return Sessions(userID: userID, sessions: entries.map { entry in
            Sessions.Session(
                sessionID: entry.sessionID, title: entry.title, thumbnailURL: entry.thumbnail.map { Self.slice(text, $0) },
                generatedCount: entry.count, createdAt: entry.createdAt, updatedAt: entry.updatedAt
            )
        })
    }

    /// An image's summary, decoded from its record without making the strings it does not show.
    private func summary(_ imageID: UUID, _ txn: borrowing Transaction) throws -> ImageSummary {
        guard let image = try t.read(t.images, imageID, txn, ImageRecord.summary) else { throw UnknownEntity(entity: "image", id: imageID) }
        return ImageSummary(
            imageID: imageID, jobID: image.jobID, generationIndex: image.generationIndex, gcpURL: Substring(image.gcpURL),
            thumbnailURL: image.thumbnailURL.map { Substring($0) }, createdAt: image.createdAt
        )
    }

    /// The job's record (with its reference images' URLs) and one key range of its images: no other record is read.
    func job(_ jobID: UUID, _ txn: borrowing Transaction) throws -> JobView {
        // Every URL (the reference images', then each image's) goes into one text, which the result slices: a few
        // allocations for the whole result rather than one per URL. 1,000 bytes make a block of 1,032 with the array's
        // header: the largest glibc's per-thread cache hands out, without its arena's lock or merging freed blocks
        // (a larger first buffer made the query three times slower after another query's frees).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1_000)
        var ends: [Int] = []
        ends.reserveCapacity(16)
        guard let job = try t.read(t.jobs, jobID, txn, { try JobRecord.read($0, referenceURLsInto: &bytes, ends: &ends) }) else {
            throw UnknownEntity(entity: "job", id: jobID)
        }
        // The images are listed as they are scanned, their URLs empty (a thumbnail's empty, not nil, when there is
        // one); once the text is made, each gets its slices. The pieces lie in the text in the order read, each
        // ending where the next begins: the reference URLs, then each image's URL and thumbnail.
        let referenceCount = ends.count
        var images: [ImageSummary] = []
        images.reserveCapacity(min(job.numberOfShots, 64))  // a job makes as many images as shots, as a rule
        try t.scan(t.jobImages, prefix: Key(jobID), txn) { suffix, value in
            guard suffix.count == 8, let index = BigEndian.u64(suffix), index <= UInt64(Int.max),
                let entry = try? JobImageEntry.read(value, urlsInto: &bytes)
            else { throw DamagedRecord(what: "job image") }
            images.append(ImageSummary(
                imageID: entry.imageID, jobID: jobID, generationIndex: Int(index), gcpURL: "",
                thumbnailURL: entry.thumbnailURL == nil ? nil : "", createdAt: entry.createdAt))
            ends.append(entry.gcpURL.upperBound)
            if let thumbnail = entry.thumbnailURL { ends.append(thumbnail.upperBound) }
            return true
        }
        guard let text = Self.text(of: bytes, pieceEnds: ends) else { throw DamagedRecord(what: "job") }
        var (piece, start) = (0, 0)
        func next() -> Substring {
            defer { (piece, start) = (piece + 1, ends[piece]) }
            return Self.slice(text, start..<ends[piece])
        }
        let referenceURLs = (0..<referenceCount).map { _ in next() }
        for index in images.indices {
            let image = images[index]
            images[index] = ImageSummary(
                imageID: image.imageID, jobID: jobID, generationIndex: image.generationIndex, gcpURL: next(),
                thumbnailURL: image.thumbnailURL == nil ? nil : next(), createdAt: image.createdAt
            )
        }
        return JobView(
            job: job.created, numberOfShots: job.numberOfShots, status: job.status, error: job.error, createdAt: job.createdAt,
            referenceImageURLs: referenceURLs, images: images
        )
    }

    /// The URL of a job's first image by generation index, from its first entry in `job-images`.
    private func firstImageURL(ofJob jobID: UUID, _ txn: borrowing Transaction) throws -> String? {
        var url: String?
        try t.scan(t.jobImages, prefix: Key(jobID), txn) { suffix, value in
            guard suffix.count == 8, let index = BigEndian.u64(suffix), index <= UInt64(Int.max),
                let entry = try? JobImageEntry(bytes: value)
            else { throw DamagedRecord(what: "job image") }
            url = entry.gcpURL
            return false
        }
        return url
    }

    func sessionImages(_ sessionID: UUID, _ txn: borrowing Transaction) throws -> SessionImages {
        guard try t.exists(t.sessions, sessionID, txn) else { throw UnknownEntity(entity: "session", id: sessionID) }
        let images = try t.ids(t.sessionImages, prefix: Key(sessionID), txn).map { try summary($0, txn) }
        return SessionImages(sessionID: sessionID, images: images)
    }

    func referenceImages(_ userID: UUID, _ txn: borrowing Transaction) throws -> ReferenceImages {
        _ = try must(UserRecord.self, t.users, userID, "user", txn)
        let images = try t.ids(t.userReferenceImages, prefix: Key(userID), txn).reversed().map { id in
            let image = try must(ReferenceImageRecord.self, t.referenceImages, id, "reference image", txn)
            return ReferenceImages.Image(
                referenceImageID: id, gcpURL: image.gcpURL, filename: image.filename, sessionID: image.sessionID, uploadedAt: image.uploadedAt
            )
        }
        return ReferenceImages(userID: userID, referenceImages: images)
    }

    func jobs(_ status: JobStatus, limit: Int, _ txn: borrowing Transaction) throws -> JobQueue {
        var ids: [UUID] = []
        if limit > 0 {
            try t.scan(t.jobsByStatus, prefix: Key(status.code), txn) { _, value in
                var reader = ByteReader(value)
                guard let id = try? reader.uuid() else { throw DamagedRecord(what: "job queue") }
                ids.append(id)
                return ids.count < limit
            }
        }
        let jobs = try ids.map { jobID in
            let job = try must(JobHead.self, t.jobs, jobID, "job", txn)
            return JobQueue.Job(jobID: jobID, userID: job.userID, createdAt: job.createdAt)
        }
        return JobQueue(status: status, jobs: jobs)
    }
}
