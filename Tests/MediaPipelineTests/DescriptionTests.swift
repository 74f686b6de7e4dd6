import EventStore
import Foundation
import Testing

@testable import MediaPipeline

/// The domain's errors, as the library throws them, read as sentences — printed, interpolated or asked for their
/// `localizedDescription` (what services log) — never as a type's name.
@Suite("Domain error descriptions")
struct DomainDescriptionTests {
    /// The error `body` throws; records an issue when it throws none.
    private func thrown(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> (any Error)? {
        do {
            try await body()
            Issue.record("expected an error", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    /// Expects the error to print `text` every way a service might print it.
    private func expectReads(_ error: (any Error)?, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        expectReads(error, startingWith: text, sourceLocation: sourceLocation)
        #expect(error.map { "\($0)" } == text, sourceLocation: sourceLocation)
    }

    /// Expects the error to print the same sentence, starting with `text`, every way a service might print it.
    private func expectReads(_ error: (any Error)?, startingWith text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error else { return }
        #expect("\(error)".hasPrefix(text), "\(error)", sourceLocation: sourceLocation)
        #expect(String(reflecting: error) == "\(error)", sourceLocation: sourceLocation)
        #expect(error.localizedDescription == "\(error)", sourceLocation: sourceLocation)
    }

    @Test("a broken rule and an unknown id read as the rule and the id")
    func rejectionsAndUnknownEntities() async throws {
        try await withMediaStore { media in
            let user = try await media.user()
            let job = try await media.job(of: user)
            try await media.append(.generationJobStarted(GenerationJobStarted(jobID: job)))
            let again = await thrown { try await media.append(.generationJobStarted(GenerationJobStarted(jobID: job))) }
            #expect(again is DomainRejection)
            expectReads(again, "generation_job.started rejected: job \(job.text) is processing, not pending")

            let missing = UUID()
            let unknown = await thrown { _ = try media.job(missing) }
            #expect(unknown is UnknownEntity)
            expectReads(unknown, "job \(missing.text) does not exist")
        }
    }

    @Test("input that cannot be read says where and why")
    func inputErrors() async throws {
        try await withMediaStore { media in
            func parseLine(_ text: String) throws -> MediaStore.Input {
                var text = text
                return try text.withUTF8 { try InputLine.parse(UnsafeRawBufferPointer($0)) }
            }
            func parseEnvelope(_ text: String) throws -> ExportedEvent {
                var text = text
                return try text.withUTF8 { try Envelope.parse(UnsafeRawBufferPointer($0)) }
            }
            expectReads(await thrown { _ = try JSONReader.read("{\"a\":1,}") }, startingWith: "invalid JSON at byte 8: an object key")
            expectReads(await thrown { _ = try parseLine("[]") }, "a line must be a JSON object, not an array")
            expectReads(
                await thrown { _ = try parseLine(#"{"type":"shot.painted","data":{}}"#) },
                startingWith: "unknown event type \"shot.painted\"")
            expectReads(
                await thrown { _ = try parseLine(#"{"type":"user.registered","data":{"user_id":7}}"#) },
                startingWith: "user.registered: data.user_id must be ")
            expectReads(await thrown { _ = try parseEnvelope("[]") }, "an envelope must be a JSON object")

            // The same line, well formed, is appended.
            let user = UUID()
            try await media.append([
                try parseLine(#"{"type":"user.registered","data":{"user_id":"\#(user.text)","email":"ana@example.com"}}"#)
            ])
            #expect(try media.store.head() == 1)
        }
    }
}
