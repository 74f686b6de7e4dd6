import Foundation
import LMDB
import Testing

@testable import EventStore

/// What a service logs: the results and errors of the engine printed, interpolated and asked for their
/// `localizedDescription` read as sentences and numbers, never as Swift's reflection of private storage.
@Suite("Descriptions")
struct DescriptionTests {
    @Test("an append's result prints its positions and versions, as ranges where they run on by one")
    func appendResults() async throws {
        try await withStore { store, _ in
            let one = try await store.append(sampleEvent(stream: "job-1"))
            #expect("\(one)" == "AppendResult(position: 1, version: 1)")

            let run = try await store.append([sampleEvent(stream: "job-1"), sampleEvent(stream: "job-1"), sampleEvent(stream: "job-1")])
            #expect("\(run)" == "AppendResult(positions: 2...4, versions: 2...4)")

            let batch = [sampleEvent(stream: "job-1"), sampleEvent(stream: "job-2"), sampleEvent(stream: "job-1")]
            let mixed = try await store.append(batch)
            #expect("\(mixed)" == "AppendResult(positions: 5...7, versions: [5, 1, 6])")

            let again = try await store.append(batch)
            #expect(again.isDuplicate)
            #expect("\(again)" == "AppendResult(positions: 5...7, versions: [5, 1, 6], duplicate)")

            for result in [one, run, mixed, again] {
                #expect(String(reflecting: result) == String(describing: result))
                var dumped = ""
                dump(result, to: &dumped)
                #expect(dumped.contains("positions") && dumped.contains("versions") && !dumped.contains("Storage"), "\(dumped)")
            }
        }
    }

    @Test("results built by hand print the same way, lists where numbers do not run on")
    func builtResults() {
        #expect("\(AppendResult(position: 7, version: 3, isDuplicate: true))" == "AppendResult(position: 7, version: 3, duplicate)")
        #expect(
            "\(AppendResult(positions: [7, 8, 9], versions: [1, 2, 3], isDuplicate: false))"
                == "AppendResult(positions: 7...9, versions: 1...3)")
        #expect(
            "\(AppendResult(positions: [9, 7], versions: [2, 2], isDuplicate: false))"
                == "AppendResult(positions: [9, 7], versions: [2, 2])")
        #expect("\(AppendResult(positions: [], versions: [], isDuplicate: false))" == "AppendResult(positions: [], versions: [])")
    }

    @Test("the engine's errors, as a store throws them, read as sentences; localizedDescription says the same")
    func engineErrors() async throws {
        _ = try await withStore { store, directory in
            try await store.append(sampleEvent(stream: "job-1"))
            let wrongVersion = await outcome { try await store.append(sampleEvent(stream: "job-1"), expectedVersion: .exactly(0)) }
            let conflicting = try store.events(from: 1, limit: 1)[0]
            let conflict = await outcome {
                try await store.append(NewEvent(id: conflicting.id, stream: "job-1", type: "other.type", payload: []))
            }
            let empty = await outcome { try await store.append([]) }
            let expected: [(Result<AppendResult, any Error>, String)] = [
                (wrongVersion, "wrong expected version for stream job-1: expected 0, actual 1"),
                (conflict, "event id \(conflicting.id.uuidString.lowercased()) is already stored at position 1 with other content"),
                (empty, "invalid batch: it has no events"),
            ]
            for (result, text) in expected {
                guard case let .failure(error) = result else {
                    Issue.record("expected \(text), got \(result)")
                    continue
                }
                #expect("\(error)" == text)
                #expect(error.localizedDescription == text)
            }

            let notAStore = await outcome {
                try Store.open(
                    at: directory.path + "/data.mdb",
                    options: {
                        var o = StoreOptions(); o.readOnly = true; return o
                    }())
            }
            guard case let .failure(error) = notAStore else {
                Issue.record("opened a file as a store")
                return
            }
            #expect("\(error)".hasPrefix("\(directory.path)/data.mdb is not a Reel store: "), "\(error)")
            #expect(error.localizedDescription == "\(error)")
        }
    }

    @Test("a restore refused names the event's index and the reason")
    func restoreFailure() async throws {
        try await withStore { store, _ in
            let event = ExportedEvent(
                position: 5, stream: "job-1", version: 1, id: UUID(), type: "sample.happened", recordedAtMilliseconds: 0,
                payload: [], metadata: .none, hash: [UInt8](repeating: 0, count: 32))
            #expect {
                try store.restore([event])
            } throws: { error in
                let failure = try #require(error as? RestoreFailure)
                return failure.index == 0
                    && "\(failure)" == "cannot restore the event at index 0 of the batch: position 5 does not follow the head 0"
                    && failure.localizedDescription == "\(failure)"
            }
        }
    }

    @Test("a closed store's errors, and LMDB's, read as sentences")
    func closedAndStorageErrors() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store.open(at: directory.path, projections: [EventTypeIndex()])
        try await store.append(sampleEvent(stream: "job-1"))
        try expectSound(store)
        try store.close()
        let closed = await outcome { try await store.append(sampleEvent(stream: "job-1")) }
        guard case let .failure(error) = closed else {
            Issue.record("appended to a closed store")
            return
        }
        #expect("\(error)" == "the store is closed")
        #expect(error.localizedDescription == "the store is closed")

        let full = LMDBError(code: 28, operation: "mdb_txn_commit")
        #expect("\(full)".hasPrefix("mdb_txn_commit failed: No space left on device (code 28); free space on that disk"), "\(full)")
        #expect(full.localizedDescription == full.description)
        #expect("\(EventStoreError.storage(full))" == full.description)
        let explained = LMDBError(code: 5, operation: "mdb_txn_commit", detail: "the disk is full")
        #expect("\(explained)" == "mdb_txn_commit failed: the disk is full (Input/output error, code 5)")

        // The wrapper's own error, from an environment read after it closed.
        try FileManager.default.createDirectory(atPath: directory.path + "-lmdb", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory.path + "-lmdb") }
        let environment = try Environment(path: directory.path + "-lmdb", options: Environment.Options())
        environment.close()
        #expect {
            try environment.read { _ in }
        } throws: { error in
            let closed = try #require(error as? EnvironmentClosed)
            return "\(closed)".hasSuffix(": the environment at \(directory.path)-lmdb is closed")
                && closed.localizedDescription == closed.description
        }
    }
}
