import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel export [FILE] [--force]` — the whole log as NDJSON envelopes, closed by an end line, to FILE or standard
/// output.
///
/// The log is read up to the head it has when the export starts, and every event's hash is checked against the one
/// before it as it is read: an export of a damaged log stops at the damage, exit 1, and a FILE is then not written.
/// The last line is `{"end":{"events":N,"last_position":P,"last_hash":"<64 hex>"}}`, which `reel import` requires:
/// an export cut short has none.
///
/// FILE is written under a temporary name beside it (`FILE.partial-XXXXXXXX`, made with `O_EXCL`), synced, renamed
/// into place and the directory synced: a killed or failed export leaves the old FILE, or none, never part of one.
/// Only a regular file is replaced; a device, FIFO, symlink or directory at FILE is refused unless `--force` is given,
/// which writes into it directly. An LMDB data or lock file is never written, with `--force` or not.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the whole log as NDJSON envelopes and a closing end line (standard output without FILE)."
    )

    @OptionGroup var location: StoreLocation
    @Argument(help: "The file to write: replaced, once the export is whole and synced, if it is a regular file.") var file: String?
    @Flag(help: "Write directly into what FILE names when it is not a regular file (a device, a FIFO, a symlink's target); never an LMDB data or lock file.")
    var force = false

    /// Events read and written per page.
    static let page = 4_096

    func run() async throws {
        let store = try openStore(location, readOnly: true).store
        guard let file else {
            // Standard output: a failed write ends the command at once (exit 1), and damage leaves the end line out.
            let end = try export(store) { writeOutput($0) }
            writeOutput(Array((Envelope.render(end) + "\n").utf8))
            return
        }
        let output = try ExportFile(file, force: force, store: location.path)
        let end: Envelope.End
        do {
            end = try export(store) { bytes in
                if let failure = writeFully(output.descriptor, bytes) { throw ExportFile.Failure(file: file, code: failure) }
            }
            if let failure = writeFully(output.descriptor, Array((Envelope.render(end) + "\n").utf8)) {
                throw ExportFile.Failure(file: file, code: failure)
            }
            try output.commit()
        } catch {
            output.abandon()
            if let failure = error as? ExportFile.Failure {
                warn("reel: \(failure)")
                throw Exit.rejected
            }
            throw error
        }
        var summary = JSONObject()
        summary.set("exported", .number(JSONNumber(Int(end.events))))
        summary.set("last_position", .number(JSONNumber(Int(end.lastPosition))))
        summary.set("file", .string(file))
        printJSON(.object(summary))
    }

    /// Reads the log up to the head it has now, checking the hash chain, and hands each page's lines to `write`;
    /// returns the end line. A broken chain ends the command with exit 1, naming the position.
    private func export(_ store: Store, _ write: ([UInt8]) throws -> Void) throws -> Envelope.End {
        let head = try store.head()
        let progress = Progress(label: "export", total: head)
        var next: UInt64 = 1
        var previous = [UInt8](repeating: 0, count: 32)
        while next <= head {
            let limit = Int(min(UInt64(Self.page), head - next + 1))
            let page: [RecordedEvent]
            do {
                page = try store.read { try $0.checkedEvents(from: next, after: previous, limit: limit) }
            } catch let error as EventStoreError {
                guard case .hashMismatch = error else { throw error }
                progress.finish()
                warn("reel: the log is damaged: \(error); the export stops there\(file == nil ? ", without its end line" : " and \(file!) is not written")")
                throw Exit.rejected
            }
            guard let last = page.last else {
                throw EventStoreError.corruptRecord(position: next, reason: "the log ends before the head, \(head)")
            }
            var text: [UInt8] = []
            text.reserveCapacity(page.count * 512)
            for event in page {
                text.append(contentsOf: Envelope.render(event).utf8)
                text.append(0x0A)
            }
            try write(text)
            previous = last.hash
            next = last.position + 1
            progress.update(last.position)
        }
        progress.finish()
        return Envelope.End(events: head, lastPosition: head, lastHash: previous)
    }
}

/// Where `reel export FILE` writes: a temporary file beside FILE that ``commit()`` renames into place, or — with
/// `--force`, for what is not a regular file — FILE itself.
final class ExportFile {
    /// Why the export could not be written.
    struct Failure: Error, CustomStringConvertible {
        let file: String
        let code: Int32
        var action = "write"
        var description: String { "cannot \(action) \(file): \(String(cString: strerror(code)))" }
    }

    let file: String
    let descriptor: Int32
    /// The temporary file, renamed to `file` by ``commit()``; `nil` when writing into `file` directly.
    private let temporary: String?
    private var isOpen = true

    /// Checks what is at `file` and opens what to write. Refuses (exit 1, the reason on standard error) the store's
    /// own files, an LMDB data or lock file, and — without `force` — anything but a regular file or nothing.
    init(_ file: String, force: Bool, store: String) throws {
        self.file = file
        // Replacing the store's own files would destroy the store being exported.
        if let own = ["data.mdb", "lock.mdb"].first(where: { sameFile(file, (store as NSString).appendingPathComponent($0)) }) {
            warn("reel: \(file) is this store's \(own); export to a file outside the store")
            throw Exit.rejected
        }
        var link = stat()
        let exists = lstat(file, &link) == 0
        var target = stat()
        let resolved = exists && stat(file, &target) == 0
        if resolved, target.st_mode & S_IFMT == S_IFREG, let kind = Self.lmdbFile(file) {
            warn("reel: \(file) is an LMDB \(kind) file (another store's?); export never writes over one")
            throw Exit.rejected
        }
        if exists, link.st_mode & S_IFMT != S_IFREG {
            let kind = Self.kind(link.st_mode)
            guard force else {
                warn("reel: \(file) is \(kind), not a regular file; export replaces only a regular file (give --force to write into it directly)")
                throw Exit.rejected
            }
            if resolved, target.st_mode & S_IFMT == S_IFDIR {
                warn("reel: \(file) is \(link.st_mode & S_IFMT == S_IFLNK ? "a symlink to a directory" : "a directory"); export writes a file")
                throw Exit.rejected
            }
            let descriptor = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC)
            guard descriptor >= 0 else {
                warn("reel: \(Failure(file: file, code: errno, action: "open"))")
                throw Exit.rejected
            }
            (self.descriptor, temporary) = (descriptor, nil)
            return
        }
        // A regular file, or nothing: a new file beside it, renamed over it once complete.
        let (directory, base) = Self.split(file)
        var attempt = 0
        while true {
            let name = "\(base).partial-\(String(UInt32.random(in: .min ... .max), radix: 16))"
            let path = directory + name
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if descriptor >= 0 {
                // A replaced file keeps its permissions.
                if exists { _ = fchmod(descriptor, link.st_mode & 0o777) }
                (self.descriptor, temporary) = (descriptor, path)
                return
            }
            let code = errno
            attempt += 1
            guard code == EEXIST, attempt < 16 else {
                warn("reel: cannot write \(file): cannot create \(path) beside it: \(String(cString: strerror(code)))")
                throw Exit.rejected
            }
        }
    }

    /// Makes the export durable and puts it in place: syncs the file, renames it over `file` and syncs the directory.
    func commit() throws {
        if fsync(descriptor) != 0 {
            let code = errno
            // A device or FIFO written with --force may not support a sync: nothing more can be done for it.
            if temporary != nil || ![EINVAL, EROFS, ENOTSUP].contains(code) { throw Failure(file: file, code: code, action: "sync") }
        }
        isOpen = false
        guard close(descriptor) == 0 else { throw Failure(file: file, code: errno) }
        guard let temporary else { return }
        guard rename(temporary, file) == 0 else { throw Failure(file: file, code: errno, action: "rename \(temporary) to") }
        let directory = Self.split(file).directory
        let handle = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard handle >= 0 else { throw Failure(file: file, code: errno, action: "sync the directory of") }
        defer { close(handle) }
        guard fsync(handle) == 0 else { throw Failure(file: file, code: errno, action: "sync the directory of") }
    }

    /// Gives up: closes the file and removes the temporary one (`file` is left as it was).
    func abandon() {
        if isOpen { close(descriptor) }
        isOpen = false
        if let temporary { unlink(temporary) }
    }

    /// A path's directory, with its final slash (empty for a name alone), and its last component. Not `NSString`'s
    /// path methods, which trap on a one-character path in this Foundation.
    static func split(_ path: String) -> (directory: String, base: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[...slash]), String(path[path.index(after: slash)...]))
    }

    /// "a symlink", "a FIFO", … for a file's mode.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFLNK: "a symlink"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFDIR: "a directory"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
    }

    /// "data" or "lock" when `path` starts as an LMDB data file (the magic 0xBEEFC0DE at byte 16 of the first page,
    /// the meta page's first field) or lock file (the magic at byte 0), in either byte order.
    static func lmdbFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 20)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, 20, 0) }
        func magic(at offset: Int) -> Bool {
            guard count >= offset + 4 else { return false }
            let word = bytes[offset..<offset + 4]
            return word.elementsEqual([0xDE, 0xC0, 0xEF, 0xBE]) || word.elementsEqual([0xBE, 0xEF, 0xC0, 0xDE])
        }
        if magic(at: 16) { return "data" }
        if magic(at: 0) { return "lock" }
        return nil
    }
}

/// Whether two paths name one existing file (the same device and inode).
func sameFile(_ a: String, _ b: String) -> Bool {
    var first = stat()
    var second = stat()
    guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
    return first.st_dev == second.st_dev && first.st_ino == second.st_ino
}

/// Progress on standard error, only when it is a terminal.
final class Progress {
    let label: String
    let total: UInt64
    let enabled = isatty(2) == 1
    private var shown = Date.distantPast

    init(label: String, total: UInt64) {
        self.label = label
        self.total = total
    }

    func update(_ done: UInt64) {
        guard enabled, Date().timeIntervalSince(shown) > 0.2 else { return }
        shown = Date()
        let percent = total == 0 ? 100 : Int(done * 100 / total)
        _ = writeFully(2, Array("\r\(label): \(done) of \(total) events (\(percent)%)".utf8))
    }

    func finish() {
        guard enabled else { return }
        _ = writeFully(2, Array("\r\(label): done\u{1B}[K\n".utf8))
    }
}
