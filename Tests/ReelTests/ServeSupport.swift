import Foundation
import Testing


/// A `reel serve` process on a free port, started on a store, stopped by a signal.
final class ServeProcess: @unchecked Sendable {
    let url: String
    let store: String
    private let process = Process()
    private let errors = Locked(Data())
    private let group = DispatchGroup()

    /// Starts `reel --store STORE serve --port 0 ARGUMENTS` and waits for its `{"listening": URL}` line.
    init(store: String, _ arguments: [String] = []) throws {
        self.store = store
        process.executableURL = URL(fileURLWithPath: builtExecutable("reel"))
        process.arguments = ["--store", store, "serve", "--port", "0"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["REEL_STORE"] = nil
        process.environment = environment
        let (out, err) = (Pipe(), Pipe())
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let errors = errors
        DispatchQueue.global().async(group: group) {
            while true {
                let data = err.fileHandleForReading.availableData
                if data.isEmpty { break }
                errors.withLock { $0.append(data) }
            }
        }
        // The first line of standard output says where it listens.
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data([0x0A]) { break }
            line.append(byte)
        }
        let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any]
        guard let listening = object?["listening"] as? String else {
            process.waitUntilExit()
            group.wait()
            throw ServeFailed(message: "reel serve did not start: exit \(process.terminationStatus): \(String(decoding: errors.withLock { $0 }, as: UTF8.self))")
        }
        url = listening
        DispatchQueue.global().async { _ = out.fileHandleForReading.readDataToEndOfFile() }
    }

    struct ServeFailed: Error, CustomStringConvertible { let message: String; var description: String { message } }

    /// Sends `signal` and waits for the process: its exit status and what it logged.
    func stop(_ signal: Int32 = SIGTERM) -> (status: Int32, log: String) {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        group.wait()
        return (process.terminationStatus, String(decoding: errors.withLock { $0 }, as: UTF8.self))
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// One HTTP exchange's answer.
struct HTTPAnswer: CustomStringConvertible {
    let status: Int
    let body: Data
    let headers: [String: String]
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    var description: String { "HTTP \(status): \(text.prefix(2_000))" }
}

/// A synchronous HTTP/1.1 request over a plain socket to 127.0.0.1, for tests: the whole answer, read until the
/// service closes the connection (`Connection: close`), within `timeout` seconds per read or write.
///
/// Not URLSession: a test blocks its thread while it waits, and URLSession may need a thread of the same pool to
/// deliver its answer — with every thread of the pool waiting so, the run would hang.
func http(_ method: String, _ url: String, body: Data? = nil, headers: [String: String] = [:], timeout: Double = 60) throws -> HTTPAnswer {
    struct Failed: Error, CustomStringConvertible { let description: String }
    guard let components = URLComponents(string: url), let port = components.port else { throw Failed(description: "not a URL with a port: \(url)") }
    let target = (components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath)
        + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
    guard let socket = connectLoopback(port: port) else { throw Failed(description: "cannot connect to \(url)") }
    defer { close(socket) }
    var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
    setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    if let body { head += "Content-Length: \(body.count)\r\n" }
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    var request = Array((head + "\r\n").utf8)
    if let body { request.append(contentsOf: body) }
    var sent = 0
    while sent < request.count {
        let count = request[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // The service may answer and close before it has read the whole body (413): read its answer then.
        guard count > 0 else { break }
        sent += count
    }
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = recv(socket, &buffer, buffer.count, 0)
        if count == 0 { break }
        if count < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw Failed(description: "no answer from \(url) within \(timeout) s") }
            if errno == ECONNRESET, !answer.isEmpty { break }
            throw Failed(description: "reading the answer from \(url): \(String(cString: strerror(errno)))")
        }
        answer.append(contentsOf: buffer.prefix(count))
    }
    guard let end = answer.firstRange(of: [13, 10, 13, 10]) else {
        throw Failed(description: "no complete answer from \(url): \(String(decoding: answer.prefix(200), as: UTF8.self))")
    }
    let lines = String(decoding: answer[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
    guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
        throw Failed(description: "a malformed status line from \(url): \(lines.first ?? "")")
    }
    var fields: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    var content = Array(answer[end.upperBound...])
    if fields["transfer-encoding"]?.lowercased() == "chunked" {
        var decoded: [UInt8] = []
        var rest = content[...]
        while let lineEnd = rest.firstRange(of: [13, 10]) {
            let sizeText = String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { break }
            rest = rest[lineEnd.upperBound...]
            if size == 0 { break }
            decoded.append(contentsOf: rest.prefix(size))
            rest = rest.dropFirst(size + 2)
        }
        content = decoded
    } else if let length = fields["content-length"].flatMap({ Int($0) }) {
        content = Array(content.prefix(length))
    }
    return HTTPAnswer(status: status, body: Data(content), headers: fields)
}

/// Lines of NDJSON text.
func ndjsonBody(_ lines: [String]) -> Data { Data(lines.map { $0 + "\n" }.joined().utf8) }

/// A Server-Sent Events reader over `curl -sN`: collects events (id and data) until stopped.
final class EventStreamReader: @unchecked Sendable {
    private let process = Process()
    private let state = Locked<(events: [(id: UInt64, data: String)], comments: Int, ends: [String], buffer: String)>(([], 0, [], ""))
    private let finished = DispatchSemaphore(value: 0)

    init(_ url: String, headers: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl", "-sN"] + headers.flatMap { ["-H", "\($0.key): \($0.value)"] } + [url]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let state = state
        let finished = finished
        DispatchQueue.global().async {
            while true {
                let data = out.fileHandleForReading.availableData
                if data.isEmpty { break }
                state.withLock { state in
                    state.buffer += String(decoding: data, as: UTF8.self)
                    while let end = state.buffer.range(of: "\n\n") {
                        let frame = String(state.buffer[..<end.lowerBound])
                        state.buffer.removeSubrange(..<end.upperBound)
                        if frame.hasPrefix(":") { state.comments += 1; continue }
                        var id: UInt64?
                        var event = "message"
                        var payload = ""
                        for line in frame.split(separator: "\n") {
                            if line.hasPrefix("id: ") { id = UInt64(line.dropFirst(4)) }
                            if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                            if line.hasPrefix("data: ") { payload = String(line.dropFirst(6)) }
                        }
                        if event == "end" { state.ends.append(payload) } else if let id { state.events.append((id, payload)) }
                    }
                }
            }
            finished.signal()
        }
    }

    var events: [(id: UInt64, data: String)] { state.withLock { $0.events } }
    var heartbeats: Int { state.withLock { $0.comments } }
    var ends: [String] { state.withLock { $0.ends } }

    /// Waits until `condition` holds, at most `seconds`; returns whether it did.
    func wait(seconds: Double = 30, until condition: (EventStreamReader) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(self) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return condition(self)
    }

    /// Whether the stream ended by itself within `seconds`.
    func ended(within seconds: Double) -> Bool { finished.wait(timeout: .now() + seconds) == .success }

    /// Ends the subscription: SIGKILL, since curl started from a thread of the pool inherits its mask, in which
    /// SIGTERM is blocked.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// An HTTP/1.1 client on one kept-alive connection (a socket), for load from many threads at once: each thread its own.
final class KeepAliveClient {
    private let socket: Int32
    private var pending = [UInt8]()

    init?(_ url: String) {
        guard let port = URL(string: url)?.port, let socket = connectLoopback(port: port) else { return nil }
        self.socket = socket
    }

    deinit { close(socket) }

    /// Sends a request and reads its answer: the status and body, or nil once the connection is closed.
    func send(_ method: String, _ path: String, body: Data) -> (status: Int, body: String)? {
        var request = Array("\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        request.append(contentsOf: body)
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return nil }
            sent += count
        }
        // The head, up to a blank line.
        var head: [UInt8]
        while true {
            if let end = pending.firstRange(of: [13, 10, 13, 10]) {
                head = Array(pending[..<end.lowerBound])
                pending.removeSubrange(..<end.upperBound)
                break
            }
            guard receive() else { return nil }
        }
        let lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n")
        guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else { return nil }
        let length = lines.dropFirst().first { $0.lowercased().hasPrefix("content-length:") }.flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        while pending.count < length { guard receive() else { return nil } }
        let answer = String(decoding: pending.prefix(length), as: UTF8.self)
        pending.removeFirst(length)
        return (status, answer)
    }

    private func receive() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = recv(socket, &buffer, buffer.count, 0)
        guard count > 0 else { return false }
        pending.append(contentsOf: buffer.prefix(count))
        return true
    }
}

/// A TCP connection to 127.0.0.1:`port`, or nil.
func connectLoopback(port: Int) -> Int32? {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(socket)
        return nil
    }
    return socket
}
