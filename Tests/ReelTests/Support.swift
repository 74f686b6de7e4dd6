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
struct Run {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs the built `reel` with `arguments`, feeding `input` on standard input.
func reel(_ arguments: [String], input: String? = nil, environment: [String: String] = [:]) throws -> Run {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: builtExecutable("reel"))
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    let inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inPipe
    try process.run()
    if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try inPipe.fileHandleForWriting.close()
    // Read both pipes fully before waiting, so a large output cannot block the child.
    let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
    let stderrData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self), stderr: String(decoding: stderrData, as: UTF8.self))
}

/// A fresh directory path for a store (not created).
func temporaryStorePath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("reel-e2e-\(UUID().uuidString.prefix(8))").path
}
