import EventStore
import Foundation
import Testing
@testable import MediaPipeline

/// Content-creation projects: images saved into a project's scenes — the lost-image race, upsert and clear.
@Suite("Projects: scene images")
struct ProjectScenarioTests {
    @Test("16 concurrent writers saving images into one project lose nothing")
    func noLostImages() async throws {
        try await withMediaStore { media in
            let project = UUID()
            try await media.append(.projectCreated(ProjectCreated(projectID: project, title: "The Lighthouse")))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<16 {
                    group.addTask {
                        for scene in 0..<25 {
                            try await media.append(.sceneImageSaved(SceneImageSaved(
                                projectID: project, sceneIndex: scene, imageIndex: writer, imageURL: "https://img/\(scene)/\(writer).png"
                            )))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let result = try media.imagesByScene(project: project)
            #expect(result.scenes.map(\.sceneIndex) == Array(0..<25))
            for scene in result.scenes {
                #expect(scene.imageURLs.map(String.init) == (0..<16).map { "https://img/\(scene.sceneIndex)/\($0).png" }, "ordered by image_index, none lost")
            }
        }
    }

    @Test("saving an existing (scene, image_index) replaces its url in place; scenes without images are left out")
    func upsert() async throws {
        try await withMediaStore { media in
            let project = UUID()
            try await media.append(.projectCreated(ProjectCreated(projectID: project)))
            try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 2, imageURL: "a")))
            try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 2, imageIndex: 1, imageURL: "b")))
            try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 0, imageIndex: 0, imageURL: "c")))
            try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 2, imageIndex: 0, imageURL: "a2")))
            let result = try media.imagesByScene(project: project)
            #expect(result.scenes == [.init(sceneIndex: 0, imageURLs: ["c"]), .init(sceneIndex: 2, imageURLs: ["a2", "b"])])
            let json = String(decoding: JSONWriter.canonical(result.json), as: UTF8.self)
            #expect(json == #"{"project_id":"\#(project.text)","scenes":[{"image_urls":["c"],"scene_index":0},{"image_urls":["a2","b"],"scene_index":2}]}"#)
        }
    }

    @Test("each scene's URLs, slices of one shared text, read like an array: from 0, whole characters, equal and hashed by value")
    func sharedTexts() async throws {
        try await withMediaStore { media in
            let project = UUID()
            try await media.append(.projectCreated(ProjectCreated(projectID: project)))
            let urls = [["https://img/é/0.png", "https://img/🎬/1.png"], ["ü", "https://img/ü/0.png", "x"]]
            for (scene, list) in urls.enumerated() {
                for (image, url) in list.enumerated() {
                    try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: scene, imageIndex: image, imageURL: url)))
                }
            }
            let scenes = try media.imagesByScene(project: project).scenes
            #expect(scenes.map { Array($0.imageURLs.map(String.init)) } == urls)
            let second = scenes[1].imageURLs
            #expect(second.startIndex == 0 && second.count == 3 && second[1] == "https://img/ü/0.png" && second[0] == "ü")
            #expect(Array(second.reversed()) == ["x", "https://img/ü/0.png", "ü"])
            let literal: SharedTexts = ["ü", "https://img/ü/0.png", "x"]
            #expect(second == literal && Set([second, literal]).count == 1)
            #expect(second != scenes[0].imageURLs)
        }
    }

    @Test("a scene's images come back by image_index across the stored chunks of 64, long shared URL prefixes and all")
    func chunks() async throws {
        try await withMediaStore { media in
            let project = UUID()
            try await media.append(.projectCreated(ProjectCreated(projectID: project)))
            let prefix = "https://storage.example/\(String(repeating: "p", count: 300))/"
            var expected: [Int: String] = [:]
            for image in [200, 0, 64, 63, 5, 127, 128, 1, 64, 0] {
                let url = prefix + "\(image)-\(expected[image] == nil ? "a" : "b").png"
                expected[image] = url
                try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 7, imageIndex: image, imageURL: url)))
            }
            try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 8, imageIndex: 70, imageURL: "x")))
            let scenes = try media.imagesByScene(project: project).scenes
            #expect(scenes.map(\.sceneIndex) == [7, 8])
            #expect(scenes[0].imageURLs.map(String.init) == expected.keys.sorted().map { expected[$0]! })
            #expect(scenes[1].imageURLs.map(String.init) == ["x"])
        }
    }

    @Test("clearing removes the listed scenes, or every scene for an empty list")
    func clear() async throws {
        try await withMediaStore { media in
            let project = UUID()
            try await media.append(.projectCreated(ProjectCreated(projectID: project)))
            for scene in 0..<4 {
                for image in 0..<2 {
                    try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: scene, imageIndex: image, imageURL: "\(scene)-\(image)")))
                }
            }
            try await media.append(.sceneImagesCleared(SceneImagesCleared(projectID: project, sceneIndexes: [1, 3])))
            #expect(try media.imagesByScene(project: project).scenes.map(\.sceneIndex) == [0, 2])
            try await media.append(.sceneImagesCleared(SceneImagesCleared(projectID: project, sceneIndexes: [])))
            #expect(try media.imagesByScene(project: project).scenes.isEmpty)
        }
    }

    @Test("the rules: project exists, indexes not negative, url not empty; unknown project is an error in queries")
    func rules() async throws {
        try await withMediaStore { media in
            let project = UUID()
            let missing = UUID()
            try await expectRejection(media, "project \(missing.text) does not exist") {
                try await media.append(.sceneImageSaved(SceneImageSaved(projectID: missing, sceneIndex: 0, imageURL: "x")))
            }
            try await media.append(.projectCreated(ProjectCreated(projectID: project)))
            try await expectRejection(media, "project \(project.text) already exists") {
                try await media.append(.projectCreated(ProjectCreated(projectID: project)))
            }
            try await expectRejection(media, "scene_index -1") {
                try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: -1, imageURL: "x")))
            }
            try await expectRejection(media, "image_index -2") {
                try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 0, imageIndex: -2, imageURL: "x")))
            }
            try await expectRejection(media, "image_url") {
                try await media.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 0, imageURL: "")))
            }
            #expect(throws: UnknownEntity(entity: "project", id: missing)) { try media.imagesByScene(project: missing) }
        }
    }
}
