import Crypto
import Foundation

/// The on-disk form of one event (record format 1), and its hash.
///
/// The value stored under a position in the `log` database is
///
///     u8  record format (1)
///     32  hash
///     u64 position of the previous event of the same stream (0 for its first) — index data, not hashed
///     …   canonical bytes
///
/// and the canonical bytes, which the hash covers, are (integers big-endian, strings UTF-8):
///
///     u64 position
///     u32 stream length,   stream
///     u64 version
///     16  id (the UUID's 16 bytes)
///     u32 type length,     type
///     i64 recorded_at, milliseconds since the Unix epoch (two's complement)
///     u32 data length,     data
///     3 × (u8 present 0/1, u32 length, text)   actor, correlation_id, causation_id
///
/// hash = SHA-256(previous hash ‖ canonical bytes), 32 zero bytes standing in before position 1.
/// `docs/FORMAT.md` is the authoritative description.
enum RecordCodec {
    static let recordFormat: UInt8 = 1
    static let zeroHash = [UInt8](repeating: 0, count: 32)
    /// Bytes before the canonical bytes: format, hash, previous position in the stream.
    static let headerSize = 1 + 32 + 8

    /// The stored value of an event, hash included: format byte, hash, previous position in the stream, canonical
    /// bytes — built in one buffer.
    static func storedValue(
        previousHash: [UInt8], previousInStream: UInt64, position: UInt64, stream: String, version: UInt64, id: UUID, type: String,
        recordedAt: Int64, payload: [UInt8], metadata: EventMetadata
    ) -> (value: [UInt8], hash: [UInt8]) {
        let record = PendingRecord(stream: stream, id: id, type: type, payload: payload, metadata: metadata)
        let hash = record.seal(
            previousHash: previousHash, previousInStream: previousInStream, position: position, version: version, recordedAt: recordedAt)
        return (record.bytes, hash)
    }

    static func hash(previous: UnsafeRawBufferPointer, canonical: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bufferPointer: previous)
        hasher.update(bufferPointer: canonical)
        // Through the digest's bytes: `Array(digest)` iterates an array the digest makes first, two allocations.
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    /// Why a stored record could not be read.
    enum DecodeFailure: Error {
        case newerFormat(UInt8)
        case malformed(String)
    }

    /// The stored hash, the previous position in the stream and the canonical bytes of a stored value, without
    /// decoding the fields.
    static func split(
        _ value: UnsafeRawBufferPointer
    ) throws(DecodeFailure) -> (hash: UnsafeRawBufferPointer, previousInStream: UInt64, canonical: UnsafeRawBufferPointer) {
        guard let format = value.first else { throw .malformed("empty record") }
        guard format == recordFormat else {
            if format > recordFormat { throw .newerFormat(format) }
            throw .malformed("unknown record format \(format)")
        }
        guard value.count >= headerSize + 8 else { throw .malformed("record of \(value.count) bytes is too short") }
        return (
            UnsafeRawBufferPointer(rebasing: value[1..<33]), BigEndian.u64(value, at: 33) ?? 0,
            UnsafeRawBufferPointer(rebasing: value[headerSize...])
        )
    }

    /// The fields of canonical bytes, lent in place: every length bounds-checked, nothing copied.
    struct Fields {
        var position: UInt64
        var stream: UnsafeRawBufferPointer
        var version: UInt64
        var id: UUID
        var type: UnsafeRawBufferPointer
        var recordedAt: Int64
        var payload: UnsafeRawBufferPointer
        var actor, correlationID, causationID: UnsafeRawBufferPointer?
    }

    /// Walks canonical bytes; throws on a length past the end, a bad presence byte or trailing bytes. Text is not
    /// checked for UTF-8 here (``decode(_:)`` does, and ``isText(_:)`` tells).
    static func fields(_ canonical: UnsafeRawBufferPointer) throws(DecodeFailure) -> Fields {
        var r = ByteReader(canonical)
        do {
            let position = try r.u64()
            let stream = try r.blob()
            let version = try r.u64()
            let id = try r.uuid()
            let type = try r.blob()
            let recordedAt = Int64(bitPattern: try r.u64())
            let payload = try r.blob()
            func optional(_ name: String) throws -> UnsafeRawBufferPointer? {
                let present = try r.u8()
                let text = try r.blob()
                switch present {
                case 0: return nil
                case 1: return text
                default: throw DecodeFailure.malformed("\(name) has presence byte \(present)")
                }
            }
            let actor = try optional("actor")
            let correlationID = try optional("correlation_id")
            let causationID = try optional("causation_id")
            guard r.remaining == 0 else { throw DecodeFailure.malformed("\(r.remaining) trailing bytes") }
            return Fields(
                position: position, stream: stream, version: version, id: id, type: type, recordedAt: recordedAt,
                payload: payload, actor: actor, correlationID: correlationID, causationID: causationID
            )
        } catch let failure as DecodeFailure {
            throw failure
        } catch {
            throw .malformed("a length runs past the end of the record")
        }
    }

    /// Whether bytes are valid UTF-8 (ASCII checked without the generic validator).
    static func isText(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.allSatisfy { $0 < 0x80 } || String(validating: bytes, as: UTF8.self) != nil
    }

    /// Decodes a stored value; every length is bounds-checked, so damaged bytes throw rather than trap.
    static func decode(_ value: UnsafeRawBufferPointer) throws(DecodeFailure) -> RecordedEvent {
        let (hash, _, canonical) = try split(value)
        let f = try fields(canonical)
        func text(_ bytes: UnsafeRawBufferPointer, _ name: String) throws(DecodeFailure) -> String {
            guard isText(bytes) else { throw .malformed("\(name) is not UTF-8") }
            return String(decoding: bytes, as: UTF8.self)
        }
        func optional(_ bytes: UnsafeRawBufferPointer?, _ name: String) throws(DecodeFailure) -> String? {
            guard let bytes else { return nil }
            return try text(bytes, name)
        }
        return RecordedEvent(
            position: f.position, stream: try text(f.stream, "stream"), version: f.version, id: f.id, type: try text(f.type, "type"),
            recordedAtMilliseconds: f.recordedAt,
            metadata: EventMetadata(
                actor: try optional(f.actor, "actor"), correlationID: try optional(f.correlationID, "correlation_id"),
                causationID: try optional(f.causationID, "causation_id")
            ),
            payload: Array(f.payload), hash: Array(hash)
        )
    }
}

/// An event's stored value encoded before its append, on the appending caller's thread: all of it but the fields only
/// the writer knows — the hash, the previous position in the stream, the position, the version and the time — which
/// ``seal(previousHash:previousInStream:position:version:recordedAt:)`` writes in place. Encoding the record and copying
/// its payload then cost the writer thread, which every append waits on, nothing.
///
/// Only one thread at a time may use a record (the caller that made it, then the writer, which may lend it to its
/// ``Sealer``).
final class PendingRecord: @unchecked Sendable {
    /// The stored value (``RecordCodec``'s layout), complete once sealed.
    private(set) var bytes: [UInt8]
    private let versionOffset: Int
    private let recordedAtOffset: Int

    init(stream: String, id: UUID, type: String, payload: [UInt8], metadata: EventMetadata) {
        let header = RecordCodec.headerSize
        var w = ByteWriter(capacity: header + 96 + stream.utf8.count + type.utf8.count + payload.count)
        w.u8(RecordCodec.recordFormat)
        w.raw(RecordCodec.zeroHash)
        w.u64(0)  // previous position in the stream
        w.u64(0)  // position
        w.string(stream)
        versionOffset = w.bytes.count
        w.u64(0)
        w.uuid(id)
        w.string(type)
        recordedAtOffset = w.bytes.count
        w.u64(0)
        w.blob(payload)
        w.optionalString(metadata.actor)
        w.optionalString(metadata.correlationID)
        w.optionalString(metadata.causationID)
        bytes = w.bytes
    }

    /// Writes the writer's fields and the hash into the record and returns the hash. May run again with other values
    /// (a group commit retried without a failed batch).
    func seal(previousHash: [UInt8], previousInStream: UInt64, position: UInt64, version: UInt64, recordedAt: Int64) -> [UInt8] {
        let header = RecordCodec.headerSize
        return bytes.withUnsafeMutableBytes { buffer in
            buffer.storeBytes(of: previousInStream.bigEndian, toByteOffset: header - 8, as: UInt64.self)
            buffer.storeBytes(of: position.bigEndian, toByteOffset: header, as: UInt64.self)
            buffer.storeBytes(of: version.bigEndian, toByteOffset: versionOffset, as: UInt64.self)
            buffer.storeBytes(of: UInt64(bitPattern: recordedAt).bigEndian, toByteOffset: recordedAtOffset, as: UInt64.self)
            let hash = previousHash.withUnsafeBytes { previous in
                RecordCodec.hash(previous: previous, canonical: UnsafeRawBufferPointer(rebasing: buffer[header...]))
            }
            buffer.baseAddress!.advanced(by: 1).copyMemory(from: hash, byteCount: 32)
            return hash
        }
    }
}
