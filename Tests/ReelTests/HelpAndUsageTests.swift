import Foundation
import Testing

/// `--version`, `--help` of every command, the top-level help, and usage errors that show the usage of the command
/// typed and name the bad value: the built `reel`, run as a real process.
@Suite struct HelpAndUsageTests {
    @Test("reel --version prints a version and exits 0")
    func version() throws {
        let run = try reel(["--version"])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.wholeMatch(of: /\d+\.\d+\.\d+\n/) != nil, "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")
    }

    @Test("reel --help gives --store, $REEL_STORE and the exit codes")
    func topLevelHelp() throws {
        let run = try reel(["--help"])
        #expect(run.status == 0, "\(run)")
        for part in ["--store DIR", "$REEL_STORE", "./reel-data", "--version", "Exit codes:", "  0  success", "  1  rejected input", "  2  usage error", "  3  the store cannot be used"] {
            #expect(run.stdout.contains(part), "\(part): \(run)")
        }
    }

    /// The subcommands a help screen lists.
    private func subcommands(_ help: String) -> [String] {
        let lines = help.components(separatedBy: "\n")
        guard let start = lines.firstIndex(of: "SUBCOMMANDS:") else { return [] }
        var names: [String] = []
        for line in lines[(start + 1)...] {
            if line.isEmpty { break }
            // A name starts two spaces in; wrapped summaries start further in.
            if line.hasPrefix("  "), !line.hasPrefix("   ") { names.append(String(line.dropFirst(2).prefix { $0 != " " })) }
        }
        return names
    }

    @Test("--help and -h work for every command and subcommand the help lists, exit 0, with that command's usage")
    func helpOfEveryCommand() throws {
        let root = try reel(["--help"])
        let commands = subcommands(root.stdout)
        #expect(commands.count >= 13 && commands.contains("replay") && commands.contains("events") && commands.contains("audit"), "\(root)")
        var paths = commands.map { [$0] }
        for command in commands {
            let help = try reel([command, "--help"])
            paths += subcommands(help.stdout).map { [command, $0] }
        }
        #expect(paths.contains(["audit", "verify"]) && paths.contains(["audit", "history"]), "\(paths)")
        let store = temporaryStorePath()
        for path in paths {
            for flag in ["--help", "-h"] {
                let run = try reel(path + [flag], environment: ["REEL_STORE": store])
                #expect(run.status == 0, "\(path) \(flag): \(run)")
                #expect(run.stdout.contains("USAGE: reel \(path.joined(separator: " "))"), "\(path) \(flag): \(run)")
                #expect(run.stderr.isEmpty, "\(path) \(flag): \(run)")
            }
            let run = try reel(["help"] + path)
            #expect(run.status == 0 && run.stdout.contains("USAGE: reel \(path.joined(separator: " "))"), "help \(path): \(run)")
        }
        #expect(!exists(store), "help opens no store")
    }

    @Test("reel replay … query … --help prints replay's help and the query's, exit 0", arguments: [
        ["replay", "--to", "3", "query", "--help"],
        ["replay", "--to", "3", "query", "story", "--story", "00000000-0000-4000-8000-000000000001", "--help"],
        ["replay", "--at", "2026-11-22T01:02:03.456Z", "query", "jobs", "-h"],
        ["replay", "query", "--help"],
        ["--store", "/nonexistent/store", "replay", "--to", "1", "query", "sessions", "--help"],
    ])
    func replayQueryHelp(_ arguments: [String]) throws {
        let run = try reel(arguments)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("USAGE: reel replay"), "\(run)")
        #expect(run.stdout.contains("USAGE: reel query"), "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")
    }

    /// Usage errors: the command line, the words of the command typed, and what the message must name.
    static let usageErrors: [(arguments: [String], command: String, names: String)] = [
        (["query", "story", "--story", "not-a-uuid"], "query", "not-a-uuid"),
        (["query", "jobs", "--status", "done"], "query", "done"),
        (["query", "jobs", "--status", "pending", "--limit", "-1"], "query", "-1"),
        (["query", "images-by-shot", "--shot", "00000000-0000-4000-8000-000000000001"], "query", "images-by-shot"),
        (["query", "frames-by-shot", "--frame", "00000000-0000-4000-8000-000000000001"], "query", "--frame"),
        (["query", "job"], "query", "--job"),
        (["query"], "query", "NAME"),
        (["replay", "--to", "100", "query"], "replay", "NAME"),
        (["replay", "--to", "100", "query", "story", "--story", "xyz"], "replay", "xyz"),
        (["replay", "--to", "2", "story"], "replay", "story"),
        (["replay", "--to", "-1"], "replay", "-1"),
        (["replay", "--at", "yesterday"], "replay", "yesterday"),
        (["replay"], "replay", "--to"),
        (["read", "--from", "-5"], "read", "-5"),
        (["read", "--from", "three"], "read", "three"),
        (["read", "--limit", "-3"], "read", "-3"),
        (["read", "--frm", "3"], "read", "--frm"),
        (["audit", "history", "--frame", "nope"], "audit history", "nope"),
        (["audit", "history"], "audit history", "--frame"),
        (["audit", "verify", "--deep"], "audit verify", "--deep"),
        (["verify", "--deep"], "verify", "--deep"),
        (["append", "/nonexistent/input.ndjson"], "append", "/nonexistent/input.ndjson"),
        (["append", "--atomic"], "append", "--atomic"),
        (["import", "/nonexistent/export.ndjson"], "import", "/nonexistent/export.ndjson"),
        (["events", "frame.aproved"], "events", "frame.aproved"),
        (["demo", "--writers", "0"], "demo", "--writers 0"),
        (["demo", "--images", "-4"], "demo", "-4"),
        (["backup"], "backup", "<directory>"),
        (["stats", "--jsn"], "stats", "--jsn"),
        (["export", "a.ndjson", "b.ndjson"], "export", "b.ndjson"),
        (["frobnicate"], "", "frobnicate"),
    ]

    @Test("a usage error prints the usage of the command typed, names the bad value, exits 2 and creates no store", arguments: HelpAndUsageTests.usageErrors)
    func usageError(_ arguments: [String], _ command: String, _ names: String) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let run = try reel(arguments, environment: ["REEL_STORE": store])
        #expect(run.status == 2, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(run.stderr.hasPrefix("Error: "), "\(run)")
        let usage = command.isEmpty ? "Usage: reel <subcommand>" : "Usage: reel \(command) "
        #expect(run.stderr.contains(usage), "the usage of `reel \(command)`: \(run)")
        #expect(run.stderr.components(separatedBy: "Usage:").count == 2, "one usage: \(run)")
        #expect(run.stderr.contains(names), "names \(names): \(run)")
        #expect(!exists(store), "a usage error creates no store")
    }

    @Test("an unknown projection for reel rebuild is a usage error of rebuild, naming it, on a store that stays sound")
    func rebuildUnknownProjection() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let appended = try append(inputLine("project.created", ["project_id": .string(uuid())]) + "\n", to: store)
        try #require(appended.status == 0, "\(appended)")
        let run = try reel(["rebuild", "--projection", "nosuch", "--store", store])
        #expect(run.status == 2, "\(run)")
        #expect(run.stderr.contains("nosuch") && run.stderr.contains("Usage: reel rebuild "), "\(run)")
        try expectVerified(store)
    }
}
