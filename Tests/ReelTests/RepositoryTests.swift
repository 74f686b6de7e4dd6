import Foundation
import Testing

/// The repository speaks to its users: its README is a guide of bounded length whose example runs as printed, and no
/// tracked file refers to how it was developed or to documents outside it.
@Suite("The repository as its users read it")
struct RepositoryTests {
    /// The repository's root: this file is `Tests/ReelTests/RepositoryTests.swift`.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// Every tracked file (`git ls-files`).
    static func trackedFiles() throws -> [String] {
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", root.path, "ls-files", "-z"]
        let out = Pipe()
        git.standardOutput = out
        try git.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        git.waitUntilExit()
        #expect(git.terminationStatus == 0, "git ls-files")
        return String(decoding: data, as: UTF8.self).split(separator: "\0").map(String.init)
    }

    @Test("no tracked file mentions development sessions, issue numbers, the specification's sections or the seed documents")
    func speaksToUsers() throws {
        // Built from parts, so that this file does not match itself. "Session" is also a word of the domain (an
        // image-generation session): only "session" followed by a number counts.
        let section = "\u{00A7}"
        let patterns: [(String, Regex<AnyRegexOutput>)] = try [
            ("a development session", Regex("(?i)\\bsession " + "[0-9]+")),
            ("an issue number", Regex("(?i)\\bissues? " + "#?[0-9]+")),
            ("a section of the specification", Regex("SPEC " + section + "|" + section + " ?[0-9]")),
            ("a seed document", Regex("(?i)\\bseeds? " + "0[0-9]{2}\\b|\\bthe seed" + "s'|seed" + "s/")),
        ]
        var found: [String] = []
        for file in try Self.trackedFiles() {
            guard let data = FileManager.default.contents(atPath: Self.root.appendingPathComponent(file).path),
                  let text = String(data: data, encoding: .utf8)
            else { continue }  // binary files
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                for (what, pattern) in patterns where line.contains(pattern) {
                    found.append("\(file):\(number + 1): \(what): \(line.prefix(160))")
                }
            }
        }
        #expect(found.isEmpty, "\(found.count) lines:\n\(found.prefix(40).joined(separator: "\n"))")
    }

    @Test("the README is at most 300 lines, and its first screen gives the set-up commands and the binary's path")
    func readmeIsShort() throws {
        let readme = try Self.text("README.md")
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count <= 300, "README.md has \(lines.count) lines")
        let firstScreen = lines.prefix(60).joined(separator: "\n")
        for needed in ["tools/setup", "swift build", ".build/debug/reel", "reel append", "reel query", "reel audit verify"] {
            #expect(firstScreen.contains(needed), "the README's first screen lacks \(needed)")
        }
    }

    @Test("the README's Swift example is the example the package builds, and it runs again and again")
    func readmeExampleRuns() throws {
        let readme = try Self.text("README.md")
        let blocks = readme.matches(of: /```swift\n((?s).*?)```/).map { String($0.1) }
        let example = try #require(blocks.first, "the README has a Swift example")
        #expect(example == (try Self.text("Examples/Embedding/main.swift")), "the README's example differs from Examples/Embedding/main.swift")
        for _ in 0..<2 {
            let run = try Child("reel-example", []).wait()
            #expect(run.status == 0, "\(run)")
            #expect(run.stdoutLines.first == "4 scenes, 64 images", "\(run)")
            #expect(run.stdoutLines.contains { $0.hasPrefix("project.created rejected: project ") && $0.hasSuffix(" already exists") }, "\(run)")
            #expect(run.stdoutLines.contains { $0.hasPrefix("project ") && $0.hasSuffix(" does not exist") }, "\(run)")
        }
    }
}
