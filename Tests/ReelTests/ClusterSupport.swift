import Foundation
import Testing

/// A PostgreSQL 15 server of its own for a test: `initdb` in a temporary directory, listening on 127.0.0.1 at a free
/// port, stopped and deleted by ``stop()``. initdb refuses root: as root the server runs as the `postgres` user that
/// Debian's package makes (`tools/setup` installs it).
final class PostgresServer: @unchecked Sendable {
    static let binaries = "/usr/lib/postgresql/15/bin"
    let directory: String
    let port: Int
    var data: String { directory + "/data" }
    /// The URL `reel --postgres` takes.
    var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    struct Failed: Error, CustomStringConvertible { let description: String }

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binaries + "/initdb") else {
            throw Failed(description: "PostgreSQL 15 is not installed (\(Self.binaries)): run tools/setup")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-pg-\(UUID().uuidString.prefix(8))").path
        port = Self.freePort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o777)
        let made = try Self.run([Self.binaries + "/initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"])
        guard made.status == 0 else { throw Failed(description: "initdb failed: \(made.output)") }
        try start()
    }

    deinit { stop() }

    /// Runs a PostgreSQL program, as the `postgres` user when this process is root, and waits for it.
    ///
    /// Spawned and reaped here with `posix_spawn` and `waitpid` rather than `Process`: `pg_ctl start` leaves a server
    /// running that inherits its output, and `Process` was seen never to reap a `runuser` that had exited. The output
    /// goes to a file, not a pipe, for the same reason: the server would hold a pipe open forever.
    static func run(_ command: [String]) throws -> (status: Int32, output: String) {
        let arguments = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("reel-pg-output-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard spawned == 0 else { throw Failed(description: "could not start \(arguments[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw Failed(description: "waitpid failed: \(String(cString: strerror(errno)))") }
        }
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        // Exited normally: its exit status; killed by a signal: 128 + the signal, as a shell says.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, text)
    }

    func start() throws {
        let started = try Self.run([
            Self.binaries + "/pg_ctl", "-D", data, "-l", directory + "/server.log", "-w", "-t", "60", "-o",
            "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c max_connections=200", "start",
        ])
        guard started.status == 0 else {
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            throw Failed(description: "pg_ctl start failed: \(started.output) \(log.suffix(2_000))")
        }
    }

    /// Stops the server: `fast` rolls back open transactions and closes connections; `immediate` is a crash.
    func halt(_ mode: String = "fast") {
        _ = try? Self.run([Self.binaries + "/pg_ctl", "-D", data, "-m", mode, "-w", "stop"])
    }

    /// Stops the server and deletes its directory.
    func stop() {
        guard FileManager.default.fileExists(atPath: data) else { return }
        halt("immediate")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs SQL through psql and returns what it printed (unaligned, tuples only).
    func sql(_ statement: String) throws -> String {
        let result = try Self.run(["/usr/bin/psql", "-h", directory, "-p", String(port), "-U", "postgres", "-d", "postgres", "-At", "-c", statement])
        guard result.status == 0 else { throw Failed(description: "psql failed: \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A TCP port nothing listens on now.
    static func freePort() -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A temporary directory for a node's store, made here so that the `postgres` user never needs it.
func nodeStore() -> String { temporaryStorePath() }
