import EventStore
import Foundation
import MediaPipeline
import Testing

/// A service that answers queries through the library returns what `reel query` prints: `jsonData` byte for byte,
/// `Encodable` the same members and values.
@Suite struct QueryJSONTests {
    @Test("jsonData is byte for byte what reel query prints, for every query of a real store; Encodable encodes the same JSON")
    func sameAsReelQuery() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let p = Production()
        // One more scenelet whose content holds numbers written as JSON allows but as Double would not print them.
        let written = uuid()
        let numbers =
            #"{"type":"scenelet.added","data":{"scenelet_id":"\#(written)","story_id":"\#(p.story)","parent_id":"\#(p.cellar)","content":{"text":"Tide tables","weight":1.50,"depth":1E3,"slash":"a/b"}}}"#
        let run = try reel(["append", "--store", store], input: ndjson(p.lines + [numbers]))
        try #require(run.status == 0, "\(run)")

        let queries: [(name: String, arguments: [String])] = [
            ("images-by-scene", ["--project", p.project]), ("jobs-by-frame", ["--frame", p.keyFrame]),
            ("frames-by-shot", ["--shot", p.lampDollyShot]), ("story", ["--story", p.story]), ("bundle", ["--story", p.story]),
            ("sessions", ["--user", p.alice]), ("job", ["--job", p.stormJob]), ("session-images", ["--session", p.lighthouseSession]),
            ("reference-images", ["--user", p.alice]), ("jobs", ["--status", "completed"]),
        ]
        var printed: [String: Data] = [:]
        for (name, arguments) in queries {
            let run = try reel(["query", name, "--store", store] + arguments)
            #expect(run.status == 0, "reel query \(name): \(run)")
            printed[name] = Data(run.stdout.utf8)
        }
        #expect(printed["story"].map { String(decoding: $0, as: UTF8.self).contains(#""weight":1.50"#) } == true)

        var options = StoreOptions()
        options.readOnly = true
        let media = try MediaStore.open(at: store, options: options)
        func id(_ text: String) throws -> UUID { try #require(UUID(uuidString: text)) }
        let results: [String: any QueryResult] = [
            "images-by-scene": try media.imagesByScene(project: id(p.project)),
            "jobs-by-frame": try media.jobsByFrame(frame: id(p.keyFrame)),
            "frames-by-shot": try media.framesByShot(shot: id(p.lampDollyShot)),
            "story": try media.story(id(p.story)),
            "bundle": try media.bundle(story: id(p.story)),
            "sessions": try media.sessions(user: id(p.alice)),
            "job": try media.job(id(p.stormJob)),
            "session-images": try media.sessionImages(session: id(p.lighthouseSession)),
            "reference-images": try media.referenceImages(user: id(p.alice)),
            "jobs": try media.jobs(status: .completed),
        ]
        try media.close()
        for (name, _) in queries {
            let result = try #require(results[name])
            let line = try #require(printed[name])
            #expect(result.jsonData + [0x0A] == line, "\(name): the library's bytes and reel query's line")
            // The encoder orders keys and writes numbers its own way; the JSON it writes is the same value.
            let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as? NSDictionary
            let expected = try JSONSerialization.jsonObject(with: line) as? NSDictionary
            #expect(encoded != nil && encoded == expected, "\(name): the Encodable result and reel query's line")
        }
        try expectVerified(store)
    }
}
