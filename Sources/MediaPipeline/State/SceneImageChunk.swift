import EventStore

/// The images of one scene whose `image_index`es fall in one run of ``width``: the value under project ‖ scene ‖
/// `image_index / width` in `scene-images`. A project's images-by-scene is then one key range of about one entry per
/// scene, and a saved image rewrites at most ``width`` URLs.
///
/// The URLs are front-coded, since a scene's URLs mostly differ only in their last characters:
///
///     varint  total bytes of the URLs
///     per image, by image_index:
///       u8      image_index % width
///       varint  bytes shared with the previous URL's start (0 for the first)
///       varint  bytes that follow
///       those bytes
///
/// `total` comes first so that a query can size its result's text before decoding into it.
enum SceneImageChunk {
    static let width = 64

    /// The chunk with `url` at `slot` (`image_index % width`) put in, replacing one there: `stored` (a chunk's
    /// value, or `nil` for none) is decoded into a temporary buffer and encoded again; the result is the one
    /// allocation.
    static func upserting(_ url: String, at slot: Int, into stored: UnsafeRawBufferPointer?) throws -> [UInt8] {
        precondition(slot >= 0 && slot < width)
        var url = url
        return try url.withUTF8 { new in
            let new = UnsafeRawBufferPointer(new)
            guard let stored else {
                var out = Encoder(total: new.count, capacity: new.count + 12)
                out.add(slot, new)
                return out.bytes
            }
            let total = try total(stored)
            return try withUnsafeTemporaryAllocation(byteCount: max(total, 1), alignment: 1) { text in
                try withUnsafeTemporaryAllocation(of: (slot: Int, start: Int, end: Int).self, capacity: width) { pieces in
                    var count = 0
                    _ = try walk(stored, into: text, at: 0) { slot, start, end in
                        pieces[count] = (slot, start, end)
                        count += 1
                    }
                    let replaced = pieces[..<count].first { $0.slot == slot }.map { $0.end - $0.start } ?? 0
                    var out = Encoder(total: total - replaced + new.count, capacity: stored.count + new.count + 12)
                    var added = false
                    for piece in pieces[..<count] where piece.slot != slot {
                        if !added && piece.slot > slot {
                            out.add(slot, new)
                            added = true
                        }
                        out.add(piece.slot, UnsafeRawBufferPointer(rebasing: text[piece.start..<piece.end]))
                    }
                    if !added { out.add(slot, new) }
                    return out.bytes
                }
            }
        }
    }

    /// The key suffix (after the project and scene) of the chunk holding `imageIndex`.
    static func chunk(of imageIndex: Int) -> Int { imageIndex / width }

    /// The total bytes of a stored chunk's URLs. No URL is longer than the chunk and there are at most ``width`` of
    /// them, so a larger total is damage (and is not allocated).
    static func total(_ value: UnsafeRawBufferPointer) throws(DamagedRecord) -> Int {
        var reader = Reader(value)
        let total = try reader.varint()
        guard total <= width * value.count else { throw damaged }
        return total
    }

    /// Decodes a stored chunk's URLs one after the other into `text` from `offset`, appending where each ends to
    /// `ends`; returns the offset after the last. Fails on a chunk that does not fit its declared total or `text`.
    static func decode(
        _ value: UnsafeRawBufferPointer, into text: UnsafeMutableRawBufferPointer, at offset: Int, ends: inout [Int]
    ) throws(DamagedRecord) -> Int {
        try walk(value, into: text, at: offset) { _, _, end in ends.append(end) }
    }

    /// Decodes a stored chunk's URLs one after the other into `text` from `offset`, telling `body` each one's slot
    /// and where it starts and ends; returns the offset after the last. Fails on a chunk that is empty, out of slot
    /// order, or does not fit its declared total or `text`.
    static func walk(
        _ value: UnsafeRawBufferPointer, into text: UnsafeMutableRawBufferPointer, at offset: Int,
        _ body: (_ slot: Int, _ start: Int, _ end: Int) -> Void
    ) throws(DamagedRecord) -> Int {
        var reader = Reader(value)
        let total = try reader.varint()
        guard total <= text.count - offset else { throw damaged }
        let limit = offset + total
        var (start, previousLength, end) = (offset, 0, offset)
        var nextSlot = 0
        repeat {
            let slot = Int(try reader.byte())
            guard slot >= nextSlot, slot < width else { throw damaged }
            nextSlot = slot + 1
            let shared = try reader.varint()
            let rest = try reader.varint()
            guard shared <= previousLength, rest <= limit - end - shared else { throw damaged }
            if shared > 0 { text.baseAddress!.advanced(by: end).copyMemory(from: text.baseAddress!.advanced(by: start), byteCount: shared) }
            let tail = try reader.raw(rest)
            if rest > 0 { text.baseAddress!.advanced(by: end + shared).copyMemory(from: tail.baseAddress!, byteCount: rest) }
            (start, previousLength, end) = (end, shared + rest, end + shared + rest)
            body(slot, start, end)
        } while !reader.atEnd
        guard end == limit else { throw damaged }
        return end
    }

    /// Writes a chunk: the total, then each URL front-coded against the one before it.
    struct Encoder {
        var bytes: [UInt8] = []
        var previous = UnsafeRawBufferPointer(start: nil, count: 0)

        init(total: Int, capacity: Int) {
            bytes.reserveCapacity(capacity)
            varint(total, into: &bytes)
        }

        /// Adds a URL; `url` must stay valid until the next call.
        mutating func add(_ slot: Int, _ url: UnsafeRawBufferPointer) {
            var shared = 0
            let limit = min(previous.count, url.count)
            while shared < limit && previous[shared] == url[shared] { shared += 1 }
            bytes.append(UInt8(slot))
            varint(shared, into: &bytes)
            varint(url.count - shared, into: &bytes)
            bytes.append(contentsOf: url[shared...])
            previous = url
        }
    }

    private static var damaged: DamagedRecord { DamagedRecord(what: "scene images") }

    private static func varint(_ value: Int, into out: inout [UInt8]) {
        var rest = UInt64(value)
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var atEnd: Bool { offset == bytes.count }

        mutating func byte() throws(DamagedRecord) -> UInt8 {
            guard offset < bytes.count else { throw damaged }
            defer { offset += 1 }
            return bytes[offset]
        }

        /// A LEB128 number of at most 9 bytes (below 2^63).
        mutating func varint() throws(DamagedRecord) -> Int {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let byte = try byte()
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
                guard shift < 63 else { throw damaged }
            }
            guard value <= UInt64(Int.max) else { throw damaged }
            return Int(value)
        }

        mutating func raw(_ count: Int) throws(DamagedRecord) -> UnsafeRawBufferPointer {
            guard count <= bytes.count - offset else { throw damaged }
            defer { offset += count }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
        }

    }
}
