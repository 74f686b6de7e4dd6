import ArgumentParser
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
    /// The input's name for messages: the file's path, or "standard input".
    let name: String
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)
    private var start = 0
    private var end = 0
    /// Bytes from `start` already known to hold no newline.
    private var scanned = 0
    private var finished = false
    private var skippingLongLine = false
    private var skipped = 0

    init(descriptor: Int32, name: String) { (self.descriptor, self.name) = (descriptor, name) }

    /// A read of the input failed.
    struct ReadFailure: Error, CustomStringConvertible {
        let name: String
        let code: Int32
        var description: String { "cannot read \(name): \(String(cString: strerror(code)))" }
    }

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
            throw ReadFailure(name: name, code: errno)
        }
        if count == 0 { finished = true }
        end += count
    }
}

/// Opens an input file for reading, or fails with a usage error (exit 2) naming it: one that cannot be opened (the
/// reason given), or a directory. `kind` says what the file should be ("an NDJSON input file").
func openInputFile(_ path: String, kind: String) throws -> Int32 {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw ValidationError("cannot read \(path): \(String(cString: strerror(errno)))") }
    var status = stat()
    if fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
        close(descriptor)
        throw ValidationError("\(path) is a directory; give \(kind)")
    }
    return descriptor
}
