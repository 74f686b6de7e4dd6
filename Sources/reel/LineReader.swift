import Foundation

/// Reads a file or standard input line by line in fixed memory: lines are lent one at a time, without their newline.
/// A last line without a final newline is still a line.
struct LineReader {
    /// Lines longer than this are reported as too long (and skipped) rather than buffered.
    static let maxLineBytes = 64 << 20

    enum Line {
        case text(UnsafeRawBufferPointer)
        case tooLong(Int)
    }

    let descriptor: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)
    private var start = 0
    private var end = 0
    /// Bytes from `start` already known to hold no newline.
    private var scanned = 0
    private var finished = false
    private var skippingLongLine = false
    private var skipped = 0

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// Calls `body` with each line and its 1-based number, in order.
    mutating func forEach(_ body: (Int, Line) throws -> Void) throws {
        var number = 0
        while true {
            if let newline = buffer[(start + scanned)..<end].firstIndex(of: 0x0A) {
                scanned = 0
                number += 1
                if skippingLongLine {
                    skippingLongLine = false
                    defer { skipped = 0 }
                    try body(number, .tooLong(skipped + newline - start))
                } else {
                    try buffer.withUnsafeBytes { try body(number, .text(UnsafeRawBufferPointer(rebasing: $0[start..<newline]))) }
                }
                start = newline + 1
                continue
            }
            scanned = end - start
            if finished {
                if start < end || skippingLongLine {
                    number += 1
                    if skippingLongLine {
                        try body(number, .tooLong(skipped + end - start))
                    } else {
                        try buffer.withUnsafeBytes { try body(number, .text(UnsafeRawBufferPointer(rebasing: $0[start..<end]))) }
                    }
                }
                return
            }
            try fill()
        }
    }

    /// Makes room and reads more bytes.
    private mutating func fill() throws {
        if start > 0 {
            buffer.replaceSubrange(0..<end - start, with: buffer[start..<end])
            end -= start
            start = 0
        }
        if end == buffer.count {
            if buffer.count >= Self.maxLineBytes {
                // Drop what we have of an over-long line and keep reading until its end.
                skippingLongLine = true
                skipped += end
                end = 0
                scanned = 0
            } else {
                buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count))
            }
        }
        let count = buffer.withUnsafeMutableBytes { raw in
            read(descriptor, raw.baseAddress! + end, raw.count - end)
        }
        if count < 0 {
            if errno == EINTR { return }
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: String(cString: strerror(errno))])
        }
        if count == 0 { finished = true }
        end += count
    }
}
