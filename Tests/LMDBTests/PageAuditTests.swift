import Foundation
import LMDB
import Testing

private func temporaryPath() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-audit-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A small deterministic generator (SplitMix64), so that a failing seed replays exactly.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed of a property test: `REEL_TEST_SEED` when set (to replay one), else a new one; printed either way.
func propertySeed(_ name: String) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["REEL_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
    print("\(name): seed \(seed) (replay with REEL_TEST_SEED=\(seed))")
    return seed
}

private func size(of path: String) -> Int {
    (try? FileManager.default.attributesOfItem(atPath: path + "/data.mdb")[.size] as? Int) ?? 0
}

/// The three kinds of database a store uses, opened in `environment`.
private struct Databases {
    let plain: Database
    let duplicates: Database
    let fixed: Database

    init(_ environment: Environment) throws {
        (plain, duplicates, fixed) = try environment.openDatabases { txn in
            (
                try txn.openDatabase("plain", flags: .create),
                try txn.openDatabase("dups", flags: [.create, .duplicateSort]),
                try txn.openDatabase("fixed", flags: [.create, .duplicateSort, .duplicateFixed])
            )
        }
    }
}

/// One write transaction of a random workload: values from a few bytes to several pages, deletes, duplicates, a large
/// value taken and freed again in the same transaction, now and then a database emptied.
private func randomTransaction(_ environment: Environment, _ databases: Databases, _ random: inout SeededGenerator) throws {
    let count = Int.random(in: 0...150, using: &random)
    let bigSize = 4096 * Int.random(in: 1...200, using: &random)
    let dropBig = Bool.random(using: &random)
    let clear = Int.random(in: 0..<25, using: &random) == 0
    let operations = (0..<count).map { _ in
        (Int.random(in: 0..<10, using: &random), Int.random(in: 0..<3_000, using: &random), Int.random(in: 1...9_000, using: &random))
    }
    try environment.write { txn in
        for (kind, number, length) in operations {
            let key = Array(String(format: "k%05d", number).utf8)
            switch kind {
            case 0...3: try txn.put(databases.plain, key, [UInt8](repeating: UInt8(truncatingIfNeeded: number), count: length))
            case 4: try txn.delete(databases.plain, key)
            case 5...6: try txn.put(databases.duplicates, Array(key.prefix(4)), Array(String(format: "value-%06d", length).utf8))
            case 7...8:
                for step in 0..<8 {
                    try txn.put(databases.fixed, Array(key.prefix(2)), withUnsafeBytes(of: UInt64(length * 30_000 + number * 8 + step).bigEndian, Array.init))
                }
            default:
                // One key's values all go now and then; otherwise a value or none.
                if number % 700 == 0 { try txn.delete(databases.fixed, Array(key.prefix(2))) }
                else { try txn.delete(databases.plain, key) }
            }
        }
        try txn.put(databases.plain, Array("big".utf8), [UInt8](repeating: 7, count: bigSize))
        if dropBig { try txn.delete(databases.plain, Array("big".utf8)) }
        if clear { try txn.drop(databases.duplicates) }
    }
}

@Suite("Page audit and short files")
struct PageAuditTests {
    @Test("pages taken and freed again by one transaction leave the file short of its last page; the store opens and audits sound")
    func shortTailIsHealthy() throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var random = SeededGenerator(seed: 7)
        var shortRounds = 0
        for round in 0..<40 {
            do {
                let environment = try Environment(path: path)
                let databases = try Databases(environment)
                try randomTransaction(environment, databases, &random)
                let report = try environment.auditPages()
                #expect(report.problems == [], "round \(round)")
                if report.fileSize < Int(report.lastPage + 1) * report.pageSize { shortRounds += 1 }
                environment.close()
            }
            // Reopened both ways: neither refuses the short file.
            var readOnly = Environment.Options()
            readOnly.readOnly = true
            let reader = try Environment(path: path, options: readOnly)
            #expect(try reader.auditPages().problems == [])
            reader.close()
        }
        #expect(shortRounds > 0, "no round left the file short of its last page")
        #expect(try PageAudit.audit(directory: path).isSound)
    }

    @Test("random workloads of plain values, duplicates, fixed-size duplicates and overflow values audit sound and reopen read-only and writable after every transaction")
    func randomWorkloadsAuditSound() throws {
        let seed = propertySeed("randomWorkloadsAuditSound")
        var random = SeededGenerator(seed: seed)
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var environment: Environment? = try Environment(path: path)
        var databases = try Databases(environment!)
        var kinds = Set<PageAuditReport.PageKind>()
        for round in 0..<60 {
            try randomTransaction(environment!, databases, &random)
            let report = try environment!.auditPages(recordingKinds: true)
            #expect(report.problems == [], "seed \(seed), round \(round)")
            kinds.formUnion(report.kinds ?? [])
            do {
                environment!.close()
                var readOnly = Environment.Options()
                readOnly.readOnly = true
                let reader = try Environment(path: path, options: readOnly)
                #expect(try reader.auditPages().problems == [], "seed \(seed), round \(round), read-only")
                reader.close()
                environment = try Environment(path: path)
                databases = try Databases(environment!)
            }
        }
        // The workload reaches every kind of page the audit knows.
        #expect(kinds.isSuperset(of: [.meta, .branch, .leaf, .leaf2, .overflow, .free]), "seed \(seed): kinds \(kinds)")
        environment!.close()
        #expect(try PageAudit.audit(directory: path).problems == [])
    }

    @Test("a data file cut short of a page in use is refused at open with the page, never read past its end")
    func truncatedFileIsRefused() throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var random = SeededGenerator(seed: 11)
        let environment = try Environment(path: path)
        let databases = try Databases(environment)
        for _ in 0..<5 { try randomTransaction(environment, databases, &random) }
        let report = try environment.auditPages(recordingKinds: true)
        environment.close()
        // Cut the file just before the last page that is in a tree.
        let kinds = try #require(report.kinds)
        let last = try #require(kinds.lastIndex { $0 != .free && $0 != .unused })
        #expect(truncate(path + "/data.mdb", off_t(last * report.pageSize)) == 0)
        for readOnly in [false, true] {
            var options = Environment.Options()
            options.readOnly = readOnly
            #expect {
                _ = try Environment(path: path, options: options)
            } throws: { error in
                guard let error = error as? LMDBError, error.kind == .corrupted else { return false }
                return "\(error)".contains("page \(last)") && "\(error)".contains("truncated")
            }
        }
        #expect(try !PageAudit.audit(directory: path).isSound)
    }

    @Test("a page whose type flag is cleared is named with its tree")
    func flippedFlagIsFound() throws {
        let path = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var random = SeededGenerator(seed: 5)
        let environment = try Environment(path: path)
        let databases = try Databases(environment)
        for _ in 0..<8 { try randomTransaction(environment, databases, &random) }
        let report = try environment.auditPages(recordingKinds: true)
        environment.close()
        let kinds = try #require(report.kinds)
        for kind in [PageAuditReport.PageKind.leaf, .branch, .leaf2] {
            let page = try #require(kinds.firstIndex(of: kind), "no \(kind) page")
            let file = try FileHandle(forUpdating: URL(fileURLWithPath: path + "/data.mdb"))
            let offset = UInt64(page * report.pageSize + 10)
            try file.seek(toOffset: offset)
            let original = try #require(try file.read(upToCount: 1)).first!
            try file.seek(toOffset: offset)
            try file.write(contentsOf: [original ^ (kind == .branch ? 0x01 : 0x02)])
            let damaged = try PageAudit.audit(directory: path)
            #expect(damaged.problems.first?.page == UInt64(page), "\(kind): \(damaged.problems)")
            try file.seek(toOffset: offset)
            try file.write(contentsOf: [original])
            try file.close()
        }
        #expect(try PageAudit.audit(directory: path).isSound)
    }
}
