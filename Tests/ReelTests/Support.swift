import Foundation
import Testing

/// The path of an executable built next to the test bundle.
func builtExecutable(_ name: String) -> String {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    // On Linux the tests run as `.build/<config>/<Package>PackageTests.xctest`.
    if directory.lastPathComponent.hasSuffix(".xctest") { directory.deleteLastPathComponent() }
    return directory.appendingPathComponent(name).path
}

/// What a run of `reel` printed and how it ended.
struct Run: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String

    /// The lines of standard error, without empty ones.
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    /// The lines of standard output, without empty ones.
    var stdoutLines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    var description: String { "exit \(status)\n--- stdout:\n\(stdout.prefix(4000))\n--- stderr:\n\(stderr.prefix(4000))" }
}

/// A child that exits before reading all of its input (a usage error, a store that cannot be opened) must not kill
/// the test process with SIGPIPE: writing to its standard input then fails with EPIPE instead, which is ignored.
private let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

/// Bytes filled in by a background reader.
private final class Collected: @unchecked Sendable {
    var data = Data()
}

/// Runs the built `reel` with `arguments`, feeding `input` on standard input.
func reel(_ arguments: [String], input: String? = nil, environment: [String: String] = [:], directory: String? = nil) throws -> Run {
    try reel(arguments, inputBytes: input.map { Data($0.utf8) }, environment: environment, directory: directory)
}

/// Runs the built `reel` with `arguments`, feeding raw `inputBytes` on standard input (which may be invalid UTF-8).
///
/// Standard input is written, and standard output and error are drained, on three threads at once: a child that
/// fills one pipe while the test is busy with another can never block the run.
func reel(_ arguments: [String], inputBytes: Data?, environment: [String: String] = [:], directory: String? = nil) throws -> Run {
    _ = ignoreBrokenPipes
    let process = Process()
    process.executableURL = URL(fileURLWithPath: builtExecutable("reel"))
    process.arguments = arguments
    // A developer's own REEL_STORE must never leak into a test: only the tests' `environment` sets it.
    var inherited = ProcessInfo.processInfo.environment
    inherited["REEL_STORE"] = nil
    process.environment = inherited.merging(environment) { $1 }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    let inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inPipe
    try process.run()

    let group = DispatchGroup()
    let stdoutData = Collected()
    let stderrData = Collected()
    let outHandle = out.fileHandleForReading
    let errHandle = err.fileHandleForReading
    let inHandle = inPipe.fileHandleForWriting
    DispatchQueue.global().async(group: group) { stdoutData.data = outHandle.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { stderrData.data = errHandle.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) {
        // The child may exit before reading all of its input (a usage error): ignore a broken pipe.
        if let inputBytes, !inputBytes.isEmpty { try? inHandle.write(contentsOf: inputBytes) }
        try? inHandle.close()
    }
    group.wait()
    process.waitUntilExit()
    return Run(
        status: process.terminationStatus,
        stdout: String(decoding: stdoutData.data, as: UTF8.self),
        stderr: String(decoding: stderrData.data, as: UTF8.self)
    )
}

/// A fresh directory path for a store (not created).
func temporaryStorePath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("reel-e2e-\(UUID().uuidString.prefix(8))").path
}

/// Writes `bytes` to a fresh temporary file and returns its path (remove it with ``remove(_:)``).
func temporaryFile(_ bytes: Data) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-e2e-input-\(UUID().uuidString.prefix(8)).ndjson").path
    try bytes.write(to: URL(fileURLWithPath: path))
    return path
}

/// Writes `text` to a fresh temporary file and returns its path.
func temporaryFile(_ text: String) throws -> String { try temporaryFile(Data(text.utf8)) }

/// Removes a file or directory, if there.
func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

/// A fresh lower-case UUID string.
func uuid() -> String { UUID().uuidString.lowercased() }

/// The integrity check every test that wrote to a store ends with: `reel verify` prints `OK` and exits 0.
func expectVerified(_ store: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let run = try reel(["verify", "--store", store])
    #expect(run.status == 0, "reel verify: \(run)", sourceLocation: sourceLocation)
    #expect(run.stdout == "OK\n", "reel verify: \(run)", sourceLocation: sourceLocation)
}

/// The exact summary line `reel append` prints.
func summary(appended: Int, duplicates: Int = 0, rejected: Int = 0, lastPosition: Int) -> String {
    #"{"appended":\#(appended),"duplicates":\#(duplicates),"rejected":\#(rejected),"last_position":\#(lastPosition)}"# + "\n"
}

// MARK: JSON in

/// A JSON value written with its object members in the order given, for building input lines.
indirect enum JSON: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .int(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(arrayLiteral elements: JSON...) { self = .array(elements) }
    init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements) }
    init(nilLiteral: ()) { self = .null }

    /// Compact JSON text.
    var text: String {
        switch self {
        case let .string(value): JSON.quote(value)
        case let .int(value): String(value)
        case let .double(value): String(value)
        case let .bool(value): value ? "true" : "false"
        case .null: "null"
        case let .array(elements): "[" + elements.map(\.text).joined(separator: ",") + "]"
        case let .object(members): "{" + members.map { JSON.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// One NDJSON input line of `reel append`, without its newline.
func inputLine(_ type: String, _ data: JSON, id: String? = nil, expectedVersion: Int? = nil, metadata: JSON? = nil) -> String {
    var members: [(String, JSON)] = [("type", .string(type)), ("data", data)]
    if let id { members.append(("id", .string(id))) }
    if let expectedVersion { members.append(("expected_version", .int(expectedVersion))) }
    if let metadata { members.append(("metadata", metadata)) }
    return JSON.object(members).text
}

/// Lines joined into an NDJSON document with a final newline.
func ndjson(_ lines: [String]) -> String { lines.map { $0 + "\n" }.joined() }

// MARK: JSON out

/// Parses one JSON object printed by `reel` (query output, summary, envelope).
func parseObject(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [])
    return try #require(value as? [String: Any], "not a JSON object: \(text.prefix(500))", sourceLocation: sourceLocation)
}

/// Parses every line of NDJSON output (`reel read`).
func parseLines(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
    try text.split(separator: "\n").map { try parseObject(String($0), sourceLocation: sourceLocation) }
}

/// The members of a JSON list of objects.
func objects(_ value: Any?, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
    try #require(value as? [[String: Any]], "not a list of objects: \(String(describing: value))", sourceLocation: sourceLocation)
}

/// True when the JSON value is `null`.
func isNull(_ value: Any?) -> Bool { value is NSNull }

/// A time as every `reel` output prints it: ISO-8601 UTC with milliseconds, e.g. `2026-11-22T01:02:03.456Z`.
func isTimestamp(_ value: Any?) -> Bool {
    guard let text = value as? String else { return false }
    return text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil
}

// MARK: Running commands on a store

/// Appends `text` through standard input to `store`.
@discardableResult
func append(_ text: String, to store: String, _ options: [String] = []) throws -> Run {
    try reel(["append", "--store", store] + options, input: text)
}

/// The events of a store as `reel read` prints them.
func readAll(_ store: String, _ options: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
    let run = try reel(["read", "--store", store] + options)
    #expect(run.status == 0, "reel read: \(run)", sourceLocation: sourceLocation)
    return try parseLines(run.stdout, sourceLocation: sourceLocation)
}

/// Runs `reel query NAME ARGS` and parses its one JSON object, expecting success.
func query(_ store: String, _ name: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let run = try reel(["query", name, "--store", store] + arguments)
    #expect(run.status == 0, "reel query \(name): \(run)", sourceLocation: sourceLocation)
    #expect(run.stderr.isEmpty, "reel query \(name): \(run)", sourceLocation: sourceLocation)
    #expect(run.stdout.hasSuffix("\n") && run.stdoutLines.count == 1, "one JSON object on one line: \(run)", sourceLocation: sourceLocation)
    return try parseObject(run.stdout, sourceLocation: sourceLocation)
}

// MARK: Exports

/// The end line an export of `envelopes` closes with (docs/FORMAT.md): how many envelopes (blank lines left out), the
/// last one's position and hash as its line gives them, 0 and 64 zeros for none.
func endLine(_ envelopes: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let events = envelopes.filter { !$0.isEmpty }
    var (position, hash) = (0, String(repeating: "0", count: 64))
    if let last = events.last {
        let fields = try parseObject(last, sourceLocation: sourceLocation)
        position = try #require(fields["position"] as? Int, "no position: \(last.prefix(200))", sourceLocation: sourceLocation)
        hash = try #require(fields["hash"] as? String, "no hash: \(last.prefix(200))", sourceLocation: sourceLocation)
    }
    return #"{"end":{"events":\#(events.count),"last_position":\#(position),"last_hash":"\#(hash)"}}"#
}

/// `envelopes` closed by their end line: the text of an export file.
func exportText(_ envelopes: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    ndjson(envelopes + [try endLine(envelopes, sourceLocation: sourceLocation)])
}

/// The envelope lines of an export's output, after checking that its last line is the end line they call for.
func envelopes(ofExport output: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
    var lines = output.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    let last = lines.popLast()
    let end = try #require(last, "an export has at least its end line", sourceLocation: sourceLocation)
    #expect(end == (try endLine(lines, sourceLocation: sourceLocation)), "the export's last line is its end line: \(end)", sourceLocation: sourceLocation)
    return lines
}

// MARK: Randomized runs and killed processes

/// SplitMix64: a seeded generator, so that a randomized test can be repeated from the seed it prints.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed of a randomized test: `REEL_TEST_SEED` when set (to repeat a run), else a fresh one. Printed either way.
func testSeed(_ test: String) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["REEL_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1 ... .max)
    print("\(test): seed \(seed) (set REEL_TEST_SEED=\(seed) to repeat the run)")
    return seed
}

/// How a run of `reel` that was to be killed ended.
enum KilledRun: Equatable {
    /// SIGKILL ended it.
    case killed
    /// It ended by itself before the kill, with this status.
    case exited(Int32)
}

/// Starts the built `reel` with `arguments` (output discarded, no input, no `$REEL_STORE`) and leaves it running.
func startReel(_ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: builtExecutable("reel"))
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["REEL_STORE"] = nil
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

/// Runs the built `reel` with `arguments` (output discarded, no input) and sends it SIGKILL after `delay` seconds
/// unless it ended first.
func runKilled(_ arguments: [String], after delay: Double) throws -> KilledRun {
    let process = try startReel(arguments)
    let deadline = Date().addingTimeInterval(delay)
    while process.isRunning, Date() < deadline { usleep(UInt32(min(2_000, max(0, deadline.timeIntervalSinceNow) * 1_000_000))) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    return process.terminationReason == .uncaughtSignal ? .killed : .exited(process.terminationStatus)
}

/// `count` lines of `reel append` input that are cheap to import: one new project each.
func projectLines(_ count: Int) -> [String] {
    (0..<count).map { inputLine("project.created", ["project_id": .string(uuid()), "title": .string("project \($0)")]) }
}

/// A store of `count` events made by `reel append`, and its export written by `reel export FILE`; the caller removes
/// both.
func storeAndExport(events count: Int, sourceLocation: SourceLocation = #_sourceLocation) throws -> (store: String, export: String) {
    let store = temporaryStorePath()
    let appended = try append(ndjson(projectLines(count)), to: store, ["--no-sync"])
    try #require(appended.status == 0, "\(appended)", sourceLocation: sourceLocation)
    let export = store + ".ndjson"
    let exported = try reel(["export", "--store", store, export])
    try #require(exported.status == 0, "\(exported)", sourceLocation: sourceLocation)
    return (store, export)
}

/// The words every command prints about a store an import left unfinished.
func unfinishedImportMessage(_ store: String) -> String { "the import into \(store) did not finish" }
