import EventStore
import Foundation
import Testing

@testable import MediaPipeline

/// Query results in a service: `jsonData` is the exact text Reel prints, and `Encodable` gives an encoder the same
/// members and values.
@Suite("JSON for services")
struct JSONEncodingTests {
    /// `JSONEncoder` with sorted keys (its own order is a hash table's) and slashes as they are.
    private static func encoded(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The value of a JSON text, as Foundation reads it, for comparing two texts of one value.
    private static func parsed(_ data: Data) throws -> NSObject {
        try #require(try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? NSObject)
    }

    /// A JSON object from its text.
    private static func object(_ text: String) throws -> JSONObject {
        guard case let .object(object) = try JSONReader.read(text) else { throw JSONError(message: "not an object", offset: 0) }
        return object
    }

    @Test("every kind of value encodes as itself; numbers as the integer or Double they stand for")
    func values() async throws {
        try await withMediaStore { media in
            let text =
                #"{"z":[1,-2,1.50,1E3,-0,18446744073709551615,-9223372036854775808,0.1],"a":{"url":"https://x/y","s":"é\n\"q\"\\"},"n":null,"t":true,"f":false,"e":[],"o":{}}"#
            let value = try JSONReader.read(text)
            #expect(
                try Self.encoded(value)
                    == #"{"a":{"s":"é\n\"q\"\\","url":"https://x/y"},"e":[],"f":false,"n":null,"o":{},"t":true,"z":[1,-2,1.5,1000,-0,18446744073709551615,-9223372036854775808,0.1]}"#
            )
            // jsonData keeps the members' order and each number's text.
            #expect(String(decoding: value.jsonData, as: UTF8.self) == text)
            #expect(try Self.parsed(JSONEncoder().encode(value)) == Self.parsed(value.jsonData))

            // A number no Double holds is refused by JSONEncoder's default strategy; jsonData keeps its text.
            let huge = try JSONReader.read("[1e999]")
            #expect(throws: EncodingError.self) { try JSONEncoder().encode(huge) }
            #expect(String(decoding: huge.jsonData, as: UTF8.self) == "[1e999]")

            // The store is not needed for values; it ends like every test, checked.
            try await media.append(.projectCreated(ProjectCreated(projectID: UUID(), title: "Values")))
        }
    }

    @Test("a query result's jsonData is its json as reel prints it; Encodable gives the same members and values")
    func queryResults() async throws {
        try await withMediaStore { media in
            let story = UUID()
            let (root, branch, shot) = (UUID(), UUID(), UUID())
            try await media.append(.storyCreated(StoryCreated(storyID: story, title: "The Lighthouse / Part 1")))
            try await media.append(
                .sceneletAdded(
                    SceneletAdded(
                        sceneletID: root, storyID: story, content: try Self.object(#"{"text":"dawn","seconds":12}"#), isBranchPoint: true,
                        choicePrompt: "Open the door?")))
            try await media.append(
                .sceneletAdded(
                    SceneletAdded(
                        sceneletID: branch, storyID: story, parentID: root, content: try Self.object(#"{"text":"the lamp","weight":0.25}"#))
                ))
            try await media.append(
                .shotPlanned(
                    ShotPlanned(
                        shotID: shot, sceneletID: branch, shotIndex: 1,
                        storyboardPayload: try Self.object(#"{"lens":"35mm","frames":[1,2]}"#))))
            let project = UUID()
            try await media.append(.projectCreated(ProjectCreated(projectID: project, title: "Trailer")))
            try await media.append(
                .sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 1, imageURL: "https://cdn.example/1/a.png")))

            let results: [any QueryResult] = [
                try media.story(story), try media.bundle(story: story), try media.imagesByScene(project: project),
            ]
            for result in results {
                var writer = JSONWriter()
                writer.write(result.json, sortKeys: false)
                #expect(result.jsonData == Data(writer.bytes), "what reel query prints, less its line feed")
                #expect(try Self.parsed(JSONEncoder().encode(result)) == Self.parsed(result.jsonData))
                #expect(
                    try Self.encoded(result) == String(decoding: JSONWriter.canonical(result.json), as: UTF8.self),
                    "sorted, the encoder's text is the canonical JSON of the result (no number here changes its text)")
            }
            let scenes = try media.imagesByScene(project: project)
            #expect(
                String(decoding: scenes.jsonData, as: UTF8.self)
                    == #"{"project_id":"\#(project.text)","scenes":[{"scene_index":1,"image_urls":["https://cdn.example/1/a.png"]}]}"#)
        }
    }
}
