import Foundation
import Testing

@Suite("lock.mdb removed under running processes")
struct LockFileTests {
    /// NDJSON lines of one production of the test driver.
    static func lines(_ count: Int, seed: UInt64) throws -> String {
        let run = try Child("reel-test-driver", ["media-lines", String(count), "--seed", String(seed)]).wait()
        #expect(run.status == 0, "\(run)")
        return run.stdout
    }

    @Test("lock.mdb removed while an append runs and a reader holds the store open: no second writer gets in, and every acknowledged event is there")
    func removedLockFile() throws {
        let seed = testSeed("removedLockFile")
        var random = SeededGenerator(seed: seed)
        let first = try temporaryFile(try Self.lines(4_000, seed: seed))
        let second = try temporaryFile(try Self.lines(300, seed: seed &+ 1))
        defer { remove(first); remove(second) }
        var refusals = 0
        for round in 0..<20 {
            let store = temporaryStorePath()
            defer { remove(store) }
            let stop = store + ".stop"
            defer { remove(stop) }
            #expect(try append(inputLine("project.created", ["project_id": .string(uuid())]) + "\n", to: store).status == 0)
            // A reader in its own process, checking snapshot after snapshot until told to stop.
            let reader = try Child("reel-test-driver", ["check", store, "--until", stop])
            let writer = try Child("reel", ["append", "--store", store, first])
            // Once the append is under way (it has committed something), a moment later, the lock file goes.
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let stats = try reel(["stats", "--json", "--store", store])
                if stats.status == 0, let events = try? parseObject(stats.stdout)["events"] as? Int, events > 1 { break }
                Thread.sleep(forTimeInterval: 0.01)
            }
            Thread.sleep(forTimeInterval: Double.random(in: 0...0.3, using: &random))
            #expect(unlink(store + "/lock.mdb") == 0, "round \(round): lock.mdb is there to remove")
            // A second writer, and a reader, opened now: each finds processes using the old lock file.
            let late = try reel(["append", "--store", store, second])
            let lateReader = try reel(["read", "--store", store, "--limit", "1"])
            let first = writer.wait()
            #expect(first.status == 0, "round \(round): the running append finishes: \(first)")
            FileManager.default.createFile(atPath: stop, contents: nil)
            let checked = reader.wait()
            #expect(checked.status == 0, "round \(round): every snapshot the reader saw was sound: \(checked.stdout.suffix(2_000))")
            for run in [late, lateReader] where run.status != 0 {
                #expect(run.status == 3, "round \(round): \(run)")
                #expect(run.stderr.contains("lock.mdb was removed or replaced"), "round \(round): \(run)")
            }
            var expected = 1 + 4_000
            if late.status == 0 {
                expected += 300
            } else {
                refusals += 1
                // With every process of the old lock file gone, the store opens again.
                #expect(try reel(["append", "--store", store, second]).status == 0, "round \(round)")
                expected += 300
            }
            try expectVerified(store)
            let stats = try parseObject(try reel(["stats", "--json", "--store", store]).stdout)
            #expect(stats["events"] as? Int == expected, "round \(round): every acknowledged event is stored")
        }
        // The reader held the store open throughout: the late writer was always refused.
        #expect(refusals == 20)
    }
}
