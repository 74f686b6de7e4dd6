import Foundation
import Testing

/// `reel demo`'s counts and its "Try:" lines, which must run as printed. The built `reel`, run as a real process.
@Suite struct DemoOutputTests {
    /// Runs `command` through /bin/sh in `directory`.
    private func shell(_ command: String, in directory: String, path: String? = nil) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["REEL_STORE"] = nil
        if let path { environment["PATH"] = path + ":" + (environment["PATH"] ?? "/usr/bin:/bin") }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // The demo prints a few kilobytes; the pipes hold them until it exits.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Checks a demo's counts against its store and runs each of its "Try:" lines through the shell, in `directory`.
    private func checkDemo(_ run: Run, store: String, in directory: String, writers: Int, images: Int, path: String? = nil, binary: String) throws {
        #expect(run.status == 0, "\(run)")
        let storePath = (directory as NSString).appendingPathComponent(store)
        let events = try readAll(storePath)
        #expect(run.stdout.contains("Built \(events.count) events:"), "\(run)")
        let saved = events.filter { $0["type"] as? String == "scene_image.saved" }.count
        #expect(saved == writers * images)
        #expect(run.stdout.contains("  \(events.count - saved) events of users, sessions"), "\(run)")
        #expect(run.stdout.contains("  \(saved) scene images saved by \(writers) concurrent writers"), "\(run)")
        #expect(run.stdout.contains(#"Project "Lighthouse trailer": \#(saved) images in 40 scenes, none lost"#), "\(run)")
        let lines = run.stdoutLines
        let start = try #require(lines.firstIndex(of: "Try:"), "\(run)")
        let tries = lines[(start + 1)...].map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(tries.count >= 5, "\(run)")
        for line in tries {
            #expect(line.hasPrefix(binary + " --store "), "\(line)")
            let tried = try shell(line, in: directory, path: path)
            #expect(tried.status == 0, "\(line): \(tried)")
            #expect(!tried.stdout.isEmpty, "\(line): \(tried)")
        }
        try expectVerified(storePath)
    }

    @Test("reel demo: its counts are the store's, and every Try: line runs as printed (the binary as typed, a store path with a space)")
    func demoCountsAndTryLines() throws {
        let directory = temporaryStorePath()
        defer { remove(directory) }
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory + "/bin/reel", withDestinationPath: builtExecutable("reel"))

        // Typed as a relative path.
        let relative = try shell("bin/reel demo --store 'demo store' --writers 3 --images 50", in: directory)
        try checkDemo(relative, store: "demo store", in: directory, writers: 3, images: 50, binary: "bin/reel")
        #expect(relative.stdout.contains("bin/reel --store 'demo store' query story --story "), "\(relative)")

        // Found on PATH: the lines say `reel`.
        let onPath = try shell("reel demo --store plain-store --writers 2 --images 41", in: directory, path: directory + "/bin")
        try checkDemo(onPath, store: "plain-store", in: directory, writers: 2, images: 41, path: directory + "/bin", binary: "reel")
    }
}
