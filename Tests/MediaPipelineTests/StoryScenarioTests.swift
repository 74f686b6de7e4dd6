import EventStore
import Foundation
import Testing
@testable import MediaPipeline

/// Stories: the scenelet tree with derived depth-first ids, shots in play order, frames and their jobs.
@Suite("Stories, shots, frames")
struct StoryScenarioTests {
    /// A story: root → (a → (a1, a2), b); returns the ids.
    func tree(_ media: MediaStore) async throws -> (story: UUID, root: UUID, a: UUID, a1: UUID, a2: UUID, b: UUID) {
        let story = UUID()
        let (root, a, a1, a2, b) = (UUID(), UUID(), UUID(), UUID(), UUID())
        try await media.append(.storyCreated(StoryCreated(storyID: story, title: "The Lighthouse")))
        func add(_ id: UUID, _ parent: UUID?, _ text: String) async throws {
            let content = JSONObject().setting("text", .string(text))
            try await media.append(.sceneletAdded(SceneletAdded(sceneletID: id, storyID: story, parentID: parent, content: content)))
        }
        try await add(root, nil, "root")
        try await add(a, root, "a")
        try await add(b, root, "b")
        try await add(a1, a, "a1")
        try await add(a2, a, "a2")
        return (story, root, a, a1, a2, b)
    }

    @Test("depth-first display ids, children in the order added, renumbered on insert and removal")
    func displayIDs() async throws {
        try await withMediaStore { media in
            let t = try await tree(media)
            var view = try media.story(t.story)
            #expect(view.scenelets.map(\.sceneletID) == [t.root, t.a, t.a1, t.a2, t.b])
            #expect(view.scenelets.map(\.displayID) == ["scenelet-1", "scenelet-2", "scenelet-3", "scenelet-4", "scenelet-5"])
            #expect(view.scenelets.map(\.sequence) == [1, 2, 3, 4, 5])
            #expect(view.scenelets.map(\.parentID) == [nil, t.root, t.a, t.a, t.root])

            // Inserting under a1 renumbers everything after it.
            let deep = UUID()
            try await media.append(.sceneletAdded(SceneletAdded(sceneletID: deep, storyID: t.story, parentID: t.a1, content: JSONObject())))
            view = try media.story(t.story)
            #expect(view.scenelets.map(\.sceneletID) == [t.root, t.a, t.a1, deep, t.a2, t.b])
            #expect(view.scenelets.first { $0.sceneletID == t.b }?.displayID == "scenelet-6")

            // Removing a leaf renumbers again.
            try await media.append(.sceneletRemoved(SceneletRemoved(sceneletID: deep)))
            try await media.append(.sceneletRemoved(SceneletRemoved(sceneletID: t.a2)))
            view = try media.story(t.story)
            #expect(view.scenelets.map(\.sceneletID) == [t.root, t.a, t.a1, t.b])
            #expect(view.scenelets.map(\.displayID) == ["scenelet-1", "scenelet-2", "scenelet-3", "scenelet-4"])
        }
    }

    @Test("shots are ordered by (scenelet sequence, shot_index), and follow renumbering")
    func shotOrder() async throws {
        try await withMediaStore { media in
            let t = try await tree(media)
            var shots: [UUID: UUID] = [:]
            for (scenelet, index) in [(t.b, 2), (t.a1, 1), (t.b, 1), (t.root, 3), (t.root, 1)] {
                let shot = UUID()
                shots[shot] = scenelet
                try await media.append(.shotPlanned(ShotPlanned(shotID: shot, sceneletID: scenelet, shotIndex: index)))
            }
            let view = try media.story(t.story)
            #expect(view.shots.map { [$0.sceneletSequence, $0.shotIndex] } == [[1, 1], [1, 3], [3, 1], [5, 1], [5, 2]])
            #expect(view.shots.map(\.sceneletDisplayID) == ["scenelet-1", "scenelet-1", "scenelet-3", "scenelet-5", "scenelet-5"])
            #expect(view.shots.allSatisfy { shots[$0.shotID] == $0.sceneletID })
            let inserted = UUID()
            try await media.append(.sceneletAdded(SceneletAdded(sceneletID: inserted, storyID: t.story, parentID: t.root, content: JSONObject())))
            let after = try media.story(t.story)
            #expect(after.scenelets.last?.sceneletID == inserted, "added last among root's children, so last depth-first")
        }
    }

    @Test("tree rules: one root, parent in the same story, no removal with children, unique shot_index")
    func treeRules() async throws {
        try await withMediaStore { media in
            let t = try await tree(media)
            try await expectRejection(media, "already has root scenelet \(t.root.text)") {
                try await media.append(.sceneletAdded(SceneletAdded(sceneletID: UUID(), storyID: t.story, content: JSONObject())))
            }
            let other = try await tree(media)
            try await expectRejection(media, "belongs to story \(t.story.text), not \(other.story.text)") {
                try await media.append(.sceneletAdded(SceneletAdded(sceneletID: UUID(), storyID: other.story, parentID: t.a, content: JSONObject())))
            }
            try await expectRejection(media, "scenelet \(t.a.text) has child scenelets") {
                try await media.append(.sceneletRemoved(SceneletRemoved(sceneletID: t.a)))
            }
            try await media.append(.shotPlanned(ShotPlanned(shotID: UUID(), sceneletID: t.a, shotIndex: 1)))
            try await expectRejection(media, "already has a shot with shot_index 1") {
                try await media.append(.shotPlanned(ShotPlanned(shotID: UUID(), sceneletID: t.a, shotIndex: 1)))
            }
            try await expectRejection(media, "shot_index 0") {
                try await media.append(.shotPlanned(ShotPlanned(shotID: UUID(), sceneletID: t.a, shotIndex: 0)))
            }
            let ghost = UUID()
            try await expectRejection(media, "scenelet \(ghost.text) does not exist") {
                try await media.append(.sceneletUpdated(SceneletUpdated(sceneletID: ghost, isBranchPoint: true)))
            }
        }
    }

    @Test("jobs-by-frame: regeneration history, latest completed, approval only of a completed job of that frame, rejection")
    func jobsByFrame() async throws {
        try await withMediaStore { media in
            let t = try await tree(media)
            let user = try await media.user()
            let shot = UUID()
            let frame = UUID()
            try await media.append(.shotPlanned(ShotPlanned(shotID: shot, sceneletID: t.a1, shotIndex: 1)))
            try await media.append(.frameCreated(FrameCreated(frameID: frame, shotID: shot, frameType: "key")))
            var result = try media.jobsByFrame(frame: frame)
            #expect(result.status == .pending && result.jobs.isEmpty && result.currentJobID == nil)

            let first = try await media.job(of: user, frame: frame, start: true)
            try await media.image(of: first, index: 1)
            try await media.append(.generationJobCompleted(GenerationJobCompleted(jobID: first)))
            let second = try await media.job(of: user, frame: frame, start: true)
            try await media.append(.generationJobFailed(GenerationJobFailed(jobID: second, error: "quota exceeded")))
            let third = try await media.job(of: user, frame: frame)
            let unrelated = try await media.job(of: user, start: true)
            try await media.append(.generationJobCompleted(GenerationJobCompleted(jobID: unrelated)))

            result = try media.jobsByFrame(frame: frame)
            #expect(result.jobs.map(\.jobID) == [first, second, third], "creation order")
            #expect(result.jobs.map(\.status) == [.completed, .failed, .pending])
            #expect(result.latestCompletedJobID == first)

            try await expectRejection(media, "job \(unrelated.text) was not created for frame \(frame.text)") {
                try await media.append(.frameApproved(FrameApproved(frameID: frame, jobID: unrelated)))
            }
            try await expectRejection(media, "job \(second.text) is failed, not completed") {
                try await media.append(.frameApproved(FrameApproved(frameID: frame, jobID: second)))
            }
            try await media.append(.frameApproved(FrameApproved(frameID: frame, jobID: first)))
            result = try media.jobsByFrame(frame: frame)
            #expect(result.status == .approved && result.currentJobID == first)

            try await media.append(.frameRejected(FrameRejected(frameID: frame, reason: "wrong lighting")))
            result = try media.jobsByFrame(frame: frame)
            #expect(result.status == .rejected && result.currentJobID == nil, "the latest review wins")

            // The bundle shows the approved image only while the frame is approved.
            #expect(try media.bundle(story: t.story).scenelets[2].shots[0].frames[0].approvedImageURL == nil)
            try await media.append(.frameApproved(FrameApproved(frameID: frame, jobID: first)))
            #expect(try media.bundle(story: t.story).scenelets[2].shots[0].frames[0].approvedImageURL == "https://storage.example/\(first.text)/1.jpg")
        }
    }

    @Test("removing a scenelet takes its shots and frames; pointers at those frames become null; jobs keep frame_id")
    func removalCascade() async throws {
        try await withMediaStore { media in
            let t = try await tree(media)
            let user = try await media.user()
            let (shot, frame, next, keptShot) = (UUID(), UUID(), UUID(), UUID())
            try await media.append(.shotPlanned(ShotPlanned(shotID: shot, sceneletID: t.a2, shotIndex: 1)))
            try await media.append(.frameCreated(FrameCreated(frameID: frame, shotID: shot, frameType: "key")))
            try await media.append(.shotPlanned(ShotPlanned(shotID: keptShot, sceneletID: t.b, shotIndex: 1)))
            try await media.append(.frameCreated(FrameCreated(frameID: next, shotID: keptShot, frameType: "key", previousFrameID: frame)))
            try await media.append(.sceneletEndFrameSet(SceneletEndFrameSet(sceneletID: t.b, frameID: frame)))
            let job = try await media.job(of: user, frame: frame)
            try await expectRejection(media, "shot \(keptShot.text) already has a frame of type \"key\"") {
                try await media.append(.frameCreated(FrameCreated(frameID: UUID(), shotID: keptShot, frameType: "key")))
            }

            try await media.append(.sceneletRemoved(SceneletRemoved(sceneletID: t.a2)))
            #expect(throws: UnknownEntity.self) { try media.framesByShot(shot: shot) }
            #expect(throws: UnknownEntity.self) { try media.jobsByFrame(frame: frame) }
            #expect(try media.framesByShot(shot: keptShot).frames.map(\.previousFrameID) == [nil])
            #expect(try media.story(t.story).scenelets.first { $0.sceneletID == t.b }?.endFrameID == nil)
            #expect(try media.job(job).job.frameID == frame, "jobs keep their frame_id")
        }
    }
}

extension JSONObject {
    func setting(_ key: String, _ value: JSONValue) -> JSONObject {
        var copy = self
        copy.set(key, value)
        return copy
    }
}
