import Foundation
import LMDB

extension Store {
    /// The engine's own databases, which every store has; flags: none.
    static let engineDatabases = ["reel.meta", "reel.log", "reel.streams", "reel.stream-events", "reel.ids", "reel.checkpoints"]

    /// Checks every page of the store in `path` — every B-tree, the free list, the meta pages (`PageAudit` in the LMDB module) — and
    /// that its named databases are the engine's and those of `projections`, with the flags they are made with.
    ///
    /// Reads only, with `pread`: a damaged page is reported, never read through the map (no fault, no LMDB
    /// assertion). Works on a store another process writes to (one snapshot is pinned), and on one LMDB refuses to open
    /// (a damaged meta page). Run it before opening a store that may be damaged: ``verify()`` reads through LMDB.
    ///
    /// - Returns: Every problem found, the first damaged page first; empty when the store's pages are sound.
    /// - Throws: ``EventStoreError/notAStore(path:reason:)`` when `path` holds no store at all.
    public static func checkPages(at path: String, projections: [any Projection] = []) throws -> [IntegrityProblem] {
        let dataFile = (path as NSString).appendingPathComponent("data.mdb")
        guard FileManager.default.fileExists(atPath: dataFile) else {
            throw EventStoreError.notAStore(path: path, reason: "no data.mdb in it")
        }
        var options = Environment.Options()
        options.readOnly = true
        let report: PageAuditReport
        do {
            let environment = try Environment(path: path, options: options)
            defer { environment.close() }
            report = try environment.auditPages()
        } catch let error as LMDBError where error.kind == .invalidFile || error.kind == .corrupted {
            // An empty data.mdb holds no store (a creation cut short): the open says what it is.
            if (try? FileManager.default.attributesOfItem(atPath: dataFile)[.size] as? Int) == 0 {
                throw EventStoreError.notAStore(path: path, reason: error.description)
            }
            // LMDB refuses the file (a damaged meta page) or the open found it cut short: read it without LMDB.
            let unpinned = try? PageAudit.audit(directory: path)
            // Neither meta page is LMDB's (of this version): not a store, rather than a damaged one.
            guard let unpinned, !unpinned.problems.isEmpty, unpinned.recognisedMetaPages > 0 else {
                if error.kind == .corrupted { return [IntegrityProblem(location: .file, message: error.detail ?? error.description)] }
                throw EventStoreError.notAStore(path: path, reason: error.description)
            }
            report = unpinned
        } catch let error as LMDBError {
            throw EventStoreError.storage(error)
        }
        let pages = report.problems.map { IntegrityProblem(location: .page($0.page, tree: $0.tree), message: $0.message) }
        guard pages.isEmpty else { return pages }
        return databaseProblems(report.trees, projections: projections)
    }

    /// ``checkPages(at:projections:)`` on this open store, as of one pinned snapshot (a process may open a store once:
    /// this one's own environment is walked). Writers go on meanwhile.
    public func checkPages(projections: [any Projection]) throws -> [IntegrityProblem] {
        let report: PageAuditReport
        do {
            report = try environment.auditPages()
        } catch {
            throw EventStoreError.wrap(error)
        }
        let pages = report.problems.map { IntegrityProblem(location: .page($0.page, tree: $0.tree), message: $0.message) }
        guard pages.isEmpty else { return pages }
        return Self.databaseProblems(report.trees, projections: projections)
    }

    /// The named databases against what the engine and the projections make: a name lost or altered, flags changed.
    static func databaseProblems(_ trees: [PageAuditReport.Tree], projections: [any Projection]) -> [IntegrityProblem] {
        var expected: [String: UInt32] = [:]
        for name in engineDatabases { expected[name] = 0 }
        for projection in projections {
            for spec in projection.databases {
                for suffix in RegisteredProjection.generationSuffixes {
                    expected[Layout.projectionDatabaseName(projection.name, spec.name, generation: suffix)] = spec.flags.subtracting(.create).rawValue
                }
            }
        }
        var problems: [IntegrityProblem] = []
        let present = Dictionary(trees.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        // A store without reel.meta is not one; the open says so.
        guard present["reel.meta"] != nil || trees.isEmpty == false else { return [] }
        for name in engineDatabases where present[name] == nil {
            problems.append(IntegrityProblem(location: .index(name), message: "the database is missing: its entry in the main tree was lost or altered"))
        }
        for tree in trees {
            if let flags = expected[tree.name] {
                if tree.flags != flags {
                    problems.append(
                        IntegrityProblem(
                            location: .index(tree.name),
                            message: "made with flags 0x\(String(tree.flags, radix: 16)), where the store makes it with 0x\(String(flags, radix: 16))"))
                }
            } else if tree.name.hasPrefix("reel.") || projections.contains(where: { tree.name.hasPrefix("proj.\($0.name).") && !tree.name.dropFirst("proj.\($0.name).".count).contains(".") }) {
                // The engine's namespace, or an undeclared database of a registered projection: a name altered (an
                // older version's databases are dropped by the writable open that rebuilds it).
                problems.append(IntegrityProblem(location: .index(tree.name), message: "a database the store does not make: a name altered?"))
            }
        }
        return problems
    }
}
