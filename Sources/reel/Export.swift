import ArgumentParser
import EventStore
import Foundation
import MediaPipeline

/// `reel export [FILE]` — the whole log as NDJSON envelopes (SPEC §2), to FILE or standard output.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the whole log as NDJSON envelopes (stdout without FILE).")

    @OptionGroup var location: StoreLocation
    @Argument(help: "The file to write (replaced if it exists).") var file: String?

    func run() async throws {
        let store = try openStore(location, readOnly: true).store
        let output: FileHandle
        if let file {
            // Replacing the store's own files would destroy the store being exported.
            if let own = ["data.mdb", "lock.mdb"].first(where: { sameFile(file, (location.path as NSString).appendingPathComponent($0)) }) {
                warn("reel: \(file) is this store's \(own); export to a file outside the store")
                throw Exit.rejected
            }
            guard FileManager.default.createFile(atPath: file, contents: nil) , let handle = FileHandle(forWritingAtPath: file) else {
                throw ValidationError("cannot write \(file)")
            }
            output = handle
        } else {
            output = FileHandle.standardOutput
        }
        let progress = Progress(label: "export", total: try store.head())
        var next: UInt64 = 1
        while true {
            let page = try store.events(from: next, limit: 4_096)
            guard let last = page.last else { break }
            var text = ""
            text.reserveCapacity(page.count * 512)
            for event in page { text += Envelope.render(event) + "\n" }
            try output.write(contentsOf: Data(text.utf8))
            next = last.position + 1
            progress.update(last.position)
        }
        progress.finish()
        if file != nil { try output.close() }
    }
}

/// Whether two paths name one existing file (the same device and inode).
func sameFile(_ a: String, _ b: String) -> Bool {
    var first = stat()
    var second = stat()
    guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
    return first.st_dev == second.st_dev && first.st_ino == second.st_ino
}

/// Progress on standard error, only when it is a terminal (SPEC §5).
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
