import Foundation
import Testing

/// `reel events`, `reel query --markdown` and the generated reference, docs/EVENTS.md and docs/QUERIES.md, run as a
/// real process.
@Suite struct CatalogueCommandTests {
    /// The repository's root (this file is Tests/ReelTests/CatalogueCommandTests.swift).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("docs/EVENTS.md and docs/QUERIES.md are, byte for byte, what `reel events --markdown` and `reel query --markdown` print")
    func docsAreGenerated() throws {
        for (file, command) in [("docs/EVENTS.md", ["events", "--markdown"]), ("docs/QUERIES.md", ["query", "--markdown"])] {
            let run = try reel(command)
            #expect(run.status == 0 && run.stderr.isEmpty, "\(run)")
            let committed = try String(contentsOf: Self.repository.appendingPathComponent(file), encoding: .utf8)
            guard run.stdout != committed else { continue }
            let printed = run.stdout.components(separatedBy: "\n"), kept = committed.components(separatedBy: "\n")
            let line = zip(printed, kept).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(printed.count, kept.count)
            Issue.record("""
                \(file) is not what `reel \(command.joined(separator: " "))` prints: write it again with `tools/reference` \
                (or `swift run reel \(command.joined(separator: " ")) > \(file)`). First difference, line \(line + 1):
                  \(file): \(line < kept.count ? kept[line] : "(ends)")
                  printed: \(line < printed.count ? printed[line] : "(ends)")
                """)
        }
    }

    /// The event types `reel events` lists, one a line (type, stream, summary).
    private func types() throws -> [String] {
        let run = try reel(["events"])
        try #require(run.status == 0, "\(run)")
        return run.stdoutLines.prefix { !$0.hasPrefix("`") }.map { String($0.prefix { $0 != " " }) }
    }

    @Test("reel events lists every type with its stream and summary; reel events TYPE gives its fields, stream, rules and example")
    func listAndDescribe() throws {
        let types = try types()
        #expect(types.count == 23, "\(types)")
        #expect(types.first == "user.registered" && types.contains("scenelet.end_frame_set") && types.last == "frame.rejected", "\(types)")
        let markdown = try String(contentsOf: Self.repository.appendingPathComponent("docs/EVENTS.md"), encoding: .utf8)
        for type in types {
            let run = try reel(["events", type])
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.hasPrefix("\(type): "), "\(run)")
            for part in ["stream: ", "fields of data:", "rejected (\"\(type) rejected: …\") when:", "example", #"{"type":"\#(type)","data":"#] {
                #expect(run.stdout.contains(part), "\(type): \(part)\n\(run)")
            }
            #expect(markdown.contains("## `\(type)`"), "docs/EVENTS.md has a section for \(type)")
            // Its Markdown section is part of docs/EVENTS.md.
            let section = try reel(["events", type, "--markdown"])
            #expect(section.status == 0 && markdown.contains(section.stdout), "\(type)'s section: \(section)")
        }
    }

    @Test("reel events needs no store, and takes --store before it as every command does")
    func eventsWithStoreOption() throws {
        let store = temporaryStorePath()
        let plain = try reel(["events"])
        for arguments in [["--store", store, "events"], ["events", "--store", store]] {
            let run = try reel(arguments)
            #expect(run.status == 0 && run.stdout == plain.stdout, "\(arguments): \(run)")
        }
        #expect(!exists(store), "reel events creates no store")
    }

    @Test("reel events with an unknown TYPE exits 2 naming the nearest known types, with the usage of reel events", arguments: [
        ("frame.aproved", "frame.approved"), ("Project.Created", "project.created"), ("job.started", "generation_job.started"),
    ])
    func unknownType(_ typed: String, _ nearest: String) throws {
        let run = try reel(["events", typed])
        #expect(run.status == 2, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(run.stderr.contains("unknown event type \"\(typed)\""), "\(run)")
        #expect(run.stderr.contains("the nearest known types: \"\(nearest)\""), "\(run)")
        #expect(run.stderr.contains("Usage: reel events "), "\(run)")
    }

    /// The example line `reel events TYPE` prints, and the types whose examples it needs first.
    private func example(_ type: String) throws -> (line: String, after: [String]) {
        let run = try reel(["events", type])
        try #require(run.status == 0, "\(run)")
        let lines = run.stdoutLines
        let heading = try #require(lines.firstIndex { $0.hasPrefix("example") }, "\(run)")
        let line = lines[heading + 1].trimmingCharacters(in: .whitespaces)
        var after: [String] = []
        if let range = lines[heading].range(of: "accepted once the examples of "), let end = lines[heading].range(of: " are in the store:") {
            after = lines[heading][range.upperBound..<end.lowerBound].components(separatedBy: ", ")
        }
        return (line, after)
    }

    @Test("every example reel events prints is accepted by reel append, after the examples it names, and the store verifies")
    func examplesAppend() throws {
        var examples: [String: (line: String, after: [String])] = [:]
        for type in try types() { examples[type] = try example(type) }
        for (type, example) in examples.sorted(by: { $0.key < $1.key }) {
            let store = temporaryStorePath()
            defer { remove(store) }
            let lines = try example.after.map { try #require(examples[$0]?.line, "\(type) needs \($0)") } + [example.line]
            let run = try append(ndjson(lines), to: store)
            #expect(run.status == 0, "\(type): \(run)")
            #expect(run.stdout == summary(appended: lines.count, lastPosition: lines.count), "\(type): \(run)")
            let stored = try readAll(store)
            #expect(stored.last?["type"] as? String == type, "\(type)")
            try expectVerified(store)
        }
    }

    @Test("an unknown event type in an input line names the nearest known types, by edit distance")
    func unknownTypeInAppend() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let project = uuid()
        let run = try append(ndjson([
            inputLine("project.create", ["project_id": .string(project)]),
            inputLine("projects.created", ["project_id": .string(project)]),
            inputLine("completely.different", ["project_id": .string(project)]),
            inputLine("project.created", ["project_id": .string(project)]),
        ]), to: store)
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout == summary(appended: 1, rejected: 3, lastPosition: 1), "\(run)")
        #expect(run.stderrLines == [
            #"line 1: unknown event type "project.create"; did you mean "project.created"?"#,
            #"line 2: unknown event type "projects.created"; did you mean "project.created"?"#,
            #"line 3: unknown event type "completely.different" (`reel events` lists the 23 types)"#,
        ], "\(run)")
        try expectVerified(store)
    }

    @Test("reel append --help points to reel events and docs/EVENTS.md")
    func appendHelp() throws {
        let run = try reel(["append", "--help"])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("`reel events`") && run.stdout.contains("`reel events TYPE`"), "\(run)")
        #expect(run.stdout.contains("docs/EVENTS.md"), "\(run)")
    }

    @Test("every query reel query --help lists answers on a real store; an option the query does not take is a usage error")
    func everyQueryRuns() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let p = Production()
        let appended = try p.appended(to: store)
        try #require(appended.status == 0, "\(appended)")
        let values = [
            "project": p.project, "frame": p.keyFrame, "shot": p.lampDollyShot, "story": p.story, "user": p.alice, "job": p.stormJob,
            "session": p.lighthouseSession, "status": "completed", "limit": "1",
        ]
        let help = try reel(["query", "--help"])
        let usages = help.stdoutLines.filter { $0.hasPrefix("  reel query ") }.map { $0.dropFirst("  reel query ".count).split(separator: " ").map(String.init) }
        #expect(usages.count == 10, "\(help)")
        for usage in usages {
            var arguments = [usage[0]]
            for word in usage.dropFirst() where word.hasPrefix("--") || word.hasPrefix("[--") {
                let option = String(word.drop { $0 == "[" || $0 == "-" })
                arguments += ["--\(option)", try #require(values[option], "no value for --\(option)")]
            }
            let run = try reel(["query", "--store", store] + arguments)
            #expect(run.status == 0, "\(arguments): \(run)")
            #expect(try parseObject(run.stdout).count >= 2, "\(arguments): \(run)")
        }
        let extra = try reel(["query", "job", "--job", p.stormJob, "--frame", p.keyFrame, "--store", store])
        #expect(extra.status == 2, "\(extra)")
        #expect(extra.stderr.contains("job does not take --frame"), "\(extra)")
        try expectVerified(store)
    }
}
