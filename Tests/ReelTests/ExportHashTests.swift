import Crypto
import Foundation
import Testing

/// Tamper-evident: the canonical bytes are defined in docs/FORMAT.md precisely enough that an
/// independent program can recompute every hash from an export alone". This is such a program, written from
/// docs/FORMAT.md ("From an export line to the canonical bytes") without the engine's code: it reads `reel export`'s
/// text and nothing else.
@Suite("Hashes recomputed from an export by the documented recipe")
struct ExportHashTests {
    @Test("every hash of an export follows from its text: data as it stands, metadata flags, times, ids, the chain")
    func recomputeFromExport() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let (user, story, root, shot) = (uuid(), uuid(), uuid(), uuid())
        // Data that a re-encoder would get wrong: number text kept (1.50, 1E3, -0, 2e-1), keys ordered by UTF-8 bytes
        // (é < U+E000 < 😀, where UTF-16 would put 😀 before U+E000), escapes, `/` and non-ASCII as themselves;
        // metadata given out of order, an empty actor (present, length 0) and absent keys.
        let lines = [
            #"{"type":"user.registered","data":{"user_id":"\#(user.uppercased())","email":"Ünïcødé@studio.example"},"metadata":{"correlation_id":"c-1","actor":""}}"#,
            #"{"type":"story.created","data":{"title":"Tab\there \"quoted\" back\\slash \/slash \u0001 😀 \u00e9","story_id":"\#(story)"},"metadata":{"causation_id":"x","actor":"a"}}"#,
            #"{"type":"scenelet.added","data":{"story_id":"\#(story)","scenelet_id":"\#(root)","content":{"z":1.50,"a":1E3,"m":[-0,2e-1,true,false,null,{}],"😀":"astral","é":"latin","\#u{E000}":"private use","":[]}}}"#,
            #"{"type":"shot.planned","data":{"shot_id":"\#(shot)","scenelet_id":"\#(root)","shot_index":1,"storyboard_payload":{"b":{"d":0.0,"c":-12.5e+3},"a":"\u001f"}}}"#,
            #"{"type":"scenelet.updated","data":{"scenelet_id":"\#(root)","choice_prompt":"Which way?","is_branch_point":true}}"#,
        ]
        let appended = try append(ndjson(lines), to: store)
        try #require(appended.status == 0, "\(appended)")
        let export = try reel(["export", "--store", store])
        try #require(export.status == 0, "\(export)")
        var exported = export.stdoutLines
        let last = exported.popLast()
        let end = try #require(last, "the end line")
        #expect(exported.count == lines.count)

        var previous = [UInt8](repeating: 0, count: 32)
        for line in exported {
            let fields = try parseObject(line)
            var canonical: [UInt8] = []
            let position = try #require(fields["position"] as? Int)
            let stream = try #require(fields["stream"] as? String)
            let version = try #require(fields["version"] as? Int)
            let id = try #require(fields["id"] as? String)
            let type = try #require(fields["type"] as? String)
            let recordedAt = try #require(fields["recorded_at"] as? String)
            canonical += bigEndian(UInt64(position))
            canonical += lengthPrefixed(stream)
            canonical += bigEndian(UInt64(version))
            canonical += try uuidBytes(id)
            canonical += lengthPrefixed(type)
            canonical += bigEndian(UInt64(bitPattern: try milliseconds(recordedAt)))
            // data: the text between `,"data":` and the suffix that the metadata and the hash determine.
            let metadata = try #require(fields["metadata"] as? [String: String], "\(line)")
            #expect(Set(metadata.keys).isSubset(of: ["actor", "correlation_id", "causation_id"]))
            let hash = try #require(fields["hash"] as? String)
            let meta = "{" + ["actor", "correlation_id", "causation_id"].compactMap { key in
                metadata[key].map { "\(jsonString(key)):\(jsonString($0))" }
            }.joined(separator: ",") + "}"
            let suffix = Array(",\"metadata\":\(meta),\"hash\":\"\(hash)\"}".utf8)
            let bytes = Array(line.utf8)
            let afterTime = try #require(firstRange(of: Array("\"recorded_at\":".utf8), in: bytes, after: 0))
            let start = try #require(firstRange(of: Array(",\"data\":".utf8), in: bytes, after: afterTime))
            #expect(Array(bytes.suffix(suffix.count)) == suffix, "the line ends with its metadata and hash: \(line)")
            let data = Array(bytes[start..<(bytes.count - suffix.count)])
            canonical += bigEndian(UInt32(data.count)) + data
            for key in ["actor", "correlation_id", "causation_id"] {
                if let value = metadata[key] {
                    canonical += [1] + lengthPrefixed(value)
                } else {
                    canonical += [0] + bigEndian(UInt32(0))
                }
            }
            let computed = Array(SHA256.hash(data: previous + canonical))
            #expect(hex(computed) == hash, "position \(fields["position"] ?? "?"): \(line)")
            previous = computed
        }
        // The end line: the count, the last position and the last hash just recomputed.
        #expect(end == #"{"end":{"events":\#(lines.count),"last_position":\#(lines.count),"last_hash":"\#(hex(previous))"}}"#, "\(end)")
        // The cases the recipe is about did reach the export as written.
        #expect(exported[2].contains(#""content":{"":[],"a":1E3,"m":[-0,2e-1,true,false,null,{}],"z":1.50,"é":"latin","\#u{E000}":"private use","😀":"astral"}"#), "\(exported[2])")
        #expect(exported[1].contains(#""title":"Tab\there \"quoted\" back\\slash /slash \u0001 😀 é""#), "\(exported[1])")
        #expect(exported[0].contains(#""metadata":{"actor":"","correlation_id":"c-1"}"#), "\(exported[0])")
        try expectVerified(store)
    }

    // MARK: The recipe's pieces

    private func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    private func lengthPrefixed(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        return bigEndian(UInt32(bytes.count)) + bytes
    }

    private func uuidBytes(_ text: String) throws -> [UInt8] {
        let digits = Array(text.replacingOccurrences(of: "-", with: "").utf8)
        try #require(digits.count == 32 && text == text.lowercased(), "not a lower-case UUID: \(text)")
        return try stride(from: 0, to: 32, by: 2).map { index in
            let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16)
            return try #require(byte)
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` to milliseconds since the epoch (days from the civil date, proleptic Gregorian).
    private func milliseconds(_ text: String) throws -> Int64 {
        let match = try #require(text.wholeMatch(of: /(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z/), "not a time: \(text)")
        let (y0, m, d) = (Int64(match.1)!, Int64(match.2)!, Int64(match.3)!)
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = ((days * 24 + Int64(match.4)!) * 60 + Int64(match.5)!) * 60 + Int64(match.6)!
        return seconds * 1000 + Int64(match.7)!
    }

    /// A JSON string as the canonical form writes it.
    private func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private func firstRange(of needle: [UInt8], in bytes: [UInt8], after start: Int) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        for index in start...(bytes.count - needle.count) where bytes[index..<index + needle.count].elementsEqual(needle) {
            return index + needle.count
        }
        return nil
    }

    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
