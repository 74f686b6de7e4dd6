import Foundation
import Testing

@Suite("Over-long input lines")
struct LongLineTests {
    @Test("a line of 100 MB (over the 64 MiB limit) is rejected by number without being buffered, and the lines around it still land")
    func hundredMegabyteLine() throws {
        let store = temporaryStorePath()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("reel-long-\(UUID().uuidString.prefix(8)).ndjson").path
        defer {
            try? FileManager.default.removeItem(atPath: store)
            try? FileManager.default.removeItem(atPath: file)
        }
        let before = #"{"type":"project.created","data":{"project_id":"\#(UUID().uuidString)"}}"#
        let after = #"{"type":"project.created","data":{"project_id":"\#(UUID().uuidString)"}}"#
        var data = Data((before + "\n").utf8)
        data.append(Data(#"{"type":"project.created","data":{"project_id":""#.utf8))
        data.append(Data(repeating: UInt8(ascii: "x"), count: 100 << 20))  // a line of 100 MB
        data.append(Data("\"}}\n".utf8))
        data.append(Data(after.utf8))  // and no final newline
        try data.write(to: URL(fileURLWithPath: file))
        let run = try reel(["append", "--store", store, file])
        #expect(run.status == 1)
        #expect(run.stdout.hasPrefix(#"{"appended":2,"duplicates":0,"rejected":1,"#), "\(run.stdout)")
        #expect(run.stderr.contains("line 2: the line is"), "\(run.stderr)")
        #expect(run.stderr.contains("longer than 67108864"), "\(run.stderr)")
        let verify = try reel(["audit", "verify", "--store", store])
        #expect(verify.stdout == "OK\n" && verify.status == 0)
    }
}

@Suite("audit verify --log-only")
struct LogOnlyVerifyTests {
    @Test("checks the log without refolding the projections, and still finds a damaged event")
    func logOnly() throws {
        let store = temporaryStorePath()
        defer { try? FileManager.default.removeItem(atPath: store) }
        let marker = "LOG-ONLY-MARKER"
        let line = #"{"type":"project.created","data":{"project_id":"\#(UUID().uuidString)","title":"\#(marker)"}}"#
        #expect(try reel(["append", "--store", store], input: line + "\n").status == 0)
        let healthy = try reel(["audit", "verify", "--log-only", "--store", store])
        #expect(healthy.status == 0 && healthy.stdout == "OK\n")
        let file = store + "/data.mdb"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let needle = Array(marker.utf8)
        for start in 0...(bytes.count - needle.count) where bytes[start..<start + needle.count].elementsEqual(needle) { bytes[start] ^= 1 }
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let damaged = try reel(["audit", "verify", "--log-only", "--store", store])
        #expect(damaged.status == 1)
        #expect(damaged.stdout.contains("position 1: hash mismatch"), "\(damaged.stdout)")
    }
}
