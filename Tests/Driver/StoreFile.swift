import LMDB

// `reel-test-driver pages STORE`: every page of STORE's data.mdb and what it is (`<page> <kind>`, one per line, after a
// `pagesize <bytes>` line), read without LMDB — for tests that damage pages of one kind.
//
// `reel-test-driver state STORE`: a digest of each named database's entries (`<name> <entries> <fnv-1a 64>`), read
// through LMDB, leaving out only `reel.meta`'s stream counter (which no command shows). Two stores whose states are the
// same answer every command the same way.
extension Driver {
    static func pages(_ arguments: [String]) {
        guard arguments.count == 1 else { fail("usage: reel-test-driver pages STORE", status: 2) }
        do {
            let report = try PageAudit.audit(directory: arguments[0], recordingKinds: true)
            var text = "pagesize \(report.pageSize)\nfilesize \(report.fileSize)\n"
            for (page, kind) in (report.kinds ?? []).enumerated() { text += "\(page) \(kind)\n" }
            for problem in report.problems { text += "problem \(problem)\n" }
            print(text, terminator: "")
        } catch {
            fail("reel-test-driver: \(error)", status: 1)
        }
    }

    static func state(_ arguments: [String]) {
        guard arguments.count == 1 else { fail("usage: reel-test-driver state STORE", status: 2) }
        do {
            var options = Environment.Options()
            options.readOnly = true
            let environment = try Environment(path: arguments[0], options: options)
            let names = try environment.read { txn in
                var names: [String] = []
                try txn.withCursor(try txn.openDatabase(nil)) { cursor in
                    try cursor.forEach { key, _ in
                        names.append(String(decoding: key, as: UTF8.self))
                        return true
                    }
                }
                return names
            }
            let databases = try environment.openDatabases { txn in try names.map { try txn.openDatabase($0) } }
            var text = ""
            try environment.read { txn in
                for (name, database) in zip(names, databases) {
                    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                    func mix(_ bytes: UnsafeRawBufferPointer) {
                        for byte in bytes {
                            hash ^= UInt64(byte)
                            hash = hash &* 0x100_0000_01b3
                        }
                    }
                    var entries = 0
                    try txn.withCursor(database) { cursor in
                        try cursor.forEach { key, value in
                            if name == "reel.meta", Array(key) == Array("next-stream".utf8) { return true }
                            withUnsafeBytes(of: UInt32(key.count)) { mix($0) }
                            mix(key)
                            withUnsafeBytes(of: UInt32(value.count)) { mix($0) }
                            mix(value)
                            entries += 1
                            return true
                        }
                    }
                    text += "\(name) \(entries) \(String(hash, radix: 16))\n"
                }
            }
            print(text, terminator: "")
        } catch {
            fail("reel-test-driver: \(error)", status: 1)
        }
    }
}
