// A realistic, seeded media production and the measured entities beside it, shared by the query benchmarks
// (Benchmarks/) and the side-by-side comparison (Compare/): both build the same ~1,000,000-event data set from it.

import EventStore
import Foundation
import MediaPipeline
import Synchronization

// MARK: - Deterministic randomness

/// SplitMix64: a small, seeded generator, so the fixture and its measured ids are the same in every process.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A random version-4 UUID, as the relational designs' services make entity ids.
    public mutating func uuid() -> UUID {
        var bytes = (next(), next())
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw[6] = raw[6] & 0x0F | 0x40
            raw[8] = raw[8] & 0x3F | 0x80
            return UUID(uuid: raw.load(as: uuid_t.self))
        }
    }

    public mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }
}

// MARK: - A realistic production (the mix of tools/make-production.py)

/// Generates valid inputs in order, one "roll" at a time, with the mix of `tools/make-production.py`: users with a
/// session and two reference images (001); generation jobs that start, make 1–4 images, complete or fail, sometimes
/// with an image deleted (001); projects whose 5–30 scenes get 1–4 images each (003); stories of 3–12 branching
/// scenelets, each with a shot, a key frame, a job, its image and the frame's approval (002, 000).
public struct Production {
    private var rng: SeededRandom
    private var users: [(user: UUID, session: UUID, refs: [UUID])] = []
    /// Entity ids: random version-4 (as the relational designs' services make them), or time-ordered version-7.
    private let timeOrderedIDs: Bool

    public init(seed: UInt64, timeOrderedIDs: Bool = false) {
        rng = SeededRandom(seed: seed)
        self.timeOrderedIDs = timeOrderedIDs
    }

    private mutating func uid() -> UUID { timeOrderedIDs ? UUID.timeOrdered() : rng.uuid() }

    /// Appends the inputs of the next roll to `out`.
    public mutating func roll(into out: inout [MediaStore.Input]) {
        func emit(_ event: DomainEvent, _ metadata: EventMetadata = .none) { out.append(MediaStore.Input(event, metadata: metadata)) }
        let roll = Double.random(in: 0..<1, using: &rng)
        if users.isEmpty || roll < 0.02 {
            let user = uid(), session = uid()
            emit(.userRegistered(UserRegistered(userID: user, email: "\(user.lowercased)@studio.example")))
            emit(.sessionCreated(SessionCreated(sessionID: session, userID: user, title: "Session")))
            var refs: [UUID] = []
            for n in 0..<2 {
                let ref = uid()
                refs.append(ref)
                emit(.referenceImageUploaded(ReferenceImageUploaded(
                    referenceImageID: ref, userID: user, sessionID: session, gcpBucketPath: "uploads/\(user.lowercased)/\(n).jpg",
                    gcpURL: "https://cdn/\(ref.lowercased).jpg"
                )))
            }
            users.append((user, session, refs))
        } else if roll < 0.55 {
            let (user, session, refs) = users[Int.random(in: 0..<users.count, using: &rng)]
            let job = uid()
            let shots = Int.random(in: 1...4, using: &rng)
            emit(
                .generationJobCreated(GenerationJobCreated(
                    jobID: job, userID: user, sessionID: session, prompt: "a lighthouse in a storm", style: "painterly",
                    aspectRatio: "16:9", numberOfShots: shots, referenceImageIDs: refs
                )),
                EventMetadata(actor: "api", correlationID: job.lowercased)
            )
            emit(.generationJobStarted(GenerationJobStarted(jobID: job)), EventMetadata(actor: "worker"))
            var images: [UUID] = []
            for index in 1...shots {
                let image = uid()
                images.append(image)
                emit(.imageGenerated(ImageGenerated(
                    imageID: image, jobID: job, generationIndex: index, gcpBucketPath: "generated/\(job.lowercased)/\(index).jpg",
                    gcpURL: "https://cdn/\(image.lowercased).jpg", thumbnailURL: "https://cdn/t/\(image.lowercased).jpg"
                )))
            }
            if rng.chance(0.1) {
                emit(.generationJobFailed(GenerationJobFailed(jobID: job, error: "worker lost")))
            } else {
                emit(.generationJobCompleted(GenerationJobCompleted(jobID: job)))
            }
            if rng.chance(0.1) { emit(.imageDeleted(ImageDeleted(imageID: images[0]))) }
        } else if roll < 0.85 {
            let project = uid()
            emit(.projectCreated(ProjectCreated(projectID: project, title: "Trailer")))
            for scene in 0..<Int.random(in: 5...30, using: &rng) {
                for image in 0..<Int.random(in: 1...4, using: &rng) {
                    emit(.sceneImageSaved(SceneImageSaved(
                        projectID: project, sceneIndex: scene, imageIndex: image,
                        imageURL: "https://cdn/p/\(project.lowercased)/\(scene)/\(image).png"
                    )))
                }
            }
        } else {
            let user = users[Int.random(in: 0..<users.count, using: &rng)].user
            let story = uid()
            emit(.storyCreated(StoryCreated(storyID: story, title: "The Lighthouse Keeper", userID: user)))
            var scenelets: [UUID] = []
            for n in 0..<Int.random(in: 3...12, using: &rng) {
                let scenelet = uid()
                let parent = scenelets.isEmpty ? nil : scenelets[Int.random(in: 0..<scenelets.count, using: &rng)]
                emit(.sceneletAdded(SceneletAdded(
                    sceneletID: scenelet, storyID: story, parentID: parent, content: beat(n), isBranchPoint: n % 4 == 1
                )))
                scenelets.append(scenelet)
                let shot = uid(), frame = uid(), job = uid()
                emit(.shotPlanned(ShotPlanned(shotID: shot, sceneletID: scenelet, shotIndex: 1, storyboardPayload: camera("wide"))))
                emit(.frameCreated(FrameCreated(frameID: frame, shotID: shot, frameType: "key")))
                emit(.generationJobCreated(GenerationJobCreated(jobID: job, userID: user, frameID: frame, prompt: "keyframe")))
                emit(.generationJobStarted(GenerationJobStarted(jobID: job)))
                emit(.imageGenerated(ImageGenerated(
                    imageID: uid(), jobID: job, generationIndex: 1, gcpBucketPath: "g", gcpURL: "https://cdn/\(job.lowercased).jpg"
                )))
                emit(.generationJobCompleted(GenerationJobCompleted(jobID: job)))
                emit(.frameApproved(FrameApproved(frameID: frame, jobID: job)), EventMetadata(actor: "reviewer"))
            }
        }
    }
}

public func beat(_ n: Int) -> JSONObject {
    var content = JSONObject()
    content.set("beat", .number(JSONNumber(n)))
    content.set("text", .string("The keeper climbs the tower"))
    return content
}

public func camera(_ kind: String) -> JSONObject {
    var board = JSONObject()
    board.set("camera", .string(kind))
    return board
}

// MARK: - The measured entities

/// The entities the query benchmarks read, with fixed ids (from their own seed), and the events that make them.
public struct Targets: Sendable {
    /// A user with 20 sessions, each with 2 jobs of 4 images (8 images per session), and 4 reference images.
    public let user: UUID
    public let sessions: [UUID]
    public let referenceImages: [UUID]
    /// A job of the user (in its first session) with the 4 reference images and 4 images.
    public let job: UUID
    /// A project with 100 scenes × 4 images.
    public let project: UUID
    /// A story of 200 scenelets: scenelet n's parent is a uniformly chosen earlier scenelet. Each scenelet has one
    /// shot (with assets attached) and each shot one key frame.
    public let story: UUID
    public let scenelets: [UUID]
    public let shots: [UUID]
    public let frames: [UUID]
    /// The key frame of the story's first shot, with 20 jobs: each created for it, started, one image, then
    /// completed (every fifth fails instead), each completed one reviewed (rejected, the last one approved).
    public let frame: UUID

    public static let sessionCount = 20
    public static let jobsPerSession = 2
    public static let imagesPerJob = 4
    public static let scenes = 100
    public static let imagesPerScene = 4
    public static let sceneletCount = 200
    public static let frameJobs = 20

    public init(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        user = rng.uuid()
        sessions = (0..<Self.sessionCount).map { _ in rng.uuid() }
        referenceImages = (0..<4).map { _ in rng.uuid() }
        job = rng.uuid()
        project = rng.uuid()
        story = rng.uuid()
        scenelets = (0..<Self.sceneletCount).map { _ in rng.uuid() }
        shots = (0..<Self.sceneletCount).map { _ in rng.uuid() }
        frames = (0..<Self.sceneletCount).map { _ in rng.uuid() }
        frame = frames[0]
    }

    /// Every event of the measured entities, in a valid order, grouped by entity so that each entity's events can be
    /// spread through the filler on their own: each inner list is in order, and lists may interleave with each other
    /// only after the first list (the user, on which the others depend) is complete.
    public func inputs() -> (first: [MediaStore.Input], rest: [[MediaStore.Input]]) {
        var rng = SeededRandom(seed: 0x5EED_0003)
        func input(_ event: DomainEvent, _ metadata: EventMetadata = .none) -> MediaStore.Input { MediaStore.Input(event, metadata: metadata) }

        // The user, their reference images and sessions.
        var first: [MediaStore.Input] = [input(.userRegistered(UserRegistered(userID: user, email: "target-\(user.lowercased)@studio.example")))]
        for (n, session) in sessions.enumerated() {
            first.append(input(.sessionCreated(SessionCreated(sessionID: session, userID: user, title: "Session \(n + 1)"))))
        }
        for (n, ref) in referenceImages.enumerated() {
            first.append(input(.referenceImageUploaded(ReferenceImageUploaded(
                referenceImageID: ref, userID: user, sessionID: sessions[0], gcpBucketPath: "uploads/\(user.lowercased)/\(n).jpg",
                gcpURL: "https://cdn/\(ref.lowercased).jpg", filename: "reference-\(n).jpg"
            ))))
        }

        // The jobs of the sessions; the measured job is the first one of the first session.
        var sessionEvents: [MediaStore.Input] = []
        for (s, session) in sessions.enumerated() {
            for j in 0..<Self.jobsPerSession {
                let job = s == 0 && j == 0 ? self.job : rng.uuid()
                sessionEvents.append(input(
                    .generationJobCreated(GenerationJobCreated(
                        jobID: job, userID: user, sessionID: session, prompt: "a lighthouse in a storm, take \(j + 1)",
                        generatedPrompt: "a tall white lighthouse on black rocks, storm clouds, waves breaking", shotType: "wide",
                        cameraAngle: "low", style: "painterly", location: "coast", lighting: "dusk", weather: "storm",
                        aspectRatio: "16:9", numberOfShots: Self.imagesPerJob, referenceImageIDs: referenceImages
                    )),
                    EventMetadata(actor: "api", correlationID: job.lowercased)
                ))
                sessionEvents.append(input(.generationJobStarted(GenerationJobStarted(jobID: job)), EventMetadata(actor: "worker")))
                for index in 1...Self.imagesPerJob {
                    let image = rng.uuid()
                    sessionEvents.append(input(.imageGenerated(ImageGenerated(
                        imageID: image, jobID: job, generationIndex: index, gcpBucketPath: "generated/\(job.lowercased)/\(index).jpg",
                        gcpURL: "https://cdn/\(image.lowercased).jpg", thumbnailURL: "https://cdn/t/\(image.lowercased).jpg"
                    ))))
                }
                sessionEvents.append(input(.generationJobCompleted(GenerationJobCompleted(jobID: job))))
            }
            if s % 4 == 0 { sessionEvents.append(input(.sessionRenamed(SessionRenamed(sessionID: session, title: "Session \(s + 1), final")))) }
        }

        // The project's scene images, scene by scene.
        var projectEvents: [MediaStore.Input] = [input(.projectCreated(ProjectCreated(projectID: project, userID: user, title: "Lighthouse trailer")))]
        for scene in 0..<Self.scenes {
            for image in 0..<Self.imagesPerScene {
                projectEvents.append(input(.sceneImageSaved(SceneImageSaved(
                    projectID: project, sceneIndex: scene, imageIndex: image,
                    imageURL: "https://cdn/p/\(project.lowercased)/\(scene)/\(image).png"
                ))))
            }
        }

        // The story: a branching tree of scenelets, a shot with assets and a key frame each, then the measured
        // frame's 20 jobs and reviews.
        var storyEvents: [MediaStore.Input] = [input(.storyCreated(StoryCreated(storyID: story, title: "The Lighthouse Keeper, long cut", userID: user)))]
        for n in 0..<Self.sceneletCount {
            let parent = n == 0 ? nil : scenelets[Int.random(in: 0..<n, using: &rng)]
            storyEvents.append(input(.sceneletAdded(SceneletAdded(
                sceneletID: scenelets[n], storyID: story, parentID: parent, content: beat(n), isBranchPoint: n % 4 == 1,
                choicePrompt: n % 4 == 1 ? "Stay with the light, or go?" : nil
            ))))
            storyEvents.append(input(.shotPlanned(ShotPlanned(shotID: shots[n], sceneletID: scenelets[n], shotIndex: 1, storyboardPayload: camera("wide")))))
            storyEvents.append(input(.shotAssetsAttached(ShotAssetsAttached(
                shotID: shots[n], keyFrameImagePath: "keyframes/\(shots[n].lowercased).png", audioFilePath: "audio/\(shots[n].lowercased).mp3"
            ))))
            storyEvents.append(input(.frameCreated(FrameCreated(frameID: frames[n], shotID: shots[n], frameType: "key"))))
        }
        for k in 0..<Self.frameJobs {
            let job = rng.uuid()
            storyEvents.append(input(.generationJobCreated(GenerationJobCreated(jobID: job, userID: user, frameID: frame, prompt: "keyframe, take \(k + 1)"))))
            storyEvents.append(input(.generationJobStarted(GenerationJobStarted(jobID: job))))
            storyEvents.append(input(.imageGenerated(ImageGenerated(
                imageID: rng.uuid(), jobID: job, generationIndex: 1, gcpBucketPath: "g", gcpURL: "https://cdn/\(job.lowercased).jpg"
            ))))
            if k % 5 == 3 {
                storyEvents.append(input(.generationJobFailed(GenerationJobFailed(jobID: job, error: "worker lost"))))
            } else {
                storyEvents.append(input(.generationJobCompleted(GenerationJobCompleted(jobID: job))))
                storyEvents.append(input(
                    k == Self.frameJobs - 1
                        ? .frameApproved(FrameApproved(frameID: frame, jobID: job)) : .frameRejected(FrameRejected(frameID: frame, reason: "off model")),
                    EventMetadata(actor: "reviewer")
                ))
            }
        }
        return (first, [sessionEvents, projectEvents, storyEvents])
    }
}

// MARK: - Loading through the pipeline

/// Prepares batches and enqueues them in order, with at most `window` events in flight; remembers the first failure.
public final class Loader: Sendable {
    private struct State {
        var inFlight = 0
        var committed = 0
        var failure: String?
    }

    public let media: MediaStore
    public let window: Int
    private let state = Mutex(State())
    private let room = NSCondition()

    public init(_ media: MediaStore, window: Int) {
        self.media = media
        self.window = window
    }

    public var committed: Int { state.withLock { $0.committed } }
    public var failure: String? { state.withLock { $0.failure } }

    /// Enqueues prepared events (one batch), blocking while `window` events are in flight.
    public func enqueue(_ events: [NewEvent], _ expected: [String: ExpectedVersion]) {
        room.lock()
        while state.withLock({ $0.inFlight }) >= window { room.wait() }
        room.unlock()
        let count = events.count
        state.withLock { $0.inFlight += count }
        media.store.enqueue(events, expected: expected) { [self] outcome in
            state.withLock { state in
                switch outcome {
                case .success: state.committed += count
                case let .failure(error): if state.failure == nil { state.failure = String(describing: error) }
                }
                state.inFlight -= count
            }
            room.lock()
            room.broadcast()
            room.unlock()
        }
    }

    public func fail(_ message: String) { state.withLock { if $0.failure == nil { $0.failure = message } } }

    /// Blocks until nothing is in flight.
    public func drain() {
        room.lock()
        while state.withLock({ $0.inFlight }) > 0 { room.wait() }
        room.unlock()
    }
}

// MARK: - The whole data set

/// The measured entities' events spread evenly through filler rolls of the production, in a valid order.
public enum Dataset {
    public static let targetSeed: UInt64 = 0x7A76_E75
    public static let fillerSeed: UInt64 = 7

    /// Calls `body` with each of about `total` inputs in order: one measured input every `spacing` filler inputs,
    /// round-robin over the measured entities, the rest of them at the end.
    public static func forEach(total: Int, targets: Targets, _ body: (MediaStore.Input) throws -> Void) rethrows {
        let (first, rest) = targets.inputs()
        let measuredCount = first.count + rest.reduce(0) { $0 + $1.count }
        let fillerCount = max(0, total - measuredCount)
        var queue: [MediaStore.Input] = first
        var cursors = rest.map { $0.makeIterator() }
        var next = 0
        for _ in 0..<measuredCount - first.count {
            while true {
                if let input = cursors[next % cursors.count].next() {
                    queue.append(input)
                    next += 1
                    break
                }
                next += 1
            }
        }
        let spacing = max(1, fillerCount / measuredCount)
        var production = Production(seed: fillerSeed)
        var roll: [MediaStore.Input] = []
        var filler = 0
        var measured = 0
        while filler < fillerCount {
            roll.removeAll(keepingCapacity: true)
            production.roll(into: &roll)
            for input in roll {
                try body(input)
                filler += 1
                if filler % spacing == 0 && measured < queue.count {
                    try body(queue[measured])
                    measured += 1
                }
            }
        }
        for input in queue[measured...] { try body(input) }
    }

    /// The inputs of ``forEach(total:targets:_:)`` as an array.
    public static func make(total: Int, targets: Targets) -> [MediaStore.Input] {
        var out: [MediaStore.Input] = []
        out.reserveCapacity(total + 64)
        forEach(total: total, targets: targets) { out.append($0) }
        return out
    }
}
