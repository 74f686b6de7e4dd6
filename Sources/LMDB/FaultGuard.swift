import CLMDB
import Glibc

/// Turns a crash of LMDB on a damaged data file into a message and an exit status, for command-line tools.
///
/// LMDB keeps no checksums and this version (0.9.24) does not bound page numbers by the file: damage it cannot see
/// (a flipped page number, size or link) makes it read through the map past the end of `data.mdb`, which is a
/// `SIGBUS` (`BUS_ADRERR`), or follow a wild pointer inside liblmdb, a `SIGSEGV`. ``Environment`` refuses a truncated
/// file at open; this catches what is found later. Once installed, a `SIGBUS` of that kind, or a `SIGSEGV` whose
/// instruction is in liblmdb's code, writes `message` to standard error and ends the process with `status`; any other
/// fault goes to the handler that was there before (Swift's backtracer), so a bug is still a crash with a backtrace.
///
/// A process-wide signal handler: for executables, not for libraries embedded in someone else's process.
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
        for (signal, previous) in [(SIGBUS, previousBus), (SIGSEGV, previousSegv)] {
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = handleFault
            action.sa_flags = SA_SIGINFO | SA_ONSTACK
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, previous)
        }
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

/// What the handler reads; written before the handlers are installed, so reading it in one needs no lock.
private struct GuardState {
    var installed = false
    var message: UnsafeRawPointer?
    var length = 0
    var status: Int32 = 3
    var codeStart: UInt = 0
    var codeEnd: UInt = 0
}

nonisolated(unsafe) private let guardState: UnsafeMutablePointer<GuardState> = {
    let state = UnsafeMutablePointer<GuardState>.allocate(capacity: 1)
    state.initialize(to: GuardState())
    return state
}()
nonisolated(unsafe) private let previousBus: UnsafeMutablePointer<sigaction> = .allocate(capacity: 1)
nonisolated(unsafe) private let previousSegv: UnsafeMutablePointer<sigaction> = .allocate(capacity: 1)

/// Only async-signal-safe calls here: `write`, `_exit`, `sigaction`.
private func handleFault(_ signal: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?) {
    let state = guardState.pointee
    var ours = false
    if signal == SIGBUS {
        // BUS_ADRERR: a mapped file's page that does not exist, i.e. past the end of data.mdb.
        ours = info?.pointee.si_code == 2
    } else if let context, state.codeStart < state.codeEnd {
        let pc = instructionPointer(context)
        ours = pc >= state.codeStart && pc < state.codeEnd
    }
    if ours, let message = state.message {
        _ = write(2, message, state.length)
        _exit(state.status)
    }
    // Not LMDB's: put the previous handler back and return; the fault happens again and goes to it.
    sigaction(signal, signal == SIGBUS ? previousBus : previousSegv, nil)
}

private func instructionPointer(_ context: UnsafeMutableRawPointer) -> UInt {
    let machine = context.assumingMemoryBound(to: ucontext_t.self).pointee.uc_mcontext
    #if arch(x86_64)
        // gregs[REG_RIP], REG_RIP = 16 (sys/ucontext.h).
        return withUnsafeBytes(of: machine.gregs) { UInt(bitPattern: Int($0.load(fromByteOffset: 16 * 8, as: Int64.self))) }
    #elseif arch(arm64)
        return UInt(machine.pc)
    #else
        return 0
    #endif
}
