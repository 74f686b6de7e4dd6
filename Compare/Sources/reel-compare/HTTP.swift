// The HTTP workloads' machinery: starting and stopping a service (`reel serve`, pg-append-service) as a child process,
// and SwiftNIO clients for the load (W7: keep-alive connections sending requests back to back), the paced appends and
// the Server-Sent Events subscribers (W8). The clients are channel handlers on two event-loop threads: every request
// and every received event is handled where the bytes arrive, with no hop to another thread, so that the load
// generator, which shares the machine's cores with the service it measures, takes as little of them as it can.

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Monotonic nanoseconds (`CLOCK_MONOTONIC`, the clock of `NIODeadline`): every time W7 and W8 take.
@inline(__always) func nanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// The client's event loops: one thread per core.
let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)

// MARK: - A service as a child process

/// A service this process starts (`reel serve`, pg-append-service): it prints `{"listening":"http://HOST:PORT"}` on
/// standard output once ready, and shuts down gracefully on SIGTERM. Its pid is added to `pidFile`, so that
/// tools/compare can stop it should this process die first. Its standard error goes to /dev/null (`reel serve` logs a
/// line per request).
final class ServiceProcess {
    let name: String
    private let process = Process()
    private let output = Pipe()
    private let pidFile: String
    let port: Int

    init(_ name: String, executable: String, arguments: [String], pidFile: String) throws {
        self.name = name
        self.pidFile = pidFile
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw Failure(description: "\(name): no executable at \(executable) (tools/compare builds it)")
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        try process.run()
        if let handle = FileHandle(forWritingAtPath: pidFile) ?? {
            _ = FileManager.default.createFile(atPath: pidFile, contents: nil)
            return FileHandle(forWritingAtPath: pidFile)
        }() {
            handle.seekToEndOfFile()
            handle.write(Data("\(process.processIdentifier)\n".utf8))
            try? handle.close()
        }
        // The first line of its output names the port.
        let fd = output.fileHandleForReading.fileDescriptor
        var text = ""
        let deadline = Date().addingTimeInterval(120)
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while !text.contains("\n"), Date() < deadline {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 500) > 0 {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                text += String(decoding: buffer[0..<n], as: UTF8.self)
            } else if !process.isRunning {
                break
            }
        }
        guard let range = text.range(of: "127.0.0.1:"), let port = Int(text[range.upperBound...].prefix(while: \.isNumber)) else {
            let running = process.isRunning
            if running { process.terminate() }
            process.waitUntilExit()
            throw Failure(description: "\(name) did not start (\(running ? "no address within 120 s" : "exit status \(process.terminationStatus)")); run `\(executable) \(arguments.joined(separator: " "))` to see why")
        }
        self.port = port
    }

    var pid: Int32 { process.processIdentifier }

    /// SIGTERM, then waits for the graceful shutdown (SIGKILL after 60 s). Returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        // No longer ours to stop: its pid may be reused.
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8) {
            let rest = text.split(separator: "\n").filter { $0 != "\(process.processIdentifier)" }.map { $0 + "\n" }.joined()
            try? rest.write(toFile: pidFile, atomically: true, encoding: .utf8)
        }
        return process.terminationStatus
    }
}

// MARK: - CPU time

/// CPU seconds (user + system) of a process and all its threads, from /proc/PID/stat; 0 once it is gone.
func processCPU(_ pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command: state (field 3) … utime (14), stime (15).
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU seconds of this process.
func ownCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

/// CPU seconds of every PostgreSQL process of the cluster whose postmaster is `postmaster` (its backends, WAL writer,
/// checkpointer …), or of every process named postgres when that pid is unknown.
func postgresCPU(postmaster: Int32?) -> Double {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return 0 }
    var total = 0.0
    for name in names {
        guard let pid = Int32(name), let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            text.contains("(postgres)"), let close = text.lastIndex(of: ")")
        else { continue }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13 else { continue }
        if let postmaster, pid != postmaster, Int32(fields[1]) != postmaster { continue }
        total += ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
    return total
}

// MARK: - W7's load: connections sending requests back to back

/// What one load's connections measured (written on their event loops, read once they are done).
final class LoadRecord: @unchecked Sendable {
    /// Microseconds from the request's first byte written to its response's last byte read.
    var latencies: [Double] = []
    /// 200 answers saying `"appended":1`.
    var acknowledged = 0
    var failures = 0
    var firstFailure: String?
    var lastResponse: UInt64 = 0
}

/// One keep-alive connection: sends `POST path` with `body(g)` for its image numbers g = connection, connection +
/// connections, … back to back, each as soon as the answer to the one before it has arrived, until `deadline`.
final class LoadHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    static let acknowledgement = Array("{\"appended\":1,".utf8)

    let connection: Int
    let connections: Int
    let deadline: UInt64
    let host: String
    let path: String
    let body: @Sendable (Int) -> String
    let record: LoadRecord
    let done: EventLoopPromise<Void>
    /// How an acknowledged answer starts (`{"appended":1,` for one line; W9's batches of 64, `{"appended":64,`).
    let acknowledgement: [UInt8]
    private var k = 0
    private var sentAt: UInt64 = 0
    private var status: UInt = 0
    private var answer: [UInt8] = []
    private var finished = false

    init(connection: Int, connections: Int, deadline: UInt64, host: String, path: String, body: @escaping @Sendable (Int) -> String, record: LoadRecord, done: EventLoopPromise<Void>, acknowledgement: [UInt8] = LoadHandler.acknowledgement) {
        self.acknowledgement = acknowledgement
        self.connection = connection
        self.connections = connections
        self.deadline = deadline
        self.host = host
        self.path = path
        self.body = body
        self.record = record
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context)
        context.fireChannelActive()
    }

    private func send(_ context: ChannelHandlerContext) {
        guard nanos() < deadline else { return finish(context, nil) }
        let bytes = context.channel.allocator.buffer(string: body(connection + connections * k))
        k += 1
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Type", value: "application/x-ndjson")
        head.headers.add(name: "Content-Length", value: String(bytes.readableBytes))
        sentAt = nanos()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            status = head.status.code
            answer.removeAll(keepingCapacity: true)
        case let .body(buffer):
            if answer.count < 512 { answer.append(contentsOf: buffer.readableBytesView.prefix(512 - answer.count)) }
        case .end:
            let now = nanos()
            record.latencies.append(Double(now - sentAt) / 1_000)
            record.lastResponse = max(record.lastResponse, now)
            if status == 200, answer.starts(with: acknowledgement) {
                record.acknowledged += 1
            } else {
                record.failures += 1
                if record.firstFailure == nil { record.firstFailure = "\(status) \(String(decoding: answer, as: UTF8.self))" }
            }
            send(context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { finish(context, error) }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context, Failure(description: "the service closed a connection"))
        context.fireChannelInactive()
    }

    private func finish(_ context: ChannelHandlerContext, _ error: (any Error)?) {
        guard !finished else { return }
        finished = true
        if let error { done.fail(error) } else { done.succeed() }
        context.close(promise: nil)
    }
}

enum HTTPLoad {
    /// `connections` keep-alive connections to 127.0.0.1:`port`, each sending requests back to back for `seconds`.
    /// Returns the merged record and the seconds from the start to the last answer.
    static func run(
        port: Int, connections: Int, seconds: Double, acknowledgement: [UInt8] = LoadHandler.acknowledgement, body: @escaping @Sendable (Int) -> String
    ) async throws -> (LoadRecord, Double) {
        let start = nanos()
        let deadline = start + UInt64(seconds * 1e9)
        let records = (0..<connections).map { _ in LoadRecord() }
        var futures: [EventLoopFuture<Void>] = []
        for c in 0..<connections {
            let loop = clientGroup.next()
            let done = loop.makePromise(of: Void.self)
            let record = records[c]
            let connect = ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(LoadHandler(
                            connection: c, connections: connections, deadline: deadline, host: "127.0.0.1:\(port)", path: "/v1/events",
                            body: body, record: record, done: done, acknowledgement: acknowledgement))
                    }
                }
                .connect(host: "127.0.0.1", port: port)
            connect.whenFailure { done.fail($0) }
            futures.append(done.futureResult)
        }
        var errors: [String] = []
        for future in futures {
            do { try await future.get() } catch { errors.append("\(error)") }
        }
        if !errors.isEmpty { throw Failure(description: "HTTP load on port \(port): \(errors.count) connections failed: \(errors[0])") }
        let merged = LoadRecord()
        for record in records {
            merged.latencies += record.latencies
            merged.acknowledged += record.acknowledged
            merged.failures += record.failures
            merged.firstFailure = merged.firstFailure ?? record.firstFailure
            merged.lastResponse = max(merged.lastResponse, record.lastResponse)
        }
        return (merged, Double(max(merged.lastResponse, start + 1) - start) / 1e9)
    }
}

// MARK: - One request

/// Answers one request on a connection of its own.
final class OneRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let head: HTTPRequestHead
    let body: String
    let done: EventLoopPromise<(UInt, String)>
    private var status: UInt = 0
    private var answer: [UInt8] = []
    private var finished = false

    init(head: HTTPRequestHead, body: String, done: EventLoopPromise<(UInt, String)>) {
        self.head = head
        self.body = body
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = head
        let bytes = context.channel.allocator.buffer(string: body)
        head.headers.add(name: "Content-Length", value: String(bytes.readableBytes))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head): status = head.status.code
        case let .body(buffer): answer.append(contentsOf: buffer.readableBytesView)
        case .end:
            finished = true
            done.succeed((status, String(decoding: answer, as: UTF8.self)))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !finished { finished = true; done.fail(error) }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !finished { finished = true; done.fail(Failure(description: "the connection closed before the answer")) }
        context.fireChannelInactive()
    }
}

enum HTTPOnce {
    /// `POST path` with `body` to 127.0.0.1:`port`; returns the status and the answer.
    static func post(port: Int, path: String, body: String) async throws -> (status: UInt, body: String) {
        let loop = clientGroup.next()
        let done = loop.makePromise(of: (UInt, String).self)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
        head.headers.add(name: "Content-Type", value: "application/x-ndjson")
        head.headers.add(name: "Connection", value: "close")
        let request = head
        ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(OneRequestHandler(head: request, body: body, done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .whenFailure { done.fail($0) }
        let (status, answer) = try await done.futureResult.get()
        return (status, answer)
    }

    /// `GET path` from 127.0.0.1:`port`; returns the status and the answer.
    static func get(port: Int, path: String) async throws -> (status: UInt, body: String) {
        let loop = clientGroup.next()
        let done = loop.makePromise(of: (UInt, String).self)
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
        head.headers.add(name: "Connection", value: "close")
        let request = head
        ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(OneRequestHandler(head: request, body: "", done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .whenFailure { done.fail($0) }
        let (status, answer) = try await done.futureResult.get()
        return (status, answer)
    }

    /// The value of a sample named `name` (with any labels) in Prometheus's text format.
    static func metric(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") || line.hasPrefix(name + "{") {
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    /// The number after `"name":` in a JSON answer.
    static func number(_ name: String, in text: some StringProtocol) -> UInt64? {
        guard let range = text.range(of: "\"\(name)\":") else { return nil }
        return UInt64(text[range.upperBound...].prefix(while: \.isNumber))
    }
}

// MARK: - W8: paced appends

/// Sends `count` appends (`body(k)` is the k-th request's line) to `port`, paced at `rate` a second from `start`
/// (nanoseconds, `nanos()`'s clock) over `connections` keep-alive connections, request k on connection k mod
/// `connections`; returns when every one is answered, with each connection's record.
func sendPaced(
    count: Int, rate: Double, connections: Int, start: UInt64, port: Int, group: any EventLoopGroup, body: @escaping @Sendable (Int) -> String
) async throws -> [PacedRecord] {
    let records = (0..<connections).map { _ in PacedRecord() }
    var sent: [EventLoopFuture<Void>] = []
    for c in 0..<connections {
        let loop = group.next()
        let promise = loop.makePromise(of: Void.self)
        let record = records[c]
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(PacedHandler(
                        connection: c, connections: connections, count: count, start: start, interval: 1e9 / rate, host: "127.0.0.1:\(port)",
                        body: body, record: record, done: promise))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .whenFailure { promise.fail($0) }
        sent.append(promise.futureResult)
    }
    for future in sent { try await future.get() }
    return records
}

/// What the paced appenders measured: each acknowledged event's position and the time its answer arrived.
final class PacedRecord: @unchecked Sendable {
    var acknowledged: [(position: UInt64, at: UInt64)] = []
    var failures = 0
    var firstFailure: String?
    /// How late the latest request was sent against its schedule, in nanoseconds.
    var worstStartDelay: UInt64 = 0
}

/// One connection of the paced load: event i (for i = connection, connection + connections, …, below `count`) is
/// sent at `start + i × interval`, or as soon as the answer to the one before it has arrived if that is later.
final class PacedHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let connection: Int
    let connections: Int
    let count: Int
    let start: UInt64
    let interval: Double
    let host: String
    let body: @Sendable (Int) -> String
    let record: PacedRecord
    let done: EventLoopPromise<Void>
    private var next: Int
    private var status: UInt = 0
    private var answer: [UInt8] = []
    private var finished = false

    init(connection: Int, connections: Int, count: Int, start: UInt64, interval: Double, host: String, body: @escaping @Sendable (Int) -> String, record: PacedRecord, done: EventLoopPromise<Void>) {
        self.connection = connection
        self.connections = connections
        self.count = count
        self.start = start
        self.interval = interval
        self.host = host
        self.body = body
        self.record = record
        self.done = done
        self.next = connection
    }

    func channelActive(context: ChannelHandlerContext) {
        schedule(context)
        context.fireChannelActive()
    }

    private func schedule(_ context: ChannelHandlerContext) {
        guard next < count else { return finish(context, nil) }
        let due = start + UInt64(Double(next) * interval)
        let now = nanos()
        if due <= now {
            record.worstStartDelay = max(record.worstStartDelay, now - due)
            send(context)
        } else {
            context.eventLoop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(due)) { [self] in
                let now = nanos()
                record.worstStartDelay = max(record.worstStartDelay, now > due ? now - due : 0)
                send(context)
            }
        }
    }

    private func send(_ context: ChannelHandlerContext) {
        guard !finished else { return }
        let bytes = context.channel.allocator.buffer(string: body(next))
        next += connections
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/events")
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Type", value: "application/x-ndjson")
        head.headers.add(name: "Content-Length", value: String(bytes.readableBytes))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            status = head.status.code
            answer.removeAll(keepingCapacity: true)
        case let .body(buffer):
            answer.append(contentsOf: buffer.readableBytesView)
        case .end:
            let now = nanos()
            let text = String(decoding: answer, as: UTF8.self)
            if status == 200, text.hasPrefix("{\"appended\":1,"), let position = HTTPOnce.number("last_position", in: text) {
                record.acknowledged.append((position, now))
            } else {
                record.failures += 1
                if record.firstFailure == nil { record.firstFailure = "\(status) \(text)" }
            }
            schedule(context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { finish(context, error) }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context, Failure(description: "the service closed a connection"))
        context.fireChannelInactive()
    }

    private func finish(_ context: ChannelHandlerContext, _ error: (any Error)?) {
        guard !finished else { return }
        finished = true
        if let error { done.fail(error) } else { done.succeed() }
        context.close(promise: nil)
    }
}

// MARK: - W8: Server-Sent Events subscribers

/// Reads the event ids of a Server-Sent Events stream (its `id: P` lines), a byte at a time.
struct EventIDParser {
    private enum State { case lineStart, prefix(Int), digits(UInt64), skip }
    private var state = State.lineStart
    private static let prefix: [UInt8] = Array("id: ".utf8)

    /// Takes the stream's next byte; returns the id of an `id:` line whose digits it ends.
    @inline(__always) mutating func take(_ byte: UInt8) -> UInt64? {
        switch state {
        case .lineStart:
            state = byte == Self.prefix[0] ? .prefix(1) : (byte == 0x0A ? .lineStart : .skip)
        case let .prefix(matched):
            if byte == Self.prefix[matched] {
                state = matched + 1 == Self.prefix.count ? .digits(0) : .prefix(matched + 1)
            } else {
                state = byte == 0x0A ? .lineStart : .skip
            }
        case let .digits(value):
            if byte >= 0x30, byte <= 0x39 {
                state = .digits(value &* 10 &+ UInt64(byte - 0x30))
            } else {
                state = byte == 0x0A ? .lineStart : .skip
                return value
            }
        case .skip:
            if byte == 0x0A { state = .lineStart }
        }
        return nil
    }

    /// Takes a chunk of the stream and calls `found` with each id it ends, in order. The rest of a line that is not an
    /// id line is skipped with `memchr`, not byte by byte: an event's `data:` line is most of the stream, and a reader
    /// tailing a log during a benchmark must not take the CPU the appends it watches need.
    mutating func scan(_ bytes: UnsafeRawBufferPointer, _ found: (UInt64) -> Void) {
        guard let base = bytes.baseAddress else { return }
        var state = self
        var offset = 0
        while offset < bytes.count {
            if case .skip = state.state {
                guard let newline = memchr(base + offset, 0x0A, bytes.count - offset) else { break }
                offset = base.distance(to: UnsafeRawPointer(newline)) + 1
                state.state = .lineStart
                continue
            }
            if let id = state.take(bytes[offset]) { found(id) }
            offset += 1
        }
        self = state
    }
}

/// Sends `GET /v1/subscribe?from=F` for Server-Sent Events on a client channel.
func requestSubscription(_ context: ChannelHandlerContext, from: UInt64, host: String) {
    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/subscribe?from=\(from)")
    head.headers.add(name: "Host", value: host)
    head.headers.add(name: "Accept", value: "text/event-stream")
    context.write(NIOAny(HTTPClientRequestPart.head(head)), promise: nil)
    context.writeAndFlush(NIOAny(HTTPClientRequestPart.end(nil)), promise: nil)
}

/// Subscribes a ``SubscriberHandler`` from `from` to the service on `port`: its channel, and when it is live (`ready`)
/// and finished (`done`).
func subscribe(port: Int, from: UInt64, record: SubscriberRecord) async throws -> (
    channel: any Channel, ready: EventLoopFuture<Void>, done: EventLoopFuture<Void>
) {
    let loop = clientGroup.next()
    let ready = loop.makePromise(of: Void.self)
    let done = loop.makePromise(of: Void.self)
    let channel = try await ClientBootstrap(group: loop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(SubscriberHandler(
                    from: from, host: "127.0.0.1:\(port)", record: record, ready: ready, done: done))
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
    return (channel, ready.futureResult, done.futureResult)
}

/// What one subscriber received: the time each of the load's events arrived (0: not yet).
final class SubscriberRecord: @unchecked Sendable {
    var deliveries: [UInt64]
    var received = 0
    var complete = false
    var bytes = 0
    var ending: String?

    init(count: Int) { deliveries = Array(repeating: 0, count: count) }
}

/// `GET /v1/subscribe?from=F`: reads the event ids (`id: P` lines) as they arrive. The event at F itself (which was
/// in the store before the load) says the subscription is live (`ready`); the load's events are F+1 … F+count, and
/// the subscriber closes its connection once it has them all (`done`), or when `closeAt` comes.
final class SubscriberHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let from: UInt64
    let host: String
    let record: SubscriberRecord
    let ready: EventLoopPromise<Void>
    let done: EventLoopPromise<Void>
    private var isReady = false
    private var finished = false
    private var ids = EventIDParser()

    init(from: UInt64, host: String, record: SubscriberRecord, ready: EventLoopPromise<Void>, done: EventLoopPromise<Void>) {
        self.from = from
        self.host = host
        self.record = record
        self.ready = ready
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        requestSubscription(context, from: from, host: host)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            if head.status.code != 200 { end(context, "status \(head.status.code)") }
        case let .body(buffer):
            let now = nanos()
            record.bytes += buffer.readableBytes
            buffer.withUnsafeReadableBytes { bytes in
                ids.scan(bytes) { seen($0, now) }
            }
            if record.received == record.deliveries.count { record.complete = true; end(context, nil) }
        case .end:
            end(context, "the service ended the stream")
        }
    }

    private func seen(_ position: UInt64, _ now: UInt64) {
        if position == from {
            if !isReady { isReady = true; ready.succeed() }
            return
        }
        let index = Int(truncatingIfNeeded: position &- from &- 1)
        guard index >= 0, index < record.deliveries.count, record.deliveries[index] == 0 else { return }
        record.deliveries[index] = now
        record.received += 1
    }

    /// Ends the subscription (`reason` nil: complete).
    func end(_ context: ChannelHandlerContext, _ reason: String?) {
        guard !finished else { return }
        finished = true
        record.ending = reason
        if !isReady { isReady = true; ready.fail(Failure(description: "a subscription did not start: \(reason ?? "?")")) }
        done.succeed()
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { end(context, "\(error)") }

    func channelInactive(context: ChannelHandlerContext) {
        end(context, "the connection closed")
        context.fireChannelInactive()
    }
}
