import CLMDB
import Glibc

/// Turns a crash on a damaged data file into a message and an exit status, for command-line tools.
///
/// LMDB keeps no checksums and this version (0.9.24) does not bound sizes or page numbers by the file: damage it cannot
/// see (a flipped page number, size or link) makes it read through the map past the end of `data.mdb`, which is a
/// `SIGBUS` (`BUS_ADRERR`), or follow a wild pointer, a `SIGSEGV`. ``Environment`` refuses a truncated file at open and
/// bounds every key and value it lends (`MapBounds`); `PageAudit` finds such damage before anything reads it. This
/// catches the rest. Once installed, a fault is taken for damage, its message written to standard error and the
/// process ended with the status given, when it is:
///
/// - a `SIGBUS` of a page past the end of a mapped file;
/// - a `SIGSEGV` at an address inside the map of an open environment (or just past its end), whoever read it — LMDB,
///   the `memcpy` it calls, or Swift code reading a value LMDB lent;
/// - a `SIGSEGV` or `SIGFPE` whose instruction is in liblmdb's code, or in a function liblmdb called (its return
///   address is in liblmdb: the `memcpy` of a node LMDB moves).
///
/// Any other fault goes to the handler that was there before (Swift's backtracer), so a bug is still a crash with a
/// backtrace.
///
/// A process-wide signal handler: for executables, not for libraries embedded in someone else's process. (An assertion
/// failure inside LMDB ends the process in every case: see ``Environment``.)
public enum FaultGuard {
    /// Installs the handlers, or replaces the message and status of the installed ones.
    public static func install(message: String, status: Int32) {
        let bytes = Array((message + "\n").utf8)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)
        buffer.initialize(from: bytes, count: bytes.count)
        guardState.pointee.message = UnsafeRawPointer(buffer)
        guardState.pointee.length = bytes.count
        guardState.pointee.status = status
        guard !guardState.pointee.installed else { return }
        guardState.pointee.installed = true
        (guardState.pointee.codeStart, guardState.pointee.codeEnd) = lmdbCode()
        for (signal, previous) in [(SIGBUS, previousBus), (SIGSEGV, previousSegv), (SIGFPE, previousFpe)] {
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = handleFault
            action.sa_flags = SA_SIGINFO | SA_ONSTACK
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, previous)
        }
    }

    /// The status and message an assertion failure of LMDB ends the process with (see `lmdbAssertionFailed`).
    static var assertionStatus: Int32 { guardState.pointee.installed ? guardState.pointee.status : 3 }

    /// Records where the map of `env` lies, so that a fault there is known for damage.
    static func register(map: MapBounds, for env: OpaquePointer) {
        // A map whose place is unknown (bounds of the whole address space) says nothing about a fault.
        guard map.isKnown else {
            unregister(env)
            return
        }
        mapsLock.lock()
        defer { mapsLock.unlock() }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(env)))
        var free: Int?
        for slot in 0..<mapSlots {
            if maps[slot].env == key {
                maps[slot] = MapSlot(env: key, start: map.start, end: map.end)
                return
            }
            if maps[slot].env == 0, free == nil { free = slot }
        }
        if let free { maps[free] = MapSlot(env: key, start: map.start, end: map.end) }
    }

    /// Forgets the map of `env`, before it is closed.
    static func unregister(_ env: OpaquePointer) {
        mapsLock.lock()
        defer { mapsLock.unlock() }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(env)))
        for slot in 0..<mapSlots where maps[slot].env == key { maps[slot] = MapSlot() }
    }

    /// Where liblmdb's code is mapped: its executable mapping in `/proc/self/maps`.
    private static func lmdbCode() -> (UInt, UInt) {
        guard let file = fopen("/proc/self/maps", "r") else { return (0, 0) }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            // "7f12…-7f12… r-xp 00004000 08:01 1234  /usr/lib/x86_64-linux-gnu/liblmdb.so.0.0.0"
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1].contains("x"), fields[5].contains("liblmdb") else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16) else { continue }
            return (start, end)
        }
        return (0, 0)
    }
}

/// Called by LMDB when one of its assertions fails, which on a damaged file some do (`IS_LEAF(mp)`, `IS_BRANCH(mp)`):
/// lmdb.h, `mdb_env_set_assert`, and mdb.c call `abort()` once it returns, so the process ends here instead, with the
/// store's path and LMDB's words on standard error and exit status 3 (or the one ``FaultGuard/install(message:status:)``
/// set). Nothing can go on in a process once LMDB has found its own state impossible: a service that embeds a store ends
/// with it, and its supervisor restarts it; the store must then be checked (`PageAudit`) and restored.
let lmdbAssertionFailed: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = { env, message in
    var path: UnsafePointer<CChar>?
    if let env { mdb_env_get_path(env, &path) }
    func put(_ text: UnsafePointer<CChar>?) {
        guard let text else { return }
        _ = write(2, text, strlen(text))
    }
    put("the store at ")
    if let path { put(path) } else { put("(unknown)") }
    put(" is damaged: LMDB found a page it cannot use and stopped (")
    put(message)
    put("); restore the store from a backup or an export\n")
    _exit(FaultGuard.assertionStatus)
}

/// What the handler reads; written before the handlers are installed, so reading it in one needs no lock.
private struct GuardState {
    var installed = false
    var message: UnsafeRawPointer?
    var length = 0
    var status: Int32 = 3
    var codeStart: UInt = 0
    var codeEnd: UInt = 0
}

/// One open environment's map. The handler reads the slots without a lock: each is written whole while no fault of
/// that environment can be taken for another's (a map being set anew is not in use).
private struct MapSlot {
    var env: UInt = 0
    var start: UInt = 0
    var end: UInt = 0
}

private let mapSlots = 256
/// How far past the end of a map a fault is still taken for a read of the store: a size from a damaged page sends a
/// copy on past the map's last byte.
private let mapSlack: UInt = 1 << 20

nonisolated(unsafe) private let maps: UnsafeMutablePointer<MapSlot> = {
    let slots = UnsafeMutablePointer<MapSlot>.allocate(capacity: mapSlots)
    slots.initialize(repeating: MapSlot(), count: mapSlots)
    return slots
}()
private let mapsLock = PthreadMutex()

nonisolated(unsafe) private let guardState: UnsafeMutablePointer<GuardState> = {
    let state = UnsafeMutablePointer<GuardState>.allocate(capacity: 1)
    state.initialize(to: GuardState())
    return state
}()
nonisolated(unsafe) private let previousBus: UnsafeMutablePointer<sigaction> = .allocate(capacity: 1)
nonisolated(unsafe) private let previousSegv: UnsafeMutablePointer<sigaction> = .allocate(capacity: 1)
nonisolated(unsafe) private let previousFpe: UnsafeMutablePointer<sigaction> = .allocate(capacity: 1)

/// A mutex usable from non-isolated code without Foundation.
private final class PthreadMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
}

/// Only async-signal-safe calls here: `write`, `_exit`, `sigaction`.
private func handleFault(_ signal: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?) {
    let state = guardState.pointee
    var ours = false
    let address = info.map { UInt(bitPattern: $0.pointee._sifields._sigfault.si_addr) } ?? 0
    if signal == SIGBUS {
        // BUS_ADRERR: a mapped file's page that does not exist, i.e. past the end of data.mdb.
        ours = info?.pointee.si_code == 2
    } else if signal == SIGSEGV {
        for slot in 0..<mapSlots {
            let map = maps[slot]
            if map.env != 0, address >= map.start, address - map.start < map.end - map.start + mapSlack {
                ours = true
                break
            }
        }
    }
    if signal != SIGBUS, !ours, let context, state.codeStart < state.codeEnd {
        let (pc, sp) = registers(context)
        let inLMDB = { (value: UInt) in value >= state.codeStart && value < state.codeEnd }
        // In liblmdb, or in a function it called that has not touched its stack yet (memcpy, memmove): the return
        // address on top of the stack is then liblmdb's.
        ours = inLMDB(pc) || (sp != 0 && inLMDB(UnsafePointer<UInt>(bitPattern: sp)?.pointee ?? 0))
    }
    if ours, let message = state.message {
        _ = write(2, message, state.length)
        _exit(state.status)
    }
    // Not the store's: put the previous handler back and return; the fault happens again and goes to it.
    sigaction(signal, signal == SIGBUS ? previousBus : signal == SIGSEGV ? previousSegv : previousFpe, nil)
}

/// The instruction and stack pointers of the faulting thread.
private func registers(_ context: UnsafeMutableRawPointer) -> (pc: UInt, sp: UInt) {
    let machine = context.assumingMemoryBound(to: ucontext_t.self).pointee.uc_mcontext
    #if arch(x86_64)
        // gregs[REG_RIP] = 16, gregs[REG_RSP] = 15 (sys/ucontext.h).
        return withUnsafeBytes(of: machine.gregs) {
            (
                UInt(bitPattern: Int($0.load(fromByteOffset: 16 * 8, as: Int64.self))),
                UInt(bitPattern: Int($0.load(fromByteOffset: 15 * 8, as: Int64.self)))
            )
        }
    #elseif arch(arm64)
        // On arm64 a leaf function's caller is in the link register (x30), not on the stack.
        return (UInt(machine.pc), 0)
    #else
        return (0, 0)
    #endif
}
