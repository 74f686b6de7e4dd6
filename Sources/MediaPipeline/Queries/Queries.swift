import EventStore
import Foundation
import LMDB

/// Read access to the media projection: the queries of SPEC §4, each on one snapshot. ``MediaStore`` answers them from
/// the live store, ``MediaReplay`` from the projections as they stood at a past position.
public protocol MediaQueries: Sendable {
    /// Runs `body` on one snapshot of the media projection's databases.
    func withQueries<R>(_ body: (SnapshotQueries, borrowing Transaction) throws -> R) throws -> R
}

extension MediaQueries {
    /// A project's image URLs by scene (seed 003), scenes without images left out.
    public func imagesByScene(project: UUID) throws -> ImagesByScene { try withQueries { try $0.imagesByScene(project, $1) } }
    /// A frame's review state and regeneration history (seed 000).
    public func jobsByFrame(frame: UUID) throws -> JobsByFrame { try withQueries { try $0.jobsByFrame(frame, $1) } }
    /// A shot's frames in creation order.
    public func framesByShot(shot: UUID) throws -> FramesByShot { try withQueries { try $0.framesByShot(shot, $1) } }
    /// A story's scenelets depth-first with display ids, and its shots in play order (seed 002).
    public func story(_ story: UUID) throws -> StoryView { try withQueries { try $0.story(story, $1) } }
    /// The player bundle of a story.
    public func bundle(story: UUID) throws -> PlayerBundle { try withQueries { try $0.bundle(story, $1) } }
    /// A user's sessions with thumbnails and counts, most recently updated first (seed 001).
    public func sessions(user: UUID) throws -> Sessions { try withQueries { try $0.sessions(user, $1) } }
    /// A job with every parameter, its reference image URLs and its images (seed 001).
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

/// The queries of SPEC §4 over one snapshot, lent by ``MediaQueries/withQueries(_:)``. Each reads only the keys of the
/// entity asked about: its record, then one contiguous key range per index it needs.
public struct SnapshotQueries {
    let t: Tables

    private func must<R: EntityRecord>(_ type: R.Type, _ database: Database, _ id: UUID, _ entity: String, _ txn: borrowing Transaction) throws -> R {
        guard let record = try t.record(R.self, database, id, txn) else { throw UnknownEntity(entity: entity, id: id) }
        return record
    }

    func imagesByScene(_ projectID: UUID, _ txn: borrowing Transaction) throws -> ImagesByScene {
        _ = try must(ProjectRecord.self, t.projects, projectID, "project", txn)
        var scenes: [ImagesByScene.Scene] = []
        var currentScene: Int?
        var urls: [String] = []
        try t.scan(t.sceneImages, prefix: Key(projectID), txn) { suffix, value in
            let scene = Int(BigEndian.u64(suffix) ?? 0)
            if scene != currentScene {
                if let currentScene { scenes.append(.init(sceneIndex: currentScene, imageURLs: urls)) }
                currentScene = scene
                urls = []
            }
            urls.append(String(decoding: value, as: UTF8.self))
            return true
        }
        if let currentScene { scenes.append(.init(sceneIndex: currentScene, imageURLs: urls)) }
        return ImagesByScene(projectID: projectID, scenes: scenes)
    }

    func jobsByFrame(_ frameID: UUID, _ txn: borrowing Transaction) throws -> JobsByFrame {
        let frame = try must(FrameRecord.self, t.frames, frameID, "frame", txn)
        let jobs = try t.ids(t.frameJobs, prefix: Key(frameID), txn).map { jobID in
            let job = try must(JobRecord.self, t.jobs, jobID, "job", txn)
            return JobsByFrame.Job(jobID: jobID, status: job.status, createdAt: job.createdAt)
        }
        return JobsByFrame(
            frameID: frameID, frameType: frame.frameType, status: frame.status, currentJobID: frame.currentJobID,
            latestCompletedJobID: frame.latestCompletedJobID, jobs: jobs
        )
    }

    func framesByShot(_ shotID: UUID, _ txn: borrowing Transaction) throws -> FramesByShot {
        _ = try must(ShotRecord.self, t.shots, shotID, "shot", txn)
        let frames = try t.ids(t.shotFrames, prefix: Key(shotID), txn).map { frameID in
            let frame = try must(FrameRecord.self, t.frames, frameID, "frame", txn)
            return FramesByShot.Frame(
                frameID: frameID, frameType: frame.frameType, status: frame.status, currentJobID: frame.currentJobID,
                previousFrameID: frame.previousFrameID
            )
        }
        return FramesByShot(shotID: shotID, frames: frames)
    }

    /// The story's scenelets depth-first, pre-order from the root, children in the order added.
    private func depthFirst(_ story: StoryRecord, _ txn: borrowing Transaction) throws -> [(id: UUID, record: SceneletRecord)] {
        guard let root = story.rootID else { return [] }
        var ordered: [(UUID, SceneletRecord)] = []
        var stack = [root]
        while let id = stack.popLast() {
            let record = try must(SceneletRecord.self, t.scenelets, id, "scenelet", txn)
            ordered.append((id, record))
            stack.append(contentsOf: try t.ids(t.sceneletChildren, prefix: Key(id), txn).reversed())
        }
        return ordered
    }

    func story(_ storyID: UUID, _ txn: borrowing Transaction) throws -> StoryView {
        let story = try must(StoryRecord.self, t.stories, storyID, "story", txn)
        var scenelets: [StoryView.Scenelet] = []
        var shots: [StoryView.Shot] = []
        for (index, (id, record)) in try depthFirst(story, txn).enumerated() {
            let scenelet = StoryView.Scenelet(
                sceneletID: id, displayID: "scenelet-\(index + 1)", sequence: index + 1, parentID: record.parentID,
                isBranchPoint: record.isBranchPoint, choicePrompt: record.choicePrompt, content: record.content,
                endFrameID: record.endFrameID
            )
            scenelets.append(scenelet)
            shots.append(contentsOf: try self.shots(of: scenelet, txn))
        }
        return StoryView(storyID: storyID, title: story.title, scenelets: scenelets, shots: shots)
    }

    private func shots(of scenelet: StoryView.Scenelet, _ txn: borrowing Transaction) throws -> [StoryView.Shot] {
        try t.ids(t.sceneletShots, prefix: Key(scenelet.sceneletID), txn).map { shotID in
            let shot = try must(ShotRecord.self, t.shots, shotID, "shot", txn)
            return StoryView.Shot(
                shotID: shotID, sceneletID: scenelet.sceneletID, sceneletDisplayID: scenelet.displayID,
                sceneletSequence: scenelet.sequence, shotIndex: shot.shotIndex, storyboardPayload: shot.storyboardPayload,
                keyFrameImagePath: shot.keyFrameImagePath, audioFilePath: shot.audioFilePath
            )
        }
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
                        url = try t.ids(t.jobImages, prefix: Key(jobID), txn).first.flatMap { imageID in
                            try t.record(ImageRecord.self, t.images, imageID, txn)?.gcpURL
                        }
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
        var entries: [(session: Sessions.Session, position: UInt64)] = []
        for sessionID in try t.members(t.userSessions, prefix: Key(userID), txn) {
            let session = try must(SessionRecord.self, t.sessions, sessionID, "session", txn)
            var thumbnail: String?
            if let first = try t.ids(t.sessionImagesByTime, prefix: Key(sessionID), txn).first {
                thumbnail = try t.record(ImageRecord.self, t.images, first, txn)?.gcpURL
            }
            entries.append((
                Sessions.Session(
                    sessionID: sessionID, title: session.title, thumbnailURL: thumbnail, generatedCount: session.imageCount,
                    createdAt: session.createdAt, updatedAt: session.updatedAt
                ),
                session.updatedPosition
            ))
        }
        entries.sort { ($0.session.updatedAt, $0.position) > ($1.session.updatedAt, $1.position) }
        return Sessions(userID: userID, sessions: entries.map(\.session))
    }

    private func summary(_ imageID: UUID, _ txn: borrowing Transaction) throws -> ImageSummary {
        let image = try must(ImageRecord.self, t.images, imageID, "image", txn)
        return ImageSummary(
            imageID: imageID, jobID: image.jobID, generationIndex: image.generationIndex, gcpURL: image.gcpURL,
            thumbnailURL: image.thumbnailURL, createdAt: image.createdAt
        )
    }

    func job(_ jobID: UUID, _ txn: borrowing Transaction) throws -> JobView {
        let job = try must(JobRecord.self, t.jobs, jobID, "job", txn)
        let urls = try (job.created.referenceImageIDs ?? []).map { referenceID in
            try must(ReferenceImageRecord.self, t.referenceImages, referenceID, "reference image", txn).gcpURL
        }
        let images = try t.ids(t.jobImages, prefix: Key(jobID), txn).map { try summary($0, txn) }
        return JobView(
            job: job.created, numberOfShots: job.numberOfShots, status: job.status, error: job.error, createdAt: job.createdAt,
            referenceImageURLs: urls, images: images
        )
    }

    func sessionImages(_ sessionID: UUID, _ txn: borrowing Transaction) throws -> SessionImages {
        _ = try must(SessionRecord.self, t.sessions, sessionID, "session", txn)
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
            let job = try must(JobRecord.self, t.jobs, jobID, "job", txn)
            return JobQueue.Job(jobID: jobID, userID: job.created.userID, createdAt: job.createdAt)
        }
        return JobQueue(status: status, jobs: jobs)
    }
}
