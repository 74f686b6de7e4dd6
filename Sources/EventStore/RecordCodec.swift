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
        var w = ByteWriter(capacity: headerSize + 96 + stream.utf8.count + type.utf8.count + payload.count)
        w.u8(recordFormat)
        w.raw(zeroHash)
        w.u64(previousInStream)
        w.u64(position)
        w.string(stream)
        w.u64(version)
        w.uuid(id)
        w.string(type)
        w.u64(UInt64(bitPattern: recordedAt))
        w.blob(payload)
        w.optionalString(metadata.actor)
        w.optionalString(metadata.correlationID)
        w.optionalString(metadata.causationID)
        var value = w.bytes
        let hash = value.withUnsafeMutableBytes { buffer in
            let hash = previousHash.withUnsafeBytes { previous in
                Self.hash(previous: previous, canonical: UnsafeRawBufferPointer(rebasing: buffer[headerSize...]))
            }
            buffer.baseAddress!.advanced(by: 1).copyMemory(from: hash, byteCount: 32)
            return hash
        }
        return (value, hash)
    }

    static func hash(previous: UnsafeRawBufferPointer, canonical: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bufferPointer: previous)
        hasher.update(bufferPointer: canonical)
        return Array(hasher.finalize())
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

    /// Decodes a stored value; every length is bounds-checked, so damaged bytes throw rather than trap.
    static func decode(_ value: UnsafeRawBufferPointer) throws(DecodeFailure) -> RecordedEvent {
        let (hash, _, canonical) = try split(value)
        var r = ByteReader(canonical)
        do {
            let position = try r.u64()
            guard let stream = try r.string() else { throw DecodeFailure.malformed("stream is not UTF-8") }
            let version = try r.u64()
            let id = try r.uuid()
            guard let type = try r.string() else { throw DecodeFailure.malformed("type is not UTF-8") }
            let recordedAt = Int64(bitPattern: try r.u64())
            let payload = Array(try r.blob())
            var fields: [String?] = []
            for name in ["actor", "correlation_id", "causation_id"] {
                let present = try r.u8()
                let text = try r.blob()
                switch present {
                case 0: fields.append(nil)
                case 1:
                    guard let string = String(validating: text, as: UTF8.self) else {
                        throw DecodeFailure.malformed("\(name) is not UTF-8")
                    }
                    fields.append(string)
                default: throw DecodeFailure.malformed("\(name) has presence byte \(present)")
                }
            }
            guard r.remaining == 0 else { throw DecodeFailure.malformed("\(r.remaining) trailing bytes") }
            return RecordedEvent(
                position: position, stream: stream, version: version, id: id, type: type,
                recordedAtMilliseconds: recordedAt,
                metadata: EventMetadata(actor: fields[0], correlationID: fields[1], causationID: fields[2]),
                payload: payload, hash: Array(hash)
            )
        } catch let failure as DecodeFailure {
            throw failure
        } catch {
            throw .malformed("a length runs past the end of the record")
        }
    }
}
