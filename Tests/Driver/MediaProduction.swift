import EventStore
import Foundation
import MediaPipeline

/// An endless, self-contained media production: every event is valid when appended in order after the ones before it,
/// and refers only to entities this production created, so several productions can be appended at once from many
/// tasks and processes without any of their events being rejected.
///
/// The mix follows the seeds: users with sessions and reference images; jobs that start, produce images and complete
/// or fail, an image deleted now and then, sessions renamed; projects whose scenes receive images (and are cleared);
/// stories with a branching scenelet tree, shots, frames, jobs per frame, approvals and end frames.
struct MediaProduction {
    private var pending: [DomainEvent] = []
    private var users: [(user: UUID, session: UUID, reference: UUID)] = []
    private var rng: Xorshift

    init(seed: UInt64) { rng = Xorshift(seed: seed) }

    /// The next event.
    mutating func next() -> DomainEvent {
        if pending.isEmpty { plan() }
        return pending.removeFirst()
    }

    /// The next `count` events.
    mutating func next(_ count: Int) -> [DomainEvent] { (0..<count).map { _ in next() } }

    private mutating func roll(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(rng.next() % UInt64(range.count)) }

    /// Queues the events of one more piece of work.
    private mutating func plan() {
        let dice = roll(0...99)
        if users.isEmpty || (dice < 5 && users.count < 1_000) {  // bounded, so that a soak's own memory stays flat
            let (user, session, reference) = (UUID.random(), UUID.random(), UUID.random())
            users.append((user, session, reference))
            pending += [
                .userRegistered(UserRegistered(userID: user, email: "\(user.lowercased)@studio.example")),
                .sessionCreated(SessionCreated(sessionID: session, userID: user, title: "Session")),
                .referenceImageUploaded(
                    ReferenceImageUploaded(
                        referenceImageID: reference, userID: user, sessionID: session,
                        gcpBucketPath: "uploads/\(reference.lowercased).jpg", gcpURL: "https://cdn/\(reference.lowercased).jpg"
                    )),
            ]
            return
        }
        let owner = users[roll(0...(users.count - 1))]
        if dice < 55 {
            let job = UUID.random()
            let shots = roll(1...4)
            pending.append(
                .generationJobCreated(
                    GenerationJobCreated(
                        jobID: job, userID: owner.user, sessionID: owner.session, prompt: "a lighthouse in a storm", style: "painterly",
                        numberOfShots: shots, referenceImageIDs: [owner.reference]
                    )))
            pending.append(.generationJobStarted(GenerationJobStarted(jobID: job)))
            var images: [UUID] = []
            for index in 1...shots {
                let image = UUID.random()
                images.append(image)
                pending.append(
                    .imageGenerated(
                        ImageGenerated(
                            imageID: image, jobID: job, generationIndex: index, gcpBucketPath: "generated/\(job.lowercased)/\(index).jpg",
                            gcpURL: "https://cdn/\(image.lowercased).jpg", thumbnailURL: "https://cdn/t/\(image.lowercased).jpg"
                        )))
            }
            pending.append(
                roll(0...9) == 0
                    ? .generationJobFailed(GenerationJobFailed(jobID: job, error: "worker lost"))
                    : .generationJobCompleted(GenerationJobCompleted(jobID: job)))
            if roll(0...9) == 0 { pending.append(.imageDeleted(ImageDeleted(imageID: images[0]))) }
            if roll(0...9) == 0 {
                pending.append(.sessionRenamed(SessionRenamed(sessionID: owner.session, title: "Session \(roll(0...999))")))
            }
        } else if dice < 80 {
            let project = UUID.random()
            pending.append(.projectCreated(ProjectCreated(projectID: project, userID: owner.user, title: "Trailer")))
            for scene in 0..<roll(2...8) {
                for image in 0..<roll(1...3) {
                    pending.append(
                        .sceneImageSaved(
                            SceneImageSaved(
                                projectID: project, sceneIndex: scene, imageIndex: image,
                                imageURL: "https://cdn/p/\(project.lowercased)/\(scene)/\(image).png"
                            )))
                }
            }
            if roll(0...3) == 0 { pending.append(.sceneImagesCleared(SceneImagesCleared(projectID: project, sceneIndexes: [0]))) }
        } else {
            let story = UUID.random()
            pending.append(.storyCreated(StoryCreated(storyID: story, title: "The Lighthouse Keeper", userID: owner.user)))
            var scenelets: [UUID] = []
            for beat in 0..<roll(2...5) {
                let scenelet = UUID.random()
                let parent = scenelets.isEmpty ? nil : scenelets[roll(0...(scenelets.count - 1))]
                pending.append(
                    .sceneletAdded(
                        SceneletAdded(
                            sceneletID: scenelet, storyID: story, parentID: parent,
                            content: .members(["beat": .number(JSONNumber(beat)), "text": .string("The keeper climbs the tower")]),
                            isBranchPoint: beat == 1
                        )))
                scenelets.append(scenelet)
                let (shot, frame, job) = (UUID.random(), UUID.random(), UUID.random())
                pending += [
                    .shotPlanned(
                        ShotPlanned(
                            shotID: shot, sceneletID: scenelet, shotIndex: 1, storyboardPayload: .members(["camera": .string("wide")]))),
                    .shotAssetsAttached(ShotAssetsAttached(shotID: shot, keyFrameImagePath: "frames/\(shot.lowercased).png")),
                    .frameCreated(FrameCreated(frameID: frame, shotID: shot, frameType: "key")),
                    .generationJobCreated(GenerationJobCreated(jobID: job, userID: owner.user, frameID: frame, prompt: "keyframe")),
                    .generationJobStarted(GenerationJobStarted(jobID: job)),
                    .imageGenerated(
                        ImageGenerated(
                            imageID: UUID.random(), jobID: job, generationIndex: 1, gcpBucketPath: "g",
                            gcpURL: "https://cdn/\(job.lowercased).jpg"
                        )),
                    .generationJobCompleted(GenerationJobCompleted(jobID: job)),
                    roll(0...3) == 0
                        ? .frameRejected(FrameRejected(frameID: frame, reason: "too dark"))
                        : .frameApproved(FrameApproved(frameID: frame, jobID: job)),
                    .sceneletEndFrameSet(SceneletEndFrameSet(sceneletID: scenelet, frameID: frame)),
                ]
            }
            if roll(0...2) == 0 { pending.append(.sceneletUpdated(SceneletUpdated(sceneletID: scenelets[0], choicePrompt: "Up or down?"))) }
        }
    }
}

/// xorshift64*: a small seedable generator (the ids come from the system's; this only picks the mix).
struct Xorshift {
    private var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}

extension MediaStore.Input {
    /// The input as one NDJSON line of `reel append`, its id given so that a test can look for it.
    var inputLine: String {
        var line = JSONObject()
        line.set("type", .string(event.type))
        line.set("data", .object(event.data))
        line.set("id", .string(id.lowercased))
        if let actor = metadata.actor { line.set("metadata", .object(.members(["actor": .string(actor)]))) }
        return String(decoding: JSONWriter.canonical(.object(line)), as: UTF8.self)
    }
}

extension JSONObject {
    /// An object of these members, in key order.
    static func members(_ members: [String: JSONValue]) -> JSONObject {
        var object = JSONObject()
        for (key, value) in members.sorted(by: { $0.key < $1.key }) { object.set(key, value) }
        return object
    }
}
