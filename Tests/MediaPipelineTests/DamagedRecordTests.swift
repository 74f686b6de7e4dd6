@testable import EventStore
import Foundation
import LMDB
import Testing
@testable import MediaPipeline

/// Queries over damaged projection records: a typed error or the right answer, never a trap, a hang or a wrong
/// neighbour (the story and images-by-scene results slice shared buffers, so one bad field must not shift the others).
/// Each test damages records through a raw write transaction and ends by checking that the audit's fresh fold sees
/// the damage.
@Suite("Damaged projection records")
struct DamagedRecordTests {
    /// A media store in its own directory; `body` gets it and a way to change its media databases directly.
    func withDamageableStore(_ body: (MediaStore, (_ change: (Tables, borrowing Transaction) throws -> Void) throws -> Void) async throws -> Void) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-damage-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let media = try MediaStore.open(at: path)
        let store = media.store
        try await body(media) { change in
            let registered = store.layout.projections.first { $0.name == "media" }!
            try store.environment.write { txn in
                let tables = try store.layout.databases(of: registered, txn).memoized(Tables.init)
                try change(tables, txn)
            }
        }
        #expect(!(try store.verifyProjections()).isEmpty, "the audit's fresh fold sees the damage")
        try media.close()
    }

    func story(_ media: MediaStore, prompts: [String]) async throws -> (story: UUID, scenelets: [UUID], shots: [UUID]) {
        let story = UUID()
        try await media.append(.storyCreated(StoryCreated(storyID: story, title: "Damage")))
        var scenelets: [UUID] = []
        var shots: [UUID] = []
        for (n, prompt) in prompts.enumerated() {
            let scenelet = UUID()
            let shot = UUID()
            try await media.append(.sceneletAdded(SceneletAdded(
                sceneletID: scenelet, storyID: story, parentID: scenelets.last, content: JSONObject().setting("n", .string("\(n)")),
                isBranchPoint: true, choicePrompt: prompt
            )))
            try await media.append(.shotPlanned(ShotPlanned(shotID: shot, sceneletID: scenelet, shotIndex: 1)))
            scenelets.append(scenelet)
            shots.append(shot)
        }
        return (story, scenelets, shots)
    }

    @Test("a scenelet's content that is not UTF-8 leaves every prompt of the story right")
    func contentNotText() async throws {
        try await withDamageableStore { media, damage in
            let s = try await story(media, prompts: ["alpha", "bravo", "charlie"])
            try damage { t, txn in
                var first = try #require(try t.scenelet(s.scenelets[0], txn))
                first.content = [0xFF, 0xFE, 0x7B]
                try t.put(first, new: false, txn)
            }
            let view = try media.story(s.story)
            #expect(view.scenelets.map { $0.choicePrompt.map(String.init) } == ["alpha", "bravo", "charlie"])
            #expect(Array(view.scenelets[0].content) == [0xFF, 0xFE, 0x7B])
            #expect(view.scenelets[1].content[0] == UInt8(ascii: "{"), "each slice is indexed from 0")
        }
    }

    @Test("a cycle in stored parent links is a damaged record, not an endless walk")
    func parentCycle() async throws {
        try await withDamageableStore { media, damage in
            let s = try await story(media, prompts: ["alpha", "bravo"])
            try damage { t, txn in
                var root = try #require(try t.scenelet(s.scenelets[0], txn))
                root.parentID = s.scenelets[1]
                try t.put(root, new: false, txn)
            }
            #expect(throws: DamagedRecord.self) { try media.story(s.story) }
        }
    }

    @Test("a stored shot index below 1 is a damaged record: appends about the shot fail cleanly, nothing traps")
    func negativeShotIndex() async throws {
        try await withDamageableStore { media, damage in
            let s = try await story(media, prompts: ["alpha"])
            try damage { t, txn in
                let key = try #require(try t.key(ofShot: s.shots[0], txn))
                var shot = try #require(try t.shot(s.shots[0], txn))
                shot.shotIndex = -1
                try txn.put(t.storyShots, key, shot.bytes)
            }
            let before = try media.store.head()
            await #expect(throws: (any Error).self) {
                try await media.append(.shotAssetsAttached(ShotAssetsAttached(shotID: s.shots[0], keyFrameImagePath: "k.png")))
            }
            #expect(try media.store.head() == before, "nothing was written")
            #expect(throws: DamagedRecord.self) { try media.story(s.story) }
        }
    }

    @Test("a scene image URL that is not UTF-8 is a damaged record; the lists of sound scenes are indexed from 0")
    func urlNotText() async throws {
        try await withDamageableStore { media, damage in
            let project = UUID()
            try await media.append(.projectCreated(ProjectCreated(projectID: project, userID: UUID(), title: "P")))
            for scene in 0..<2 {
                for image in 0..<2 {
                    try await media.append(.sceneImageSaved(SceneImageSaved(
                        projectID: project, sceneIndex: scene, imageIndex: image, imageURL: "https://img/\(scene)/\(image).png")))
                }
            }
            let scenes = try media.imagesByScene(project: project).scenes
            #expect(scenes[1].imageURLs[0] == "https://img/1/0.png" && scenes[1].imageURLs[1] == "https://img/1/1.png")
            #expect("\(scenes[1].imageURLs)" == #"["https://img/1/0.png", "https://img/1/1.png"]"#, "prints as an array does")
            // A well-framed chunk whose URL is not UTF-8, then chunks whose framing is wrong.
            let chunk = Key(project).with(0).with(1)
            let damaged: [[UInt8]] = [
                SceneImageChunk.encode([(slot: 0, url: [0xFF, 0x41])]),
                [], [2], [2, 0, 0, 2, 0x41], [3, 0, 0, 1, 0x41, 0, 1, 1, 0x42], [2, 64, 0, 2, 0x41, 0x42],
                [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 1, 0x41],
            ]
            for value in damaged {
                try damage { t, txn in try t.put(t.sceneImages, chunk, value, txn) }
                #expect(throws: DamagedRecord.self, "\(value)") { try media.imagesByScene(project: project) }
            }
            // Keys that are not project ‖ scene ‖ chunk: a scene index past Int.max, an extra number.
            let sound = SceneImageChunk.encode([(slot: 0, url: [0x41])])
            for key in [Key(project).with(UInt64(1) << 63).with(0), Key(project).with(3).with(0).with(0)] {
                try damage { t, txn in
                    try t.put(t.sceneImages, chunk, sound, txn)
                    try t.put(t.sceneImages, key, sound, txn)
                }
                #expect(throws: DamagedRecord.self, "\(key.bytes)") { try media.imagesByScene(project: project) }
                try damage { t, txn in try t.delete(t.sceneImages, key, txn) }
            }
            try damage { t, txn in try t.put(t.sceneImages, chunk, [2, 0, 0, 2, 0x41, 0x42], txn) }
            #expect(try media.imagesByScene(project: project).scenes.map { $0.imageURLs.map(String.init) } == [
                ["https://img/0/0.png", "https://img/0/1.png", "AB"], ["https://img/1/0.png", "https://img/1/1.png"],
            ], "a sound chunk written by hand reads back")
        }
    }
}
