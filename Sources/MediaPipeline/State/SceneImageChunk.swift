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

    /// The chunk with the URL at `slot` (`image_index % width`) put in, replacing one there: `stored` (a chunk's
    /// value, or `nil` for none) decoded into one buffer and encoded again, a few allocations whatever its size.
    static func upserting(_ url: String, at slot: Int, into stored: UnsafeRawBufferPointer?) throws -> [UInt8] {
        precondition(slot >= 0 && slot < width)
        var text: [UInt8] = []
        var pieces: [(slot: Int, range: Range<Int>)] = []
        if let stored {
            let total = try total(stored)
            text = [UInt8](repeating: 0, count: total)
            var ends: [Int] = []
            ends.reserveCapacity(8)
            var slots: [Int] = []
            slots.reserveCapacity(8)
            _ = try text.withUnsafeMutableBytes { buffer in
                try decode(stored, into: buffer, at: 0, ends: &ends, slots: &slots)
            }
            pieces.reserveCapacity(ends.count + 1)
            for index in ends.indices { pieces.append((slots[index], (index == 0 ? 0 : ends[index - 1])..<ends[index])) }
        }
        let added = text.count..<text.count + url.utf8.count
        text.append(contentsOf: url.utf8)
        if let index = pieces.firstIndex(where: { $0.slot >= slot }) {
            if pieces[index].slot == slot { pieces[index].range = added } else { pieces.insert((slot, added), at: index) }
        } else {
            pieces.append((slot, added))
        }
        return encode(pieces.lazy.map { (UInt8($0.slot), text[$0.range]) })
    }

    /// Front-codes `(slot, url)` pairs, in slot order.
    static func encode(_ entries: some Collection<(slot: UInt8, url: ArraySlice<UInt8>)>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entries.reduce(16) { $0 + $1.url.count + 8 })
        varint(entries.reduce(0) { $0 + $1.url.count }, into: &out)
        var previous: ArraySlice<UInt8> = []
        for (slot, url) in entries {
            var shared = 0
            let limit = min(previous.count, url.count)
            while shared < limit && previous[previous.startIndex + shared] == url[url.startIndex + shared] { shared += 1 }
            out.append(slot)
            varint(shared, into: &out)
            varint(url.count - shared, into: &out)
            out.append(contentsOf: url.dropFirst(shared))
            previous = url
        }
        return out
    }

    /// The URLs of a stored chunk, in slot order.
    static func urls(_ value: UnsafeRawBufferPointer) throws -> [(slot: Int, url: [UInt8])] {
        var text = [UInt8](repeating: 0, count: try total(value))
        var ends: [Int] = []
        var slots: [Int] = []
        _ = try text.withUnsafeMutableBytes { buffer in try decode(value, into: buffer, at: 0, ends: &ends, slots: &slots) }
        return ends.indices.map { (slots[$0], Array(text[($0 == 0 ? 0 : ends[$0 - 1])..<ends[$0]])) }
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
        var slots: [Int] = []
        return try decode(value, into: text, at: offset, ends: &ends, slots: &slots, keepingSlots: false)
    }

    /// ``decode(_:into:at:ends:)``, appending each URL's slot to `slots` as well when `keepingSlots`.
    static func decode(
        _ value: UnsafeRawBufferPointer, into text: UnsafeMutableRawBufferPointer, at offset: Int, ends: inout [Int], slots: inout [Int],
        keepingSlots: Bool = true
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
            if keepingSlots { slots.append(slot) }
            let shared = try reader.varint()
            let rest = try reader.varint()
            guard shared <= previousLength, rest <= limit - end - shared else { throw damaged }
            if shared > 0 { text.baseAddress!.advanced(by: end).copyMemory(from: text.baseAddress!.advanced(by: start), byteCount: shared) }
            let tail = try reader.raw(rest)
            if rest > 0 { text.baseAddress!.advanced(by: end + shared).copyMemory(from: tail.baseAddress!, byteCount: rest) }
            (start, previousLength, end) = (end, shared + rest, end + shared + rest)
            ends.append(end)
        } while !reader.atEnd
        guard end == limit else { throw damaged }
        return end
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
