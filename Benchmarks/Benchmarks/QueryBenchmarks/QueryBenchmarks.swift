// Query latency of the media store (SPEC §4) on a store of about 1,000,000 events, and the throughput of the
// `reel append` pipeline (parse an NDJSON line, prepare, enqueue), durable.
//
// Run from /work/main/Benchmarks:
//     swift package --allow-writing-to-package-directory benchmark --filter "Query.*|reel append.*"
//
// Also the hot paths of the media domain that `thresholds check` gates on their malloc counts (see the README):
// decoding stored payloads into `DomainEvent`s and rebuilding the media store's projections.
//
// Query benchmarks: one iteration is one query (scaling factor 1), so the wall-clock percentiles are the latency of
// one query, in microseconds. Every query runs in-process against the same store, through `MediaStore`'s public
// query methods (each opens its own read snapshot, as a request would). The typed result is built; it is not
// rendered to JSON.
//
// The store (the fixture) is built once: ~1,000,000 events of a realistic production (the mix of
// tools/make-production.py) with the measured entities (`Targets`) spread evenly through it. package-benchmark runs
// every benchmark in its own process, so the fixture is shared between the processes of one `benchmark` invocation:
// it lives in `<tmp>/reel-query-bench-<pid of the BenchmarkTool process>`, and the first query benchmark to run builds
// it. The last query benchmark in the tool's order (by name: "Query.story…") deletes it in its teardown; any other
// fixture whose BenchmarkTool process is gone is deleted at the next setup.

import Benchmark
import EventStore
import Foundation
import MediaPipeline
import Synchronization

// MARK: - Deterministic randomness

/// SplitMix64: a small, seeded generator, so the fixture and its measured ids are the same in every process.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A random version-4 UUID, as the seeds' services make entity ids.
    mutating func uuid() -> UUID {
        var bytes = (next(), next())
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw[6] = raw[6] & 0x0F | 0x40
            raw[8] = raw[8] & 0x3F | 0x80
            return UUID(uuid: raw.load(as: uuid_t.self))
        }
    }

    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }
}

// MARK: - A realistic production (the mix of tools/make-production.py)

/// Generates valid inputs in order, one "roll" at a time, with the mix of `tools/make-production.py`: users with a
/// session and two reference images (001); generation jobs that start, make 1–4 images, complete or fail, sometimes
/// with an image deleted (001); projects whose 5–30 scenes get 1–4 images each (003); stories of 3–12 branching
/// scenelets, each with a shot, a key frame, a job, its image and the frame's approval (002, 000).
struct Production {
    private var rng: SeededRandom
    private var users: [(user: UUID, session: UUID, refs: [UUID])] = []
    /// Entity ids: random version-4 (as the seeds' services make them), or time-ordered version-7.
    private let timeOrderedIDs: Bool

    init(seed: UInt64, timeOrderedIDs: Bool = false) {
        rng = SeededRandom(seed: seed)
        self.timeOrderedIDs = timeOrderedIDs
    }

    private mutating func uid() -> UUID { timeOrderedIDs ? UUID.timeOrdered() : rng.uuid() }

    /// Appends the inputs of the next roll to `out`.
    mutating func roll(into out: inout [MediaStore.Input]) {
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

func beat(_ n: Int) -> JSONObject {
    var content = JSONObject()
    content.set("beat", .number(JSONNumber(n)))
    content.set("text", .string("The keeper climbs the tower"))
    return content
}

func camera(_ kind: String) -> JSONObject {
    var board = JSONObject()
    board.set("camera", .string(kind))
    return board
}

// MARK: - The measured entities

/// The entities the query benchmarks read, with fixed ids (from their own seed), and the events that make them.
struct Targets: Sendable {
    /// A user with 20 sessions, each with 2 jobs of 4 images (8 images per session), and 4 reference images.
    let user: UUID
    let sessions: [UUID]
    let referenceImages: [UUID]
    /// A job of the user (in its first session) with the 4 reference images and 4 images.
    let job: UUID
    /// A project with 100 scenes × 4 images.
    let project: UUID
    /// A story of 200 scenelets: scenelet n's parent is a uniformly chosen earlier scenelet. Each scenelet has one
    /// shot (with assets attached) and each shot one key frame.
    let story: UUID
    let scenelets: [UUID]
    let shots: [UUID]
    let frames: [UUID]
    /// The key frame of the story's first shot, with 20 jobs: each created for it, started, one image, then
    /// completed (every fifth fails instead), each completed one reviewed (rejected, the last one approved).
    let frame: UUID

    static let sessionCount = 20
    static let jobsPerSession = 2
    static let imagesPerJob = 4
    static let scenes = 100
    static let imagesPerScene = 4
    static let sceneletCount = 200
    static let frameJobs = 20

    init(seed: UInt64) {
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
    func inputs() -> (first: [MediaStore.Input], rest: [[MediaStore.Input]]) {
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
final class Loader: Sendable {
    private struct State {
        var inFlight = 0
        var committed = 0
        var failure: String?
    }

    let media: MediaStore
    let window: Int
    private let state = Mutex(State())
    private let room = NSCondition()

    init(_ media: MediaStore, window: Int) {
        self.media = media
        self.window = window
    }

    var committed: Int { state.withLock { $0.committed } }
    var failure: String? { state.withLock { $0.failure } }

    /// Enqueues prepared events (one batch), blocking while `window` events are in flight.
    func enqueue(_ events: [NewEvent], _ expected: [String: ExpectedVersion]) {
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

    func fail(_ message: String) { state.withLock { if $0.failure == nil { $0.failure = message } } }

    /// Blocks until nothing is in flight.
    func drain() {
        room.lock()
        while state.withLock({ $0.inFlight }) > 0 { room.wait() }
        room.unlock()
    }
}

// MARK: - The shared query fixture

struct FixtureError: Error, CustomStringConvertible {
    let description: String
}

/// The store of ~1M events the query benchmarks read, built once per `benchmark` invocation (see the file header).
final class QueryFixture: @unchecked Sendable {
    static let shared = QueryFixture()

    /// Events in the store: the measured entities plus filler up to this count.
    static let totalEvents = 1_000_000
    static let fillerSeed: UInt64 = 7
    static let prefix = "reel-query-bench-"

    let targets = Targets(seed: 0x7A76_E75)
    private let lock = NSLock()
    private var opened: MediaStore?

    /// One fixture per BenchmarkTool process: every benchmark runs in a child process of it.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)\(getppid())", isDirectory: true)
    private var marker: URL { directory.appendingPathComponent("complete.txt") }

    var media: MediaStore { lock.withLock { opened! } }

    /// Opens the fixture, building it first unless a complete one is there; then checks the measured entities.
    func prepare() throws {
        try lock.withLock {
            guard opened == nil else { return }
            removeStaleFixtures()
            let fileManager = FileManager.default
            if fileManager.fileExists(atPath: marker.path) {
                var options = StoreOptions()
                options.readOnly = true
                opened = try MediaStore.open(at: directory.path, options: options)
                let note = (try? String(contentsOf: marker, encoding: .utf8)) ?? ""
                FileHandle.standardError.write(Data("query fixture: reusing \(directory.path) (\(note.trimmingCharacters(in: .newlines)))\n".utf8))
            } else {
                try? fileManager.removeItem(at: directory)
                try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
                opened = try build()
            }
            try check(opened!)
        }
    }

    /// Closes the store and, with `remove`, deletes the fixture.
    func close(remove: Bool) throws {
        let media = lock.withLock { () -> MediaStore? in
            defer { opened = nil }
            return opened
        }
        if let media, !media.store.options.readOnly { try media.close() }
        if remove { try? FileManager.default.removeItem(at: directory) }
    }

    /// Deletes the fixtures of BenchmarkTool processes that no longer run.
    private func removeStaleFixtures() {
        let temporary = FileManager.default.temporaryDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temporary.path) else { return }
        for name in names where name.hasPrefix(Self.prefix) {
            guard let pid = pid_t(name.dropFirst(Self.prefix.count)), pid != getppid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
            }
        }
    }

    private func build() throws -> MediaStore {
        let clock = ContinuousClock()
        let started = clock.now
        var options = StoreOptions()
        options.durability = .deferred
        options.initialMapSize = 4 << 30
        let media = try MediaStore.open(at: directory.path, options: options)
        let loader = Loader(media, window: 65_536)
        var resolver = StreamResolver(capacity: 2_000_000)

        let (first, rest) = targets.inputs()
        let measuredCount = first.count + rest.reduce(0) { $0 + $1.count }
        let fillerCount = Self.totalEvents - measuredCount
        // The measured entities' events go in evenly, one every `spacing` filler events, round-robin over the entities.
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

        var production = Production(seed: Self.fillerSeed)
        var batch: [MediaStore.Input] = []
        batch.reserveCapacity(1_100)
        var roll: [MediaStore.Input] = []
        var filler = 0
        var measured = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            let (events, expected) = try media.prepare(batch, resolver: &resolver)
            loader.enqueue(events, expected)
            batch.removeAll(keepingCapacity: true)
        }
        while filler < fillerCount {
            roll.removeAll(keepingCapacity: true)
            production.roll(into: &roll)
            for input in roll {
                batch.append(input)
                filler += 1
                if filler % spacing == 0 && measured < queue.count {
                    batch.append(queue[measured])
                    measured += 1
                }
            }
            if batch.count >= 1_000 { try flush() }
            if let failure = loader.failure { throw FixtureError(description: "building the query fixture: \(failure)") }
        }
        batch.append(contentsOf: queue[measured...])
        try flush()
        loader.drain()
        if let failure = loader.failure { throw FixtureError(description: "building the query fixture: \(failure)") }
        try media.store.sync()
        let elapsed = started.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let head = try media.store.head()
        let bytes = (try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("data.mdb").path)[.size] as? Int) ?? 0
        let note = String(
            format: "%d events (%d measured, %d filler) in %.1f s, %.0f events/s; data.mdb %.0f MiB", Int(head), measuredCount, filler,
            seconds, Double(head) / seconds, Double(bytes) / 1_048_576
        )
        try Data((note + "\n").utf8).write(to: marker)
        FileHandle.standardError.write(Data("query fixture: built \(directory.path): \(note)\n".utf8))
        return media
    }

    /// The measured entities have the shapes the benchmarks claim.
    private func check(_ media: MediaStore) throws {
        func expect(_ condition: Bool, _ what: String) throws {
            if !condition { throw FixtureError(description: "query fixture: \(what)") }
        }
        let scenes = try media.imagesByScene(project: targets.project)
        try expect(scenes.scenes.count == Targets.scenes && scenes.scenes.allSatisfy { $0.imageURLs.count == Targets.imagesPerScene }, "images-by-scene shape")
        let frame = try media.jobsByFrame(frame: targets.frame)
        try expect(frame.jobs.count == Targets.frameJobs && frame.status == .approved, "jobs-by-frame shape")
        let story = try media.story(targets.story)
        try expect(story.scenelets.count == Targets.sceneletCount && story.shots.count == Targets.sceneletCount, "story shape")
        let sessions = try media.sessions(user: targets.user)
        try expect(sessions.sessions.count == Targets.sessionCount, "sessions shape")
        let job = try media.job(targets.job)
        try expect(job.referenceImageURLs.count == 4 && job.images.count == Targets.imagesPerJob, "job shape")
    }
}

// MARK: - The append pipeline

/// NDJSON lines rendered in memory: one buffer and the ranges of its lines.
struct RenderedLines {
    var bytes: [UInt8] = []
    var ranges: [Range<Int>] = []

    mutating func append(_ input: MediaStore.Input) {
        var line = JSONObject()
        line.set("type", .string(input.event.type))
        line.set("data", .object(input.event.data))
        let metadata = input.metadata
        if metadata != .none {
            var object = JSONObject()
            if let actor = metadata.actor { object.set("actor", .string(actor)) }
            if let correlation = metadata.correlationID { object.set("correlation_id", .string(correlation)) }
            if let causation = metadata.causationID { object.set("causation_id", .string(causation)) }
            line.set("metadata", .object(object))
        }
        var writer = JSONWriter(capacity: 512)
        writer.write(.object(line), sortKeys: false)
        let start = bytes.count
        bytes.append(contentsOf: writer.bytes)
        ranges.append(start..<bytes.count)
        bytes.append(0x0A)
    }
}

/// A fresh store for the append pipeline (default options: every commit synced, unless `durability` says otherwise),
/// and the production that feeds it.
final class AppendFixture: @unchecked Sendable {
    private let durability: Durability
    private let timeOrderedIDs: Bool
    private let lock = NSLock()
    private var directory: URL?
    private var opened: MediaStore?
    private var production: Production

    init(durability: Durability = .synced, timeOrderedIDs: Bool = false) {
        self.durability = durability
        self.timeOrderedIDs = timeOrderedIDs
        production = Production(seed: 11, timeOrderedIDs: timeOrderedIDs)
    }

    var media: MediaStore { lock.withLock { opened! } }

    func open() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("reel-bench-append-pipeline-\(UUID().uuidString)", isDirectory: true)
        var options = StoreOptions()
        options.durability = durability
        let media = try MediaStore.open(at: directory.path, options: options)
        lock.withLock {
            self.directory = directory
            self.opened = media
            self.production = Production(seed: 11, timeOrderedIDs: timeOrderedIDs)
        }
    }

    func close() throws {
        let (media, directory) = lock.withLock { () -> (MediaStore?, URL?) in
            defer {
                opened = nil
                self.directory = nil
            }
            return (opened, self.directory)
        }
        try media?.close()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// The next whole rolls of the production, at least `count` lines, rendered as NDJSON.
    func render(atLeast count: Int) -> RenderedLines {
        lock.withLock {
            var lines = RenderedLines()
            lines.bytes.reserveCapacity(count * 320)
            lines.ranges.reserveCapacity(count + 64)
            var roll: [MediaStore.Input] = []
            while lines.ranges.count < count {
                roll.removeAll(keepingCapacity: true)
                production.roll(into: &roll)
                for input in roll { lines.append(input) }
            }
            return lines
        }
    }
}

/// The headline metric of the append pipeline: events per second over one iteration.
let eventsPerSecond = BenchmarkMetric.custom("Events/s", polarity: .prefersLarger, useScalingFactor: false)

/// Bytes this process passed to write calls during one iteration, per event: LMDB writes every page a commit dirtied
/// (`pwrite`/`writev` without `MDB_WRITEMAP`), so this is the pages each event costs. Linux only: `wchar` of
/// `/proc/self/io`. (`write_bytes` there is no use on this kernel: it counts whole large folios of the page cache as
/// dirtied, about 7× the bytes written, while the disk's own counters match `wchar`.)
let bytesWrittenPerEvent = BenchmarkMetric.custom("Bytes written/event", polarity: .prefersSmaller, useScalingFactor: false)

/// `wchar` of `/proc/self/io` (bytes passed to write calls so far), or nil where there is none.
func processWriteBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("wchar:") {
        return Int(line.dropFirst("wchar:".count).trimmingCharacters(in: .whitespaces))
    }
    return nil
}

/// What one iteration of an append-pipeline benchmark does with each parsed line.
enum PipelineStage {
    /// Parse, prepare and enqueue every line as its own batch, then wait for every commit (`reel append`).
    case append
    /// Parse and prepare only: the caller's share of the work, nothing is written.
    case parseAndPrepare
}

/// One benchmark of the append pipeline: each iteration renders the next ~100k lines of the production (not timed),
/// then runs them through `stage`.
func appendPipelineBenchmark(_ name: String, _ fixture: AppendFixture, stage: PipelineStage, iterations: Int, window: Int = 16_384) {
    let linesPerIteration = 100_000
    Benchmark(
        name,
        configuration: .init(
            metrics: [eventsPerSecond, bytesWrittenPerEvent, .wallClock, .peakMemoryResident], timeUnits: .milliseconds,
            warmupIterations: 1, maxDuration: .seconds(60), maxIterations: iterations,
            setup: { try fixture.open() }, teardown: { try fixture.close() }
        )
    ) { benchmark in
        let lines = fixture.render(atLeast: linesPerIteration)
        let media = fixture.media
        let loader = Loader(media, window: window)
        var resolver = StreamResolver()
        let clock = ContinuousClock()
        let writtenBefore = processWriteBytes()
        benchmark.startMeasurement()
        let start = clock.now
        lines.bytes.withUnsafeBytes { buffer in
            for range in lines.ranges {
                do {
                    let input = try InputLine.parse(UnsafeRawBufferPointer(rebasing: buffer[range]))
                    let (events, expected) = try media.prepare([input], resolver: &resolver)
                    switch stage {
                    case .append: loader.enqueue(events, expected)
                    case .parseAndPrepare: blackHole(events)
                    }
                } catch {
                    loader.fail("line \(range): \(error)")
                }
            }
        }
        loader.drain()
        do {
            // With deferred durability, `reel append --no-sync` syncs once at the end; so does each iteration here.
            if stage == .append, media.store.options.durability == .deferred { try media.store.sync() }
        } catch {
            loader.fail("sync: \(error)")
        }
        let elapsed = start.duration(to: clock.now)
        benchmark.stopMeasurement()
        if let failure = loader.failure {
            benchmark.error("append failed: \(failure)")
            return
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        benchmark.measurement(eventsPerSecond, Int((Double(lines.ranges.count) / seconds).rounded()))
        if let before = writtenBefore, let after = processWriteBytes() {
            benchmark.measurement(bytesWrittenPerEvent, (after - before) / lines.ranges.count)
        }
    }
}

// MARK: - Small media stores (decode, rebuild)

/// A fresh media store holding the first `eventCount` events of the production (deferred durability, synced once),
/// built in a benchmark's setup.
final class SmallMediaFixture: @unchecked Sendable {
    private let label: String
    private let eventCount: Int
    private let lock = NSLock()
    private var directory: URL?
    private var opened: MediaStore?
    private var stored: [RecordedEvent] = []

    init(_ label: String, events: Int) {
        self.label = label
        eventCount = events
    }

    var media: MediaStore { lock.withLock { opened! } }
    /// Every event of the store, read back after the build.
    var recorded: [RecordedEvent] { lock.withLock { stored } }

    func open() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("reel-bench-\(label)-\(UUID().uuidString)", isDirectory: true)
        var options = StoreOptions()
        options.durability = .deferred
        let media = try MediaStore.open(at: directory.path, options: options)
        // A prefix of the production is valid on its own: every event only needs events before it.
        var production = Production(seed: 13)
        var inputs: [MediaStore.Input] = []
        inputs.reserveCapacity(eventCount + 64)
        while inputs.count < eventCount { production.roll(into: &inputs) }
        inputs.removeLast(inputs.count - eventCount)
        let loader = Loader(media, window: 65_536)
        var resolver = StreamResolver()
        var start = 0
        while start < inputs.count {
            let end = min(start + 1_000, inputs.count)
            let (events, expected) = try media.prepare(Array(inputs[start..<end]), resolver: &resolver)
            loader.enqueue(events, expected)
            start = end
        }
        loader.drain()
        if let failure = loader.failure { throw FixtureError(description: "building \(label): \(failure)") }
        try media.store.sync()
        let recorded = try media.store.events(from: 1, limit: eventCount)
        guard recorded.count == eventCount else {
            throw FixtureError(description: "building \(label): \(recorded.count) events stored, not \(eventCount)")
        }
        lock.withLock {
            self.directory = directory
            opened = media
            stored = recorded
        }
    }

    func close() throws {
        let (media, directory) = lock.withLock { () -> (MediaStore?, URL?) in
            defer {
                opened = nil
                self.directory = nil
                stored = []
            }
            return (opened, self.directory)
        }
        try media?.close()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }
}

// MARK: - Thresholds

/// How far the p90 of the malloc count per iteration may move from the committed threshold (Thresholds/<toolchain>/)
/// before `thresholds check` reports it, in percent, either way. Only this metric is gated: it is the same in every
/// run of these single-threaded benchmarks.
var exactMallocs: [BenchmarkMetric: BenchmarkThresholds] { [.mallocCountTotal: .init(relative: [.p90: 5])] }

// MARK: - Benchmarks

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.units = [eventsPerSecond: .count]
    let fixture = QueryFixture.shared

    /// One query per iteration. The names have no spaces: package-benchmark writes threshold files with spaces
    /// turned into `_` but looks them up by the name as it is.
    func query(_ name: String, removesFixture: Bool = false, _ body: @escaping @Sendable (MediaStore, Targets) throws -> Void) {
        Benchmark(
            name,
            configuration: .init(
                metrics: [.wallClock, .mallocCountTotal, .throughput], timeUnits: .microseconds, warmupIterations: 200,
                scalingFactor: .one, maxDuration: .seconds(8), maxIterations: 20_000, thresholds: exactMallocs,
                setup: { try fixture.prepare() }, teardown: { try fixture.close(remove: removesFixture) }
            )
        ) { benchmark in
            let media = fixture.media
            let targets = fixture.targets
            benchmark.startMeasurement()
            do {
                try body(media, targets)
            } catch {
                benchmark.error("query failed: \(String(reflecting: error))")
            }
            benchmark.stopMeasurement()
        }
    }

    query("Query.images-by-scene.100-scenes-x-4-images") { media, targets in
        blackHole(try media.imagesByScene(project: targets.project))
    }
    query("Query.jobs-by-frame.20-jobs") { media, targets in
        blackHole(try media.jobsByFrame(frame: targets.frame))
    }
    query("Query.job.4-reference-images-4-images") { media, targets in
        blackHole(try media.job(targets.job))
    }
    query("Query.sessions.20-sessions") { media, targets in
        blackHole(try media.sessions(user: targets.user))
    }
    // package-benchmark runs a target's benchmarks in name order, so this one runs last of the queries: it deletes
    // the fixture when it is done.
    query("Query.story.200-scenelets", removesFixture: true) { media, targets in
        blackHole(try media.story(targets.story))
    }

    // Decode: `DomainEvent(recorded:)` of 1,000 stored events of the production (their JSON payloads parsed and typed),
    // read from the store once in the setup. One iteration decodes all 1,000.
    do {
        let small = SmallMediaFixture("decode-domain", events: 1_000)
        Benchmark(
            "Decode.domain-events.1000-events",
            configuration: .init(
                metrics: [.mallocCountTotal, .wallClock, .throughput], timeUnits: .microseconds, warmupIterations: 20,
                scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 2_000, thresholds: exactMallocs,
                setup: { try small.open() }, teardown: { try small.close() }
            )
        ) { benchmark in
            let recorded = small.recorded
            benchmark.startMeasurement()
            do {
                for event in recorded {
                    blackHole(try DomainEvent(recorded: event))
                }
            } catch {
                benchmark.error("decode failed: \(String(reflecting: error))")
            }
            benchmark.stopMeasurement()
        }
    }

    // Rebuild: `store.rebuild()` of a media store of 20,000 events of the production: both of its projections (the
    // media domain and the event-type index), each folded into a scratch environment, copied into its idle generation
    // and switched. One iteration is one rebuild.
    do {
        let small = SmallMediaFixture("rebuild-media", events: 20_000)
        Benchmark(
            "Rebuild.media.20k-events",
            configuration: .init(
                metrics: [.mallocCountTotal, .wallClock, .throughput], timeUnits: .milliseconds, warmupIterations: 1,
                maxDuration: .seconds(10), maxIterations: 10, thresholds: exactMallocs,
                setup: { try small.open() }, teardown: { try small.close() }
            )
        ) { benchmark in
            let store = small.media.store
            benchmark.startMeasurement()
            do {
                blackHole(try store.rebuild())
            } catch {
                benchmark.error("rebuild failed: \(String(reflecting: error))")
            }
            benchmark.stopMeasurement()
        }
    }

    // What `reel append` does per line (Sources/reel/Append.swift): parse the NDJSON line, prepare it (stream
    // resolution, canonical JSON), wait for room in a 16,384-line window, enqueue it as its own batch; the group-commit
    // writer checks the rules, writes and syncs (default durability: every commit synced). The lines are rendered
    // before the timed part. 10 iterations of ~100k lines after one warm-up: the store grows to ~1.1M events.
    appendPipelineBenchmark("reel append pipeline, 100k events", AppendFixture(), stage: .append, iterations: 10)

    // Diagnostics: where the pipeline's time goes.

    // The same with deferred durability and one sync per iteration (`reel append --no-sync`).
    appendPipelineBenchmark(
        "reel append pipeline, 100k events, deferred", AppendFixture(durability: .deferred), stage: .append, iterations: 10
    )
    // The same with room for 4 groups of the writer (its largest group is 16,384 events) in flight instead of 1, so
    // that parsing overlaps the commit of the group before.
    appendPipelineBenchmark(
        "reel append pipeline, 100k events, window 65536", AppendFixture(), stage: .append, iterations: 10, window: 65_536
    )
    // The same with time-ordered (version 7) entity ids instead of the random ones the seeds' services make: the
    // projection's tables, keyed by entity id, then grow at their ends instead of taking writes all over.
    appendPipelineBenchmark(
        "reel append pipeline, 100k events, time-ordered entity ids", AppendFixture(timeOrderedIDs: true), stage: .append, iterations: 10
    )
    // The caller's side alone: parse and prepare, nothing enqueued (the store stays empty, so every stream lookup in
    // the store misses).
    appendPipelineBenchmark("reel append pipeline, 100k events, parse and prepare only", AppendFixture(), stage: .parseAndPrepare, iterations: 5)
}
