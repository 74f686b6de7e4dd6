import EventStore
import Foundation

/// What `reel stats --json` and the service's `GET /v1/stats` print, and the checks of `reel audit verify` and
/// `GET /v1/audit/verify`, made in one place so the two never differ.
extension MediaStore {
    /// Counts and sizes of the store as one JSON object: `events`, `streams`, `file_bytes`, `used_bytes`, `types` (each
    /// event type's count, or `null` when the type index is not served), `projections` (name, version, checkpoint,
    /// bytes, entries) and, when some are not served, `unserved_projections` (name → reason).
    public func statisticsJSON() throws -> JSONValue {
        let (stats, types, _) = try statisticsAndTypes()
        var o = JSONObject()
        o.set("events", .number(JSONNumber(Int(stats.events))))
        o.set("streams", .number(JSONNumber(stats.streams)))
        o.set("file_bytes", .number(JSONNumber(stats.fileBytes)))
        o.set("used_bytes", .number(JSONNumber(stats.usedBytes)))
        if let types {
            var byType = JSONObject()
            for (type, count) in types { byType.set(type, .number(JSONNumber(count))) }
            o.set("types", .object(byType))
        } else {
            o.set("types", .null)
        }
        o.set(
            "projections",
            .array(
                stats.projections.map { p in
                    var j = JSONObject()
                    j.set("name", .string(p.name))
                    j.set("version", .number(JSONNumber(Int(p.version))))
                    j.set("checkpoint", .number(JSONNumber(Int(p.checkpoint))))
                    j.set("bytes", .number(JSONNumber(p.bytes)))
                    j.set("entries", .number(JSONNumber(p.entries)))
                    return .object(j)
                }))
        if !store.unservedProjections.isEmpty {
            var unserved = JSONObject()
            for (name, reason) in store.unservedProjections.sorted(by: { $0.key < $1.key }) { unserved.set(name, .string("\(reason)")) }
            o.set("unserved_projections", .object(unserved))
        }
        return .object(o)
    }

    /// The store's statistics and its per-type counts (nil, with the reason, when the type index is not served).
    public func statisticsAndTypes() throws -> (StoreStatistics, [(type: String, count: Int)]?, EventStoreError?) {
        let stats = try store.statistics()
        do {
            let types = try store.read { try EventTypeIndex.counts(in: $0) }.map { (type: $0.type, count: $0.count) }
            return (stats, types, nil)
        } catch let error as EventStoreError {
            switch error {
            case .projectionOutdated, .projectionNotBuilt, .projectionBehind: return (stats, nil, error)
            default: throw error
            }
        }
    }

    /// Every check of `reel audit verify` on this open store: its pages (`Store.checkPages(projections:)`), then — when they are
    /// sound — the log, the indexes and `reel.meta` (`Store.verify()`) and, unless `logOnly`, every projection against
    /// a fold from scratch (`Store.verifyProjections()`), and, for a node of a cluster, its log of record
    /// (`Store.verifyLogOfRecord()`). Empty when the store is sound.
    public func audit(logOnly: Bool = false) throws -> [IntegrityProblem] {
        let pages = try store.checkPages(projections: Self.projections)
        guard pages.isEmpty else { return pages }
        return try store.verify() + (logOnly ? [] : store.verifyProjections()) + store.verifyLogOfRecord()
    }
}
