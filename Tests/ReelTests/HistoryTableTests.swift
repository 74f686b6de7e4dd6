import Foundation
import Testing

/// `reel audit history`'s table: whole ids and values, in columns that line up. The built `reel`, run as a real
/// process.
@Suite struct HistoryTableTests {
    @Test("reel audit history prints whole ids and values, in columns that line up")
    func historyTable() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let (user, session, reference, job) = (uuid(), uuid(), uuid(), uuid())
        let long: JSON = ["actor": "renderer-farm-west-0042.studio.example", "correlation_id": .string("upload-\(uuid())")]
        let run = try append(ndjson([
            inputLine("user.registered", ["user_id": .string(user), "email": "history@studio.example"], metadata: ["actor": "admin"]),
            inputLine("session.created", ["session_id": .string(session), "user_id": .string(user), "title": "t"]),
            inputLine("reference_image.uploaded", [
                "reference_image_id": .string(reference), "user_id": .string(user), "session_id": .string(session),
                "gcp_bucket_path": "b/r.png", "gcp_url": "https://r.png",
            ], metadata: long),
            inputLine("generation_job.created", [
                "job_id": .string(job), "user_id": .string(user), "prompt": "p", "reference_image_ids": [.string(reference)],
            ], metadata: ["actor": "a"]),
        ]), to: store)
        try #require(run.status == 0, "\(run)")
        let envelopes = try readAll(store)

        let history = try reel(["audit", "history", "--id", user, "--store", store])
        #expect(history.status == 0, "\(history)")
        let lines = history.stdoutLines
        try #require(lines.count >= 3, "\(history)")
        let header = lines[0]
        #expect(header.split(separator: " ", omittingEmptySubsequences: true) == ["position", "recorded_at", "type", "stream", "actor", "correlation"])
        // Where each header word starts: every row's values start there too.
        var starts: [Int] = []
        for (offset, character) in header.enumerated() where character != " " && (offset == 0 || Array(header)[offset - 1] == " ") { starts.append(offset) }
        for line in lines.dropFirst() {
            let characters = Array(line)
            for start in starts {
                #expect(start < characters.count && characters[start] != " " && (start == 0 || characters[start - 1] == " "), "misaligned at \(start):\n\(header)\n\(line)")
            }
            let values = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            try #require(values.count == 6, "\(line)")
            let envelope = try #require(envelopes.first { ($0["position"] as? Int).map(String.init) == values[0] }, "\(line)")
            let metadata = envelope["metadata"] as? [String: Any] ?? [:]
            #expect(values[1] == envelope["recorded_at"] as? String && values[2] == envelope["type"] as? String, "\(line)")
            #expect(values[3] == envelope["stream"] as? String, "the whole stream: \(line)")
            #expect(values[4] == (metadata["actor"] as? String ?? "-") && values[5] == (metadata["correlation_id"] as? String ?? "-"), "\(line)")
        }
        #expect(history.stdout.contains("reference-image-\(reference)"), "\(history)")
        #expect(history.stdout.contains("renderer-farm-west-0042.studio.example"), "\(history)")
        try expectVerified(store)
    }
}
