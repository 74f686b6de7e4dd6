import Foundation
import Testing

/// Damaged stores and leftovers: a truncated or altered data file, a missing or foreign lock file,
/// a directory that is not a store, a newer format. Each is refused with exit 3 and a reason, or repaired, never a
/// crash; `reel audit verify` names the damaged position. Every refusal leaves `data.mdb` as it was.
@Suite("Damaged stores and leftovers")
struct DamagedStoreTests {
    /// A store of 7 events made by `reel append`: project A (position 1), project B whose 20,012-byte title makes its
    /// record and its projection row LMDB overflow values (position 2), then 5 scene images of A.
    struct Sample {
        let path: String
        let bigProject: String
    }

    /// Part of project B's title.
    static let marker = "FLIP-ME-HERE"

    static func makeSample() throws -> Sample {
        let path = temporaryStorePath()
        let (small, big) = (uuid(), uuid())
        var lines = [
            inputLine("project.created", ["project_id": .string(small), "title": "small"]),
            inputLine(
                "project.created",
                [
                    "project_id": .string(big),
                    "title": .string(String(repeating: "B", count: 10_000) + marker + String(repeating: "B", count: 10_000)),
                ]),
        ]
        for scene in 0..<5 {
            lines.append(
                inputLine(
                    "scene_image.saved",
                    ["project_id": .string(small), "scene_index": .int(scene), "image_url": .string("https://cdn/\(scene).png")]))
        }
        let run = try append(ndjson(lines), to: path)
        #expect(run.status == 0, "\(run)")
        try expectVerified(path)
        return Sample(path: path, bigProject: big)
    }

    static func dataFile(_ store: String) -> URL { URL(fileURLWithPath: store + "/data.mdb") }

    /// Every offset where `pattern` starts.
    static func offsets(of pattern: [UInt8], in bytes: [UInt8]) -> [Int] {
        guard bytes.count >= pattern.count else { return [] }
        return (0...(bytes.count - pattern.count)).filter {
            bytes[$0] == pattern[0] && bytes[$0..<$0 + pattern.count].elementsEqual(pattern)
        }
    }

    /// Runs `reel` and expects exit 3 with `reason` on stderr, no crash, and `data.mdb` unchanged (when there is one).
    static func expectRefused(
        _ arguments: [String], input: String? = nil, store: String, reason: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let before = try? Data(contentsOf: dataFile(store))
        let run = try reel(arguments + ["--store", store], input: input)
        #expect(run.status == 3, "reel \(arguments.joined(separator: " ")): \(run)", sourceLocation: sourceLocation)
        #expect(run.stderr.contains(reason), "reel \(arguments.joined(separator: " ")): \(run)", sourceLocation: sourceLocation)
        #expect(!run.stderr.contains("crashed"), "\(run)", sourceLocation: sourceLocation)
        #expect((try? Data(contentsOf: dataFile(store))) == before, "data.mdb is left as it was", sourceLocation: sourceLocation)
    }

    static let oneLine = inputLine("project.created", ["project_id": .string(uuid())]) + "\n"

    @Test("a truncated data file: verify says so (exit 1), every other command exits 3, never a SIGBUS in LMDB's reader")
    func truncated() throws {
        let sample = try Self.makeSample()
        defer { remove(sample.path) }
        let original = try Data(contentsOf: Self.dataFile(sample.path))
        let size = original.count
        for length in [8_192, size / 2, size - 4_096] {
            // Each length cuts the whole file: a file cut shorter before would only be padded with zeros.
            try original.prefix(length).write(to: Self.dataFile(sample.path))
            // LMDB's file never shrinks, so its last page may be one a later commit freed: cutting only free pages
            // leaves a healthy store, which must open and read whole. Every other cut is refused.
            if length == size - 4_096, try reel(["verify", "--store", sample.path]).status == 0 {
                let read = try reel(["read", "--store", sample.path])
                #expect(read.status == 0 && read.stdout.split(separator: "\n").count == 7, "\(read)")
                continue
            }
            for command in [["read"], ["stats"], ["query", "images-by-scene", "--project", sample.bigProject]] {
                try Self.expectRefused(
                    command, store: sample.path, reason: "the file was truncated")
            }
            // verify finds it (exit 1), as it does every damage.
            let verified = try reel(["verify", "--store", sample.path])
            #expect(verified.status == 1 && verified.stdout.contains("truncated"), "\(verified)")
            try Self.expectRefused(["append"], input: Self.oneLine, store: sample.path, reason: "the file was truncated")
        }
        // Truncated to nothing: LMDB would take it for a new store; a read-only command says what it is.
        try FileHandle(forWritingTo: Self.dataFile(sample.path)).truncate(atOffset: 0)
        try Self.expectRefused(["verify"], store: sample.path, reason: "data.mdb is empty")
    }

    @Test("a flipped byte in an event's data: reel audit verify names its position")
    func flippedRecordByte() throws {
        let sample = try Self.makeSample()
        defer { remove(sample.path) }
        var bytes = try [UInt8](Data(contentsOf: Self.dataFile(sample.path)))
        // The title is in the log record and in the projection's row; LMDB copies pages on write, so stale copies
        // may sit in free pages too: flip the byte in every copy ("FLIP" becomes "FLIQ").
        let copies = Self.offsets(of: Array(Self.marker.utf8), in: bytes)
        #expect(!copies.isEmpty)
        for offset in copies { bytes[offset + 3] ^= 0x01 }
        try Data(bytes).write(to: Self.dataFile(sample.path))

        let run = try reel(["audit", "verify", "--store", sample.path])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdoutLines.contains("position 2: hash mismatch: the record or the one before it was altered"), "\(run)")
    }

    /// The leaf node of an LMDB overflow value: `mn_lo`, `mn_hi` (the value's size, in the machine's byte order),
    /// `mn_flags` = `F_BIGDATA`, `mn_ksize`, then the key. Adds 1 MiB to the size in every copy: LMDB then lends a value
    /// that reaches past the end of `data.mdb`.
    static func growOverflowValue(in store: String, key: [UInt8]) throws {
        var bytes = try [UInt8](Data(contentsOf: dataFile(store)))
        let nodes = offsets(of: [0x01, 0x00, UInt8(key.count), 0x00] + key, in: bytes).map { $0 - 4 }
        #expect(!nodes.isEmpty, "the overflow node is found")
        for node in nodes { bytes[node + 2] &+= 0x10 }
        try Data(bytes).write(to: dataFile(store))
    }

    @Test("a damaged size of a stored record: verify names its page and tree, the other commands exit 3")
    func damagedRecordSize() throws {
        let sample = try Self.makeSample()
        defer { remove(sample.path) }
        try Self.growOverflowValue(in: sample.path, key: [0, 0, 0, 0, 0, 0, 0, 2])  // the log's key for position 2
        // verify reads the pages first, without LMDB: the value's size claims pages that are not its own.
        let run = try reel(["audit", "verify", "--store", sample.path])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdoutLines.first?.contains("(reel.log)") == true, "\(run)")
        try Self.expectRefused(["read"], store: sample.path, reason: "corrupt record at position 2")
        try Self.expectRefused(["export"], store: sample.path, reason: "corrupt record at position 2")
    }

    @Test("a damaged size of a projection row LMDB would follow past the end of the file: verify names its page, never a SIGBUS")
    func damagedProjectionValueSize() throws {
        let sample = try Self.makeSample()
        defer { remove(sample.path) }
        let id = try #require(UUID(uuidString: sample.bigProject))
        try Self.growOverflowValue(in: sample.path, key: withUnsafeBytes(of: id.uuid) { Array($0) })  // the project's row
        // verify names the page, read without LMDB (reading the row through LMDB would fault past the end of the file).
        let run = try reel(["audit", "verify", "--store", sample.path])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdoutLines.first?.contains("(proj.media.") == true, "\(run)")
    }

    @Test("a missing or unrecognised lock file is rebuilt; a directory, or garbage another process holds open, is refused")
    func lockFile() throws {
        let sample = try Self.makeSample()
        defer { remove(sample.path) }
        let lock = sample.path + "/lock.mdb"

        remove(lock)
        try expectVerified(sample.path)
        #expect(exists(lock), "LMDB made a new lock file")

        try Data((0..<8_192).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7) }).write(to: URL(fileURLWithPath: lock))
        try expectVerified(sample.path)  // LMDB rebuilds the reader table of a lock file no process has open
        #expect(try append(Self.oneLine, to: sample.path).status == 0)

        // Garbage in a lock file another process holds open (a shared lock on byte 0, as LMDB's own users hold it).
        try Data(repeating: 0xEE, count: 8_192).write(to: URL(fileURLWithPath: lock))
        let descriptor = open(lock, O_RDWR)
        #expect(descriptor >= 0)
        var shared = flock()
        shared.l_type = Int16(F_RDLCK)
        shared.l_whence = Int16(SEEK_SET)
        shared.l_start = 0
        shared.l_len = 1
        #expect(fcntl(descriptor, F_SETLK, &shared) == 0)
        try Self.expectRefused(["verify"], store: sample.path, reason: "lock.mdb is not an LMDB lock file")
        close(descriptor)  // releases the lock: LMDB may now rebuild the file
        try expectVerified(sample.path)

        remove(lock)
        try FileManager.default.createDirectory(atPath: lock, withIntermediateDirectories: false)
        try Self.expectRefused(["verify"], store: sample.path, reason: "lock.mdb is a directory")
        try Self.expectRefused(["append"], input: Self.oneLine, store: sample.path, reason: "lock.mdb is a directory")
        remove(lock)
        try expectVerified(sample.path)
    }

    @Test("a directory that is not a store: exit 3 with the reason, and nothing is created in it")
    func notAStore() throws {
        let directory = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { remove(directory) }
        try Data("notes".utf8).write(to: URL(fileURLWithPath: directory + "/notes.txt"))
        for command in [["verify"], ["read"], ["stats"]] {
            try Self.expectRefused(command, store: directory, reason: "is not a Reel store: no data.mdb in it")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["notes.txt"], "a read-only command creates nothing")

        let file = directory + "/notes.txt"
        try Self.expectRefused(["verify"], store: file, reason: "is not a Reel store")
        try Self.expectRefused(["append"], input: Self.oneLine, store: file, reason: "cannot create the directory")

        let garbage = directory + "/garbage"
        try FileManager.default.createDirectory(atPath: garbage, withIntermediateDirectories: false)
        try Data((0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 3) }).write(to: Self.dataFile(garbage))
        try Self.expectRefused(["verify"], store: garbage, reason: "data.mdb is not an LMDB data file")
        try Self.expectRefused(["append"], input: Self.oneLine, store: garbage, reason: "data.mdb is not an LMDB data file")

        let nested = directory + "/nested"
        try FileManager.default.createDirectory(atPath: nested + "/data.mdb", withIntermediateDirectories: true)
        try Self.expectRefused(["append"], input: Self.oneLine, store: nested, reason: "data.mdb is a directory")
    }

    @Test("a store written by a newer format, or by an incompatible LMDB, is refused with exit 3")
    func newerFormat() throws {
        let sample = try Self.makeSample()
        defer { remove(sample.path) }
        // reel.meta's `format` key and its u32 value, big-endian: 1 becomes 99 (in every copy of the page).
        var bytes = try [UInt8](Data(contentsOf: Self.dataFile(sample.path)))
        let values = Self.offsets(of: Array("format".utf8) + [0, 0, 0, 1], in: bytes)
        #expect(!values.isEmpty)
        for offset in values { bytes[offset + 9] = 99 }
        try Data(bytes).write(to: Self.dataFile(sample.path))
        for command in [["verify"], ["read"]] {
            try Self.expectRefused(command, store: sample.path, reason: "the store has format 99, newer than this Reel's 1")
        }
        try Self.expectRefused(["append"], input: Self.oneLine, store: sample.path, reason: "format 99")

        // LMDB's own data format: both meta pages (magic 0xBEEFC0DE, then the version, 1) say version 2.
        var lmdb = try [UInt8](Data(contentsOf: Self.dataFile(sample.path)))
        let metas = Self.offsets(of: [0xDE, 0xC0, 0xEF, 0xBE, 1, 0, 0, 0], in: lmdb).filter { $0 < 1 << 17 && $0 % 4_096 == 16 }
        #expect(metas.count == 2)
        for offset in metas { lmdb[offset + 4] = 2 }
        try Data(lmdb).write(to: Self.dataFile(sample.path))
        try Self.expectRefused(["verify"], store: sample.path, reason: "data.mdb was written by an incompatible LMDB version")
    }
}
