import Foundation

/// A PostgreSQL 15 server of its own for a test: `initdb` in a temporary directory, listening on 127.0.0.1 at a free
/// port, stopped and deleted by ``stop()``. initdb refuses root: as root the server runs as the `postgres` user that
/// Debian's package makes (`tools/setup` installs it).
public final class PostgresServer: @unchecked Sendable {
    public static let binaries = "/usr/lib/postgresql/15/bin"
    public let directory: String
    public let port: Int
    public var data: String { directory + "/data" }
    /// The URL `reel --postgres` takes.
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    public struct Failed: Error, CustomStringConvertible { public let description: String }

    /// Settings given to the server at each start (`-c NAME=VALUE`).
    public let settings: [String]

    /// A new server: `initdb`, then started.
    public convenience init(settings: [String] = []) throws {
        try self.init(directory: Self.newDirectory(), settings: settings)
        let made = try Self.run([
            Self.binaries + "/initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
        ])
        guard made.status == 0 else { throw Failed(description: "initdb failed: \(made.output)") }
        try start()
    }

    /// A streaming-replication standby of `primary`, named `name` (what `synchronous_standby_names` lists): a base
    /// backup with `pg_basebackup -R`, then started with `settings` (not the primary's: promoted, it has no standby
    /// of its own to wait for).
    public convenience init(standbyOf primary: PostgresServer, name: String, settings: [String] = []) throws {
        try self.init(directory: Self.newDirectory(), settings: settings)
        let copied = try Self.run([
            Self.binaries + "/pg_basebackup", "-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres", "-D", data, "-R", "-X",
            "stream",
            "-d", "application_name=\(name)",
        ])
        guard copied.status == 0 else { throw Failed(description: "pg_basebackup failed: \(copied.output)") }
        // The name the primary knows it by, whatever -R wrote (a later line of the file wins).
        let conninfo = "\nprimary_conninfo = 'host=127.0.0.1 port=\(primary.port) user=postgres application_name=\(name)'\n"
        let auto = try FileHandle(forWritingTo: URL(fileURLWithPath: data + "/postgresql.auto.conf"))
        try auto.seekToEnd()
        try auto.write(contentsOf: Data(conninfo.utf8))
        try auto.close()
        try start()
    }

    private init(directory: String, settings: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binaries + "/initdb") else {
            throw Failed(description: "PostgreSQL 15 is not installed (\(Self.binaries)): run tools/setup")
        }
        self.directory = directory
        self.settings = settings
        port = Self.freePort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o777)
    }

    private static func newDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("reel-pg-\(UUID().uuidString.prefix(8))").path
    }

    deinit { stop() }

    /// Runs a PostgreSQL program, as the `postgres` user when this process is root, and waits for it.
    ///
    /// Spawned and reaped here with `posix_spawn` and `waitpid` rather than `Process`: `pg_ctl start` leaves a server
    /// running that inherits its output, and `Process` was seen never to reap a `runuser` that had exited. The output
    /// goes to a file, not a pipe, for the same reason: the server would hold a pipe open forever.
    public static func run(_ command: [String]) throws -> (status: Int32, output: String) {
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

    public func start() throws {
        let started = try Self.run([
            Self.binaries + "/pg_ctl", "-D", data, "-l", directory + "/server.log", "-w", "-t", "60", "-o",
            (["-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c max_connections=200"] + settings.map { "-c \($0)" }).joined(
                separator: " "),
            "start",
        ])
        guard started.status == 0 else {
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            throw Failed(description: "pg_ctl start failed: \(started.output) \(log.suffix(2_000))")
        }
    }

    /// Stops the server: `fast` rolls back open transactions and closes connections; `immediate` is a crash.
    public func halt(_ mode: String = "fast") {
        _ = try? Self.run([Self.binaries + "/pg_ctl", "-D", data, "-m", mode, "-w", "stop"])
    }

    /// A file-level backup of the whole server, taken while it is stopped (it is started again after). Returns where
    /// it is, for ``restore(_:)``.
    public func backUp() throws -> String {
        halt()
        let backup = directory + "/backup"
        let copied = try Self.run(["/bin/cp", "-a", data, backup])
        guard copied.status == 0 else { throw Failed(description: "cp -a \(data) \(backup): \(copied.output)") }
        try start()
        return backup
    }

    /// Puts a backup made by ``backUp()`` in place of the server's data and starts it: the server as it was then.
    public func restore(_ backup: String) throws {
        halt()
        try FileManager.default.removeItem(atPath: data)
        let moved = try Self.run(["/bin/mv", backup, data])
        guard moved.status == 0 else { throw Failed(description: "mv \(backup) \(data): \(moved.output)") }
        try start()
    }

    /// A crash of the whole server: the postmaster stopped, every process of it killed with SIGKILL.
    public func kill() throws {
        guard let line = try String(contentsOfFile: data + "/postmaster.pid", encoding: .utf8).split(separator: "\n").first,
            let postmaster = pid_t(line)
        else { throw Failed(description: "no postmaster.pid in \(data)") }
        // Stopped first, so that it starts no process while its children are killed.
        Glibc.kill(postmaster, SIGSTOP)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.range(of: ")", options: .backwards)
            else { continue }
            // After "pid (name) state ", the parent's pid.
            let fields = stat[close.upperBound...].split(separator: " ")
            if fields.count > 1, pid_t(fields[1]) == postmaster { Glibc.kill(pid, SIGKILL) }
        }
        Glibc.kill(postmaster, SIGKILL)
    }

    /// Promotes a standby to primary and waits until it is one.
    public func promote() throws {
        let promoted = try Self.run([Self.binaries + "/pg_ctl", "-D", data, "-w", "-t", "60", "promote"])
        guard promoted.status == 0 else { throw Failed(description: "pg_ctl promote failed: \(promoted.output)") }
    }

    /// Stops the server and deletes its directory.
    public func stop() {
        guard FileManager.default.fileExists(atPath: data) else { return }
        halt("immediate")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs SQL through psql and returns what it printed (unaligned, tuples only).
    public func sql(_ statement: String) throws -> String {
        let result = try Self.run([
            "/usr/bin/psql", "-h", directory, "-p", String(port), "-U", "postgres", "-d", "postgres", "-At", "-c", statement,
        ])
        guard result.status == 0 else { throw Failed(description: "psql failed: \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A TCP port nothing listens on now.
    public static func freePort() -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
