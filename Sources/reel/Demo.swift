import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel demo` — builds a realistic production through the same API services use, prints what it built and a few
/// projections, and leaves the store for `reel query`.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Build a sample production in the store and show what it built.")

    @OptionGroup var location: StoreLocation
    @Option(parsing: .unconditional, help: "Concurrent writers saving images into the project.") var writers = 16
    @Option(parsing: .unconditional, help: "Images each writer saves (in batches of 25).") var images = 2_000

    func validate() throws {
        if writers <= 0 { throw ValidationError("--writers \(writers) must be positive") }
        if images <= 0 { throw ValidationError("--images \(images) must be positive") }
    }

    func run() async throws {
        let media = try openStore(location, readOnly: false)
        // Run again on the same store, the demo adds a second production beside the first: its users need emails of
        // their own (an email is registered once).
        let before = try media.store.head()
        var production = Production(media: media, emailTag: before == 0 ? nil : String(UUID().lowercased.prefix(8)))
        print("Reel demo: building a production in \(location.path)\(before == 0 ? "" : ", beside the \(before) events already there")\n")

        let clock = ContinuousClock()
        let started = clock.now
        try await production.cast()
        try await production.story()
        try await production.frameReviews()
        try await production.sessions()
        let project = try await production.createProject()
        let sequential = Int(try media.store.head() - before)
        let sequentialTime = started.duration(to: clock.now)
        let projectStart = clock.now
        try await production.fill(project: project, writers: writers, imagesEach: images)
        let projectTime = projectStart.duration(to: clock.now)
        let saved = writers * images

        print("Built \(sequential + saved) events:")
        print("  \(sequential) events of users, sessions, a story, shots, frames, jobs and a project, one durable append at a time, \(rate(sequential, sequentialTime))")
        print("  \(saved) scene images saved by \(writers) concurrent writers into the project, \(rate(saved, projectTime)), every one durable\n")
        try production.show(project: project, saved: saved)
        let problems = try media.store.verify() + media.store.verifyProjections()
        print("\nIntegrity (hash chain, gapless positions and versions, indexes, every projection against a fresh fold): \(problems.isEmpty ? "OK" : "\(problems.count) problems")")
        for problem in problems.prefix(20) { print("  \(problem)") }
        // Lines to paste into the shell the demo ran in: this binary as it was typed, the store as it was given.
        let reel = shellQuoted(Self.invocation()) + " --store " + shellQuoted(location.path)
        print("""

            Try:
              \(reel) query story --story \(production.storyID.lowercased)
              \(reel) query jobs-by-frame --frame \(production.approvedFrame.lowercased)
              \(reel) query sessions --user \(production.artist.lowercased)
              \(reel) query images-by-scene --project \(project.lowercased)
              \(reel) read --type frame.approved
              \(reel) audit history --frame \(production.approvedFrame.lowercased)
            """)
        try media.close()
        if !problems.isEmpty { throw Exit.rejected }
    }

    /// How to run this binary from the directory it was started in: its path as typed when it had one
    /// (`.build/release/reel`), its name when the shell found it on `PATH`, else the running executable's own path.
    static func invocation() -> String {
        let typed = CommandLine.arguments.first ?? ""
        if typed.contains("/") { return typed }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        if !typed.isEmpty, path.split(separator: ":").contains(where: { access("\($0)/\(typed)", X_OK) == 0 }) { return typed }
        return Bundle.main.executablePath ?? "reel"
    }

    private func rate(_ events: Int, _ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return "\(Int((Double(events) / max(seconds, 1e-9)).rounded())) events/s"
    }
}

/// The sample production: who is in it and what they made.
struct Production {
    let media: MediaStore
    let director = UUID(), artist = UUID(), reviewer = UUID()
    let storyID = UUID()
    var scenelets: [(id: UUID, title: String)] = []
    var frames: [UUID] = []
    var approvedFrame = UUID()
    var sessionIDs: [UUID] = []
    /// Added to the users' emails (`mara+tag@…`) when the store holds an earlier production.
    let emailTag: String?

    /// The email of the cast member `name`.
    func email(_ name: String) -> String { "\(name)\(emailTag.map { "+\($0)" } ?? "")@lighthouse.film" }

    init(media: MediaStore, emailTag: String? = nil) {
        self.media = media
        self.emailTag = emailTag
    }

    private func append(_ event: DomainEvent, by actor: String, correlation: String) async throws {
        try await media.append(event, metadata: EventMetadata(actor: actor, correlationID: correlation))
    }

    mutating func cast() async throws {
        for (id, name) in [(director, "mara"), (artist, "ivo"), (reviewer, "june")] {
            let email = self.email(name)
            try await append(.userRegistered(UserRegistered(userID: id, email: email)), by: "admin", correlation: "onboarding")
        }
    }

    /// A branching story: the keeper's choice at the storm splits the tree.
    mutating func story() async throws {
        try await append(.storyCreated(StoryCreated(storyID: storyID, title: "The Lighthouse Keeper", userID: director)), by: "mara", correlation: "story")
        let outline: [(title: String, parent: Int?, branch: Bool)] = [
            ("The keeper climbs the tower", nil, false), ("A storm rolls in", 0, true), ("She lights the lamp", 1, false),
            ("A ship finds the harbour", 2, false), ("She leaves for the village", 1, false), ("The lamp goes dark", 4, false),
            ("Dawn over the rocks", 0, false),
        ]
        for (index, scene) in outline.enumerated() {
            let id = UUID()
            scenelets.append((id, scene.title))
            var content = JSONObject()
            content.set("title", .string(scene.title))
            content.set("beat", .number(JSONNumber(index + 1)))
            try await append(.sceneletAdded(SceneletAdded(
                sceneletID: id, storyID: storyID, parentID: scene.parent.map { scenelets[$0].id }, content: content,
                isBranchPoint: scene.branch, choicePrompt: scene.branch ? "Stay with the light, or go?" : nil
            )), by: "mara", correlation: "story")
        }
        var previous: UUID?
        for scenelet in scenelets {
            for index in 1...2 {
                let shot = UUID()
                var board = JSONObject()
                board.set("camera", .string(index == 1 ? "wide" : "close-up"))
                try await append(.shotPlanned(ShotPlanned(shotID: shot, sceneletID: scenelet.id, shotIndex: index, storyboardPayload: board)), by: "mara", correlation: "shots")
                try await append(.shotAssetsAttached(ShotAssetsAttached(shotID: shot, keyFrameImagePath: "keyframes/\(shot.lowercased).png", audioFilePath: "audio/\(shot.lowercased).mp3")), by: "ivo", correlation: "shots")
                let frame = UUID()
                try await append(.frameCreated(FrameCreated(frameID: frame, shotID: shot, frameType: "key", previousFrameID: previous)), by: "ivo", correlation: "frames")
                frames.append(frame)
                previous = frame
            }
        }
        try await append(.sceneletEndFrameSet(SceneletEndFrameSet(sceneletID: scenelets[3].id, frameID: frames[7])), by: "mara", correlation: "story")
    }

    /// Jobs for the first frames: a failure, regenerations, an approval and a rejection.
    mutating func frameReviews() async throws {
        approvedFrame = frames[0]
        for (frameIndex, frame) in frames.prefix(4).enumerated() {
            for attempt in 1...3 {
                let job = UUID()
                let correlation = "frame-\(frameIndex)-take-\(attempt)"
                try await append(.generationJobCreated(GenerationJobCreated(
                    jobID: job, userID: artist, frameID: frame, prompt: "lighthouse keeper, take \(attempt)", shotType: "wide",
                    cameraAngle: "low", style: "painterly", lighting: "storm light", aspectRatio: "16:9", numberOfShots: 2
                )), by: "scheduler", correlation: correlation)
                try await append(.generationJobStarted(GenerationJobStarted(jobID: job)), by: "worker-\(attempt)", correlation: correlation)
                if attempt == 1 {
                    try await append(.generationJobFailed(GenerationJobFailed(jobID: job, error: "GPU worker lost")), by: "worker-1", correlation: correlation)
                    continue
                }
                for index in 1...2 {
                    let image = UUID()
                    try await append(.imageGenerated(ImageGenerated(
                        imageID: image, jobID: job, generationIndex: index, gcpBucketPath: "generated/\(job.lowercased)/\(index).jpg",
                        gcpURL: "https://storage.example/generated/\(job.lowercased)/\(index).jpg"
                    )), by: "worker-\(attempt)", correlation: correlation)
                }
                try await append(.generationJobCompleted(GenerationJobCompleted(jobID: job)), by: "worker-\(attempt)", correlation: correlation)
                if attempt == 3, frameIndex != 1 {
                    try await append(.frameApproved(FrameApproved(frameID: frame, jobID: job)), by: "june", correlation: "review")
                }
            }
            if frameIndex == 1 {
                try await append(.frameRejected(FrameRejected(frameID: frame, reason: "the lamp is on the wrong side")), by: "june", correlation: "review")
            }
        }
    }

    /// Two sessions of the artist with reference images, images, and one deletion.
    mutating func sessions() async throws {
        for title in ["Storm palette", "Keeper portraits"] {
            let session = UUID()
            sessionIDs.append(session)
            try await append(.sessionCreated(SessionCreated(sessionID: session, userID: artist, title: title)), by: "ivo", correlation: title)
            var references: [UUID] = []
            for n in 1...2 {
                let reference = UUID()
                references.append(reference)
                try await append(.referenceImageUploaded(ReferenceImageUploaded(
                    referenceImageID: reference, userID: artist, sessionID: session, gcpBucketPath: "uploads/\(artist.lowercased)/ref-\(n).jpg",
                    gcpURL: "https://storage.example/uploads/\(reference.lowercased).jpg", filename: "ref-\(n).jpg"
                )), by: "ivo", correlation: title)
            }
            let job = UUID()
            try await append(.generationJobCreated(GenerationJobCreated(
                jobID: job, userID: artist, sessionID: session, prompt: "\(title.lowercased()), oil on canvas", style: "oil",
                numberOfShots: 4, referenceImageIDs: references
            )), by: "ivo", correlation: title)
            try await append(.generationJobStarted(GenerationJobStarted(jobID: job)), by: "worker-7", correlation: title)
            var first: UUID?
            for index in 1...4 {
                let image = UUID()
                first = first ?? image
                try await append(.imageGenerated(ImageGenerated(
                    imageID: image, jobID: job, generationIndex: index, gcpBucketPath: "generated/\(job.lowercased)/\(index).jpg",
                    gcpURL: "https://storage.example/generated/\(job.lowercased)/\(index).jpg", thumbnailURL: "https://storage.example/thumbs/\(image.lowercased).jpg"
                )), by: "worker-7", correlation: title)
            }
            try await append(.generationJobCompleted(GenerationJobCompleted(jobID: job)), by: "worker-7", correlation: title)
            if title == "Storm palette", let first {
                try await append(.imageDeleted(ImageDeleted(imageID: first)), by: "ivo", correlation: title)
            }
        }
    }

    /// The project the concurrent writers fill.
    func createProject() async throws -> UUID {
        let project = UUID()
        try await media.append(.projectCreated(ProjectCreated(projectID: project, userID: director, title: "Lighthouse trailer")))
        return project
    }

    /// Images saved into the project by many concurrent writers (the lost-image race, which loses nothing here): each
    /// writer saves `imagesEach` of its own, spread over 40 scenes.
    func fill(project: UUID, writers: Int, imagesEach: Int) async throws {
        let media = media
        // Each writer's images take image indexes of their own in each scene, so that none replaces another.
        let slots = (imagesEach + 39) / 40
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for start in stride(from: 0, to: imagesEach, by: 25) {
                        let batch = (start..<min(start + 25, imagesEach)).map { n in
                            MediaStore.Input(.sceneImageSaved(SceneImageSaved(
                                projectID: project, sceneIndex: n % 40, imageIndex: writer * slots + n / 40,
                                imageURL: "https://storage.example/projects/\(project.lowercased)/\(n % 40)/\(writer)-\(n).png"
                            )), metadata: EventMetadata(actor: "renderer-\(writer)", correlationID: "trailer"))
                        }
                        try await media.append(batch)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Prints what was built; `saved` is how many scene images the writers saved.
    func show(project: UUID, saved: Int) throws {
        let story = try media.story(storyID)
        print("Story \"\(story.title)\" — scenelets depth-first, with their derived display ids:")
        var depth: [UUID: Int] = [:]
        for scenelet in story.scenelets {
            let level = scenelet.parentID.flatMap { depth[$0] }.map { $0 + 1 } ?? 0
            depth[scenelet.sceneletID] = level
            let title = scenelets.first { $0.id == scenelet.sceneletID }?.title ?? "?"
            let shots = story.shots.filter { $0.sceneletID == scenelet.sceneletID }.count
            let branch = scenelet.isBranchPoint ? "  ⑂ \(scenelet.choicePrompt ?? "")" : ""
            print("  \(String(repeating: "  ", count: level))\(scenelet.displayID.padding(toLength: 11, withPad: " ", startingAt: 0)) \(title) (\(shots) shots)\(branch)")
        }
        for (label, frame) in [("approved", approvedFrame), ("rejected", frames[1])] {
            let history = try media.jobsByFrame(frame: frame)
            print("\nFrame \(frame.lowercased.prefix(8))… (\(label)): status \(history.status.rawValue), current job \(history.currentJobID.map { String($0.lowercased.prefix(8)) + "…" } ?? "none"), latest completed \(history.latestCompletedJobID.map { String($0.lowercased.prefix(8)) + "…" } ?? "none")")
            for job in history.jobs {
                print("  job \(job.jobID.lowercased.prefix(8))…  \(job.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) created \(Timestamp.iso8601(job.createdAt))")
            }
        }
        let sessions = try media.sessions(user: artist)
        print("\nSessions of \(email("ivo")), most recently updated first:")
        for session in sessions.sessions {
            print("  \(session.title.padding(toLength: 18, withPad: " ", startingAt: 0)) \(session.generatedCount) images, thumbnail \(session.thumbnailURL.map { "…" + $0.suffix(24) } ?? "none")")
        }
        let scenes = try media.imagesByScene(project: project)
        let total = scenes.scenes.reduce(0) { $0 + $1.imageURLs.count }
        let lost = saved - total
        print("\nProject \"Lighthouse trailer\": \(total) images in \(scenes.scenes.count) scenes, \(lost == 0 ? "none" : "\(lost)") lost; the first scenes:")
        for scene in scenes.scenes.prefix(3) {
            print("  scene \(scene.sceneIndex): \(scene.imageURLs.count) images, first …\(scene.imageURLs.first.map { String($0.suffix(28)) } ?? "")")
        }
    }
}

/// `text` as one shell word: as it is when it holds only characters no shell treats specially, else in single quotes.
func shellQuoted(_ text: String) -> String {
    let plain = text.unicodeScalars.allSatisfy { scalar in
        scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "_-./=:,+@%".unicodeScalars.contains(scalar))
    }
    if plain, !text.isEmpty { return text }
    return "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
}
