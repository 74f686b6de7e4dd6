import EventStore
import Foundation
import Testing
@testable import MediaPipeline

/// Opens a media store in its own temporary directory, runs `body`, then checks the invariants — hash chain, gapless
/// positions and versions, indexes, and every projection equal to a fold from scratch — and removes the directory.
func withMediaStore<R>(_ body: (MediaStore) async throws -> R) async throws -> R {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-media-\(UUID().uuidString.prefix(8))").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let media = try MediaStore.open(at: path)
    let result = try await body(media)
    let problems = try media.store.verify() + media.store.verifyProjections()
    #expect(problems.isEmpty, "integrity problems: \(problems)")
    try media.close()
    return result
}

/// A seeded test's seed: `REEL_SEED` if set, else a random one; printed, with how to rerun the test with it.
func testSeed(_ name: String, _ detail: String = "") -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["REEL_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
    print("\(name) seed: \(seed) (rerun with REEL_SEED=\(seed))\(detail)")
    return seed
}

/// Expects `body` to be rejected by a domain rule whose message contains `fragment`, and the log not to grow.
func expectRejection(
    _ media: MediaStore, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async throws {
    let before = try media.store.head()
    do {
        try await body()
        Issue.record("expected a rejection containing \"\(fragment)\"", sourceLocation: sourceLocation)
    } catch let rejection as DomainRejection {
        #expect(rejection.description.contains(fragment), "\(rejection)", sourceLocation: sourceLocation)
    }
    #expect(try media.store.head() == before, "a rejected event writes nothing", sourceLocation: sourceLocation)
}

/// Short-hands for building a production in tests.
extension MediaStore {
    func user(_ email: String = "ana-\(UUID().uuidString.prefix(6))@example.com") async throws -> UUID {
        let id = UUID()
        try await append(.userRegistered(UserRegistered(userID: id, email: email)))
        return id
    }

    func session(of user: UUID, title: String = "Session") async throws -> UUID {
        let id = UUID()
        try await append(.sessionCreated(SessionCreated(sessionID: id, userID: user, title: title)))
        return id
    }

    /// A job, optionally moved to processing.
    func job(of user: UUID, session: UUID? = nil, frame: UUID? = nil, shots: Int? = nil, references: [UUID]? = nil, start: Bool = false) async throws -> UUID {
        let id = UUID()
        try await append(.generationJobCreated(GenerationJobCreated(
            jobID: id, userID: user, sessionID: session, frameID: frame, prompt: "a lighthouse in a storm",
            style: "noir", numberOfShots: shots, referenceImageIDs: references
        )))
        if start { try await append(.generationJobStarted(GenerationJobStarted(jobID: id))) }
        return id
    }

    @discardableResult
    func image(of job: UUID, index: Int, url: String? = nil) async throws -> UUID {
        let id = UUID()
        try await append(.imageGenerated(ImageGenerated(
            imageID: id, jobID: job, generationIndex: index, gcpBucketPath: "generated/\(job.text)/\(index).jpg",
            gcpURL: url ?? "https://storage.example/\(job.text)/\(index).jpg"
        )))
        return id
    }
}

/// Chunks of `scene-images` written and read whole, for tests that damage them or mutate them.
extension SceneImageChunk {
    /// Front-codes `(slot, url)` pairs given in slot order, URLs that need not be UTF-8.
    static func encode(_ entries: [(slot: Int, url: [UInt8])]) -> [UInt8] {
        var out = Encoder(total: entries.reduce(0) { $0 + $1.url.count }, capacity: entries.reduce(16) { $0 + $1.url.count + 8 })
        for (slot, url) in entries { url.withUnsafeBytes { out.add(slot, $0) } }
        return out.bytes
    }

    /// The URLs of a stored chunk, in slot order.
    static func urls(_ value: UnsafeRawBufferPointer) throws -> [(slot: Int, url: [UInt8])] {
        var text = [UInt8](repeating: 0, count: try total(value))
        var pieces: [(slot: Int, range: Range<Int>)] = []
        _ = try text.withUnsafeMutableBytes { buffer in try walk(value, into: buffer, at: 0) { pieces.append(($0, $1..<$2)) } }
        return pieces.map { ($0.slot, Array(text[$0.range])) }
    }
}
