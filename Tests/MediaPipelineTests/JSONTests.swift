import EventStore
import Foundation
import Testing
@testable import MediaPipeline

@Suite("JSON reader and canonical writer")
struct JSONTests {
    @Test("reads every kind of value and writes it back canonically, keys sorted")
    func roundTrip() throws {
        let value = try JSONReader.read(#" {"b": [1, -2.5e3, true, null], "a": {"z": "é\n\"q\"", "y": 0}, "c": "\ud83c\udfac"} "#)
        #expect(String(decoding: JSONWriter.canonical(value), as: UTF8.self) == #"{"a":{"y":0,"z":"é\n\"q\""},"b":[1,-2.5e3,true,null],"c":"🎬"}"#)
        let again = try JSONReader.read(String(decoding: JSONWriter.canonical(value), as: UTF8.self))
        #expect(JSONWriter.canonical(again) == JSONWriter.canonical(value), "canonical output is a fixed point")
    }

    @Test("rejects malformed input with the byte offset", arguments: [
        ("{\"a\":1,}", "an object key"),
        ("{\"a\":1 \"b\":2}", "',' or '}'"),
        ("[1,2", "',' or ']'"),
        ("{\"a\":1,\"a\":2}", "duplicate key \"a\""),
        ("01", "unexpected text"),
        ("1.", "digits expected after '.'"),
        ("\"abc", "unterminated string"),
        ("\"a\u{01}b\"", "control character"),
        ("\"\\x\"", "invalid escape"),
        ("\"\\ud800\"", "lone surrogate"),
        ("tru", "invalid literal"),
        ("", "unexpected end"),
        ("{} {}", "unexpected text"),
    ])
    func rejects(input: String, message: String) {
        #expect {
            try JSONReader.read(input)
        } throws: { error in
            (error as? JSONError)?.description.contains(message) == true
        }
    }

    @Test("invalid UTF-8 and deep nesting are rejected, not trapped on")
    func hostile() throws {
        let invalid: [UInt8] = Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        #expect(throws: JSONError.self) { try invalid.withUnsafeBytes { try JSONReader.read($0) } }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONError(message: "nested deeper than 256 levels", offset: 256)) { try JSONReader.read(deep) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        _ = try JSONReader.read(fine)
    }

    @Test("an envelope stays one line: a payload written through the engine that is not JSON, or JSON with a line break, prints as hex")
    func envelopeOfEnginePayloads() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-envelope-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try Store.open(at: path)
        let payloads: [[UInt8]] = [Array("{\n\"a\": 1}".utf8), Array("{\"a\":\r1}".utf8), [0xFF, 0x00, 0x0A], Array(#"{"a":1}"#.utf8)]
        try await store.append(payloads.map { NewEvent(stream: "engine", type: "raw", payload: $0) })
        let lines = try store.events(from: 1, limit: 10).map(Envelope.render)
        for (line, payload) in zip(lines, payloads) {
            #expect(!line.contains("\n") && !line.contains("\r"), "\(line)")
            let data = try #require((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["data"])
            if payload == Array(#"{"a":1}"#.utf8) {
                #expect((data as? [String: Any])?["a"] as? Int == 1, "canonical JSON prints as it is: \(line)")
            } else {
                #expect(data as? String == Envelope.hex(payload), "\(line)")
            }
        }
        try store.close()
    }
}
