import Foundation
import Testing

/// The operations commands — `reel replay`, `reel audit verify`, `reel audit history`, `reel export`,
/// `reel import`, `reel stats` — run as real processes on the built `reel`.
@Suite struct OperationsCommandTests {
    // MARK: replay

    @Test("replay --to P query …: byte for byte what a store that received only the first P events answers")
    func replayMatchesAFreshStoreAtEveryCut() throws {
        let (p, store, lines) = try productionWithCoda()
        defer { remove(store) }
        let head = lines.count
        let events = try readAll(store)
        try #require(events.count == head)
        // data.mdb only: lock.mdb is LMDB's reader table, written by every process that opens the store, even to read.
        let before = try bytes(store + "/data.mdb")

        let exported = try export(store)
        try #require(exported.count == head)
        let removal = try #require(events.firstIndex { $0["type"] as? String == "scenelet.removed" }) + 1
        let queries = p.queries
        var fresh: [String] = []
        defer { fresh.forEach(remove) }
        var storyAnswers = Set<String>()

        for cut in Set([1, 2, 9, 16, 24, 31, 40, 47, head - 4, removal - 1, removal, head - 1, head]).sorted() {
            let target = try imported(Array(exported.prefix(cut)))
            fresh.append(target)

            for q in queries {
                let replayed = try reel(["replay", "--store", store, "--to", String(cut), "query", q.name] + q.arguments)
                let live = try reel(["query", q.name, "--store", target] + q.arguments)
                let label = "--to \(cut) query \(q.name) \(q.arguments.joined(separator: " "))"
                if q.name == "story" { storyAnswers.insert(replayed.stdout) }
                #expect(replayed.status == live.status, "\(label)\nreplay: \(replayed)\nfresh store: \(live)")
                #expect(replayed.stdout == live.stdout, "\(label)\nreplay: \(replayed)\nfresh store: \(live)")
                // An id is known at the cut when the line creating it is among the first `cut` lines (every id first
                // appears in the event that creates it); the cellar's shot goes with its scenelet.
                let known = q.id.map { id in
                    lines.prefix(cut).contains { $0.contains(id) } && !(id == p.cellarShot && cut >= removal)
                } ?? true
                if known {
                    #expect(replayed.status == 0, "\(label): \(replayed)")
                    #expect(replayed.stdoutLines.count == 1, "\(label): one JSON object: \(replayed)")
                } else {
                    #expect(replayed.status == 1, "\(label): an id unknown at the cut is exit 1: \(replayed)")
                    #expect(replayed.stdout.isEmpty, "\(label): \(replayed)")
                    #expect(!replayed.stderr.isEmpty, "\(label): the reason is on stderr: \(replayed)")
                }
            }

            // Without a query: the cut and the stats of the store as it stood then.
            let summary = try reel(["replay", "--store", store, "--to", String(cut)])
            #expect(summary.status == 0, "\(summary)")
            let cutView = try parseObject(summary.stdout)
            #expect(cutView["position"] as? Int == cut, "\(summary)")
            #expect(cutView["recorded_at"] as? String == events[cut - 1]["recorded_at"] as? String, "\(summary)")
            #expect(cutView["events"] as? Int == cut, "\(summary)")
            let stats = try reel(["stats", "--json", "--store", target])
            #expect(stats.status == 0, "\(stats)")
            let freshStats = try parseObject(stats.stdout)
            #expect(cutView["streams"] as? Int == freshStats["streams"] as? Int, "\(summary)\n\(stats)")
            #expect(cutView["types"] as? [String: Int] == freshStats["types"] as? [String: Int], "\(summary)\n\(stats)")
            #expect(cutView["types"] as? [String: Int] == typeCounts(events.prefix(cut)), "\(summary)")
        }

        // The cuts saw the story at different stages (not yet there, growing, edited, a scenelet removed).
        #expect(storyAnswers.count >= 5, "\(storyAnswers.count) distinct answers")

        // Replaying read the live store only.
        #expect(try bytes(store + "/data.mdb") == before, "replay changed the live store's data.mdb")
        #expect(try export(store) == exported)
        for target in fresh { try expectVerified(target) }
        try expectVerified(store)
    }

    @Test("replay without a query prints the cut's position and recorded_at; --to 0 is the empty store")
    func replaySummary() throws {
        let (_, store, lines) = try productionWithCoda()
        defer { remove(store) }
        let events = try readAll(store)
        let run = try reel(["replay", "--store", store, "--to", String(lines.count)])
        #expect(run.status == 0, "\(run)")
        #expect(run.stderr.isEmpty, "\(run)")
        #expect(run.stdoutLines.count == 1, "one JSON object: \(run)")
        let view = try parseObject(run.stdout)
        #expect(view["position"] as? Int == lines.count)
        #expect(view["recorded_at"] as? String == events.last?["recorded_at"] as? String)
        #expect(isTimestamp(view["recorded_at"]))
        #expect(view["events"] as? Int == lines.count)
        #expect(view["types"] as? [String: Int] == typeCounts(events[...]))

        let empty = try reel(["replay", "--store", store, "--to", "0"])
        #expect(empty.status == 0, "\(empty)")
        let emptyView = try parseObject(empty.stdout)
        #expect(emptyView["position"] as? Int == 0, "\(empty)")
        #expect(emptyView.keys.contains("recorded_at"), "\(empty)")
        #expect(emptyView["events"] as? Int == 0, "\(empty)")
        try expectVerified(store)
    }

    @Test("replay --at TIME cuts after the last event recorded at or before TIME")
    func replayAtTime() throws {
        let (p, store, _) = try productionWithCoda()
        defer { remove(store) }
        let before = try bytes(store + "/data.mdb")
        let events = try readAll(store)
        let times = try events.map { try milliseconds(#require($0["recorded_at"] as? String)) }
        #expect(Set(times).count > 5, "the production was appended in several commands: \(Set(times).count) distinct times")

        func position(at time: Int64) -> Int { times.lastIndex { $0 <= time }.map { $0 + 1 } ?? 0 }
        func replayed(at text: String) throws -> (Int?, Run) {
            let run = try reel(["replay", "--store", store, "--at", text])
            #expect(run.status == 0, "--at \(text): \(run)")
            return (try parseObject(run.stdout)["position"] as? Int, run)
        }

        // Before the first event: position 0. At the last event's time: the head.
        let (first, firstRun) = try replayed(at: iso8601(times[0] - 1))
        #expect(first == 0, "\(firstRun)")
        let (ancient, ancientRun) = try replayed(at: "2000-01-01T00:00:00.000Z")
        #expect(ancient == 0, "\(ancientRun)")
        let lastTime = try #require(events.last?["recorded_at"] as? String)
        let (last, lastRun) = try replayed(at: lastTime)
        #expect(last == events.count, "\(lastRun)")
        let (later, laterRun) = try replayed(at: "2999-12-31T23:59:59.999Z")
        #expect(later == events.count, "\(laterRun)")

        // Every distinct time, and a millisecond before each.
        for time in Set(times).sorted() {
            for probe in [time, time - 1] {
                let (cut, run) = try replayed(at: iso8601(probe))
                #expect(cut == position(at: probe), "--at \(iso8601(probe)): \(run)")
            }
        }

        // With a query, --at answers what --to of the same cut answers.
        let middle = times[times.count / 2]
        let atQuery = try reel(["replay", "--store", store, "--at", iso8601(middle), "query", "story", "--story", p.story])
        let toQuery = try reel(["replay", "--store", store, "--to", String(position(at: middle)), "query", "story", "--story", p.story])
        #expect(atQuery.status == toQuery.status && atQuery.stdout == toQuery.stdout, "--at: \(atQuery)\n--to: \(toQuery)")

        #expect(try bytes(store + "/data.mdb") == before, "replay changed the live store's data.mdb")
        try expectVerified(store)
    }

    @Test("replay: --to beyond the head is exit 1; an id unknown at the cut is exit 1; bad usage is exit 2")
    func replayErrors() throws {
        let (p, store, lines) = try productionWithCoda()
        defer { remove(store) }
        let before = try bytes(store + "/data.mdb")

        let beyond = try reel(["replay", "--store", store, "--to", String(lines.count + 1)])
        #expect(beyond.status == 1, "\(beyond)")
        #expect(beyond.stdout.isEmpty, "\(beyond)")
        #expect(!beyond.stderr.isEmpty, "\(beyond)")
        let beyondQuery = try reel(["replay", "--store", store, "--to", "1000000", "query", "jobs", "--status", "pending"])
        #expect(beyondQuery.status == 1, "\(beyondQuery)")
        #expect(beyondQuery.stdout.isEmpty, "\(beyondQuery)")

        // Just before the story's creation it does not exist; at its creation it does.
        let storyLine = try #require(lines.firstIndex { $0.contains(#""type":"story.created""#) }) + 1
        let unknown = try reel(["replay", "--store", store, "--to", String(storyLine - 1), "query", "story", "--story", p.story])
        #expect(unknown.status == 1, "\(unknown)")
        #expect(unknown.stdout.isEmpty, "\(unknown)")
        #expect(unknown.stderr.contains(p.story), "the reason names the id: \(unknown)")
        let known = try reel(["replay", "--store", store, "--to", String(storyLine), "query", "story", "--story", p.story])
        #expect(known.status == 0, "\(known)")
        let never = try reel(["replay", "--store", store, "--to", String(lines.count), "query", "job", "--job", uuid()])
        #expect(never.status == 1, "\(never)")

        for usage in [
            ["replay"],
            ["replay", "--to", "1", "--at", "2026-11-22T01:02:03.456Z"],
            ["replay", "--at", "yesterday"],
            ["replay", "--to", "-1"],
            ["replay", "--to", "1", "story", "--story", p.story],
            ["replay", "--to", "1", "query", "no-such-query"],
        ] {
            let run = try reel(usage + ["--store", store])
            #expect(run.status == 2, "\(usage): \(run)")
            #expect(run.stdout.isEmpty, "\(usage): \(run)")
        }
        #expect(try bytes(store + "/data.mdb") == before, "replay changed the live store's data.mdb")
        try expectVerified(store)
    }

    @Test("replay with --store before the command (the form `reel [--store DIR] COMMAND …`) replays that store")
    func replayWithLeadingStoreOption() throws {
        let (p, store, lines) = try productionWithCoda()
        // Another store in REEL_STORE must not be the one replayed.
        let decoy = temporaryStorePath()
        defer { remove(store); remove(decoy) }
        let decoyRun = try Production().appended(to: decoy)
        try #require(decoyRun.status == 0, "\(decoyRun)")

        let cut = String(lines.count)
        let expected = try reel(["query", "story", "--store", store, "--story", p.story])
        try #require(expected.status == 0, "\(expected)")
        let leading = try reel(["--store", store, "replay", "--to", cut, "query", "story", "--story", p.story], environment: ["REEL_STORE": decoy])
        #expect(leading.status == 0, "\(leading)")
        #expect(leading.stdout == expected.stdout, "\(leading)")
        let equals = try reel(["--store=\(store)", "replay", "--to", cut, "query", "story", "--story", p.story])
        #expect(equals.status == 0, "\(equals)")
        #expect(equals.stdout == expected.stdout, "\(equals)")
        let withoutQuery = try reel(["--store", store, "replay", "--to", cut])
        #expect(withoutQuery.status == 0, "\(withoutQuery)")
        // A query without an id, at a cut both stores have: the answer must come from DIR, not from REEL_STORE.
        let queue = try reel(["query", "jobs", "--status", "completed", "--store", store])
        let leadingQueue = try reel(["--store", store, "replay", "--to", "40", "query", "jobs", "--status", "completed"], environment: ["REEL_STORE": decoy])
        let storeQueue = try reel(["replay", "--store", store, "--to", "40", "query", "jobs", "--status", "completed"])
        #expect(queue.status == 0 && storeQueue.status == 0, "\(queue)\n\(storeQueue)")
        #expect(leadingQueue.stdout == storeQueue.stdout, "answered from REEL_STORE instead of --store: \(leadingQueue)\nexpected: \(storeQueue)")
        // `--store` after the query's options, as every other command accepts it (`reel query … --store DIR`).
        let trailing = try reel(["replay", "--to", cut, "query", "story", "--story", p.story, "--store", store], environment: ["REEL_STORE": decoy])
        #expect(trailing.status == 0, "\(trailing)")
        #expect(trailing.stdout == expected.stdout, "\(trailing)")
        try expectVerified(store)
        try expectVerified(decoy)
    }

    // MARK: audit verify

    @Test("audit verify on a healthy store: OK, exit 0, data.mdb untouched; `reel verify` is the same command")
    func verifyHealthyStore() throws {
        let (_, store, _) = try productionWithCoda()
        defer { remove(store) }
        // Only data.mdb is compared: lock.mdb is LMDB's reader table (and writer mutex), which every process that
        // opens the environment — even read-only — writes its reader slot into, so its bytes legitimately change.
        let before = try bytes(store + "/data.mdb")
        for command in [["audit", "verify"], ["verify"]] {
            let run = try reel(command + ["--store", store])
            #expect(run.status == 0, "\(command): \(run)")
            #expect(run.stdout == "OK\n", "\(command): \(run)")
            #expect(run.stderr.isEmpty, "\(command): \(run)")
            #expect(try bytes(store + "/data.mdb") == before, "\(command) changed data.mdb")
        }
        let leading = try reel(["--store", store, "audit", "verify"])
        #expect(leading.status == 0 && leading.stdout == "OK\n", "\(leading)")
        #expect(try bytes(store + "/data.mdb") == before)

        let created = try imported([])
        defer { remove(created) }
        try expectVerified(created)
        try expectVerified(store)
    }

    @Test("audit verify finds a flipped byte in an event's payload: exit 1, naming its position")
    func verifyFindsAFlippedByte() throws {
        let (p, store, lines) = try productionWithCoda()
        defer { remove(store) }
        let marker = "TAMPER-\(UUID().uuidString)"
        let reference = uuid()
        let run = try append(ndjson([
            inputLine("reference_image.uploaded", [
                "reference_image_id": .string(reference), "user_id": .string(p.bob),
                "gcp_bucket_path": .string(p.bucketPath(reference)), "gcp_url": .string(p.url(reference)), "filename": .string(marker),
            ]),
            inputLine("session.created", ["session_id": .string(uuid()), "user_id": .string(p.bob), "title": "after the marker"]),
        ]), to: store)
        try #require(run.status == 0, "\(run)")
        let position = lines.count + 1
        #expect(try readAll(store, ["--from", String(position), "--limit", "1"]).first?["data"].flatMap { ($0 as? [String: Any])?["filename"] as? String } == marker)
        try expectVerified(store)

        // Tamper with a copy, so the store this test wrote stays sound. Every copy of the marker LMDB holds is
        // flipped: copy-on-write may leave stale pages with it, and the projection holds it too.
        let (copy, flipped) = try tamperedCopy(of: store, marker: marker)
        defer { remove(copy) }
        try #require(flipped > 0, "the marker is stored as plain bytes in data.mdb")

        for command in [["audit", "verify"], ["verify"]] {
            let verify = try reel(command + ["--store", copy])
            #expect(verify.status == 1, "\(command): \(verify)")
            #expect(verify.stdout != "OK\n" && !verify.stdout.contains("OK\n"), "\(command): \(verify)")
            #expect(verify.stdout.contains("position \(position):"), "\(command): names the altered event's position: \(verify)")
            // Only that event is reported by position: the chain links the next event to the stored hash.
            let positions = verify.stdoutLines.compactMap { line in line.wholeMatch(of: /position (\d+):.*/).map { Int($0.1)! } }
            #expect(Set(positions) == [position], "\(command): \(verify)")
        }
        try expectVerified(store)
    }

    @Test("audit verify finds a projection that differs from a rebuild (a byte flipped in the projection only): exit 1, naming it")
    func verifyFindsAnAlteredProjection() throws {
        let (p, store, _) = try productionWithCoda()
        defer { remove(store) }
        let marker = "TAMPER-\(UUID().uuidString)"
        let reference = uuid()
        let run = try append(inputLine("reference_image.uploaded", [
            "reference_image_id": .string(reference), "user_id": .string(p.bob),
            "gcp_bucket_path": .string(p.bucketPath(reference)), "gcp_url": .string(p.url(reference)), "filename": .string(marker),
        ]) + "\n", to: store)
        try #require(run.status == 0, "\(run)")
        try expectVerified(store)

        // The log holds the payload as canonical JSON (`"filename":"TAMPER-…`); flip only the other copies.
        let key = Array(#""filename":""#.utf8)
        let (copy, flipped) = try tamperedCopy(of: store, marker: marker) { before in !before.suffix(key.count).elementsEqual(key) }
        defer { remove(copy) }
        try #require(flipped > 0, "the projection holds the filename as plain bytes")
        let log = try reel(["export", "--store", copy])
        #expect(log.stdout.contains(marker), "the log itself was left alone")

        let verify = try reel(["audit", "verify", "--store", copy])
        #expect(verify.status == 1, "\(verify)")
        #expect(verify.stdout.contains("projection media"), "names the projection: \(verify)")
        #expect(!verify.stdoutLines.contains { $0.hasPrefix("position ") }, "the log is sound: \(verify)")
        try expectVerified(store)
    }

    // MARK: export / import

    @Test("export to a file and to stdout give the same bytes; export → import → export is byte-identical")
    func exportImportRoundTrip() throws {
        let (p, store, lines) = try productionWithCoda()
        defer { remove(store) }
        let stdout = try reel(["export", "--store", store])
        #expect(stdout.status == 0, "\(stdout)")
        #expect(stdout.stderr.isEmpty, "quiet when stderr is not a terminal: \(stdout)")
        #expect(try envelopes(ofExport: stdout.stdout).count == lines.count, "the envelopes, then the end line: \(stdout)")
        #expect(stdout.stdout.hasSuffix("\n"))

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("reel-e2e-export-\(UUID().uuidString.prefix(8)).ndjson").path
        defer { remove(file) }
        // An existing file is replaced, not appended to.
        try Data(String(repeating: "stale content\n", count: 10_000).utf8).write(to: URL(fileURLWithPath: file))
        let toFile = try reel(["export", "--store", store, file])
        #expect(toFile.status == 0, "\(toFile)")
        #expect(toFile.stdout == #"{"exported":\#(lines.count),"last_position":\#(lines.count),"file":"\#(file)"}"# + "\n", "\(toFile)")
        #expect(try bytes(file) == Data(stdout.stdout.utf8), "export FILE and export to stdout differ")

        // The export is what `reel read` prints, and its end line.
        let read = try reel(["read", "--store", store])
        #expect(read.stdout + (try endLine(read.stdoutLines)) + "\n" == stdout.stdout)

        let target = temporaryStorePath()
        defer { remove(target) }
        let imported = try reel(["import", "--store", target, file])
        #expect(imported.status == 0, "\(imported)")
        #expect(imported.stderr.isEmpty, "\(imported)")
        let result = try parseObject(imported.stdout)
        #expect(result["imported"] as? Int == lines.count, "\(imported)")
        let again = try reel(["export", "--store", target])
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout == stdout.stdout, "export → import → export is not byte-identical")

        // The imported store answers every query as the original does.
        for q in p.queries {
            let original = try reel(["query", q.name, "--store", store] + q.arguments)
            let copy = try reel(["query", q.name, "--store", target] + q.arguments)
            #expect(original.status == copy.status && original.stdout == copy.stdout, "\(q.name): \(original)\n\(copy)")
        }
        // And it takes new events after the imported ones.
        let appended = try append(inputLine("project.created", ["project_id": .string(uuid())]) + "\n", to: target)
        #expect(appended.stdout == summary(appended: 1, lastPosition: lines.count + 1), "\(appended)")
        try expectVerified(target)
        try expectVerified(store)
    }

    @Test("import into a store that exists but holds no event (the branch that opens it deferred) restores the export whole")
    func importIntoExistingEmptyStore() throws {
        let (_, store, _) = try productionWithCoda()
        let target = temporaryStorePath()
        defer { remove(store); remove(target) }
        let export = try reel(["export", "--store", store]).stdout
        let file = try temporaryFile(Data(export.utf8))
        defer { remove(file) }
        // An empty input still creates the store.
        let empty = try append("", to: target)
        try #require(empty.status == 0, "\(empty)")
        try #require(FileManager.default.fileExists(atPath: target + "/data.mdb"))

        let run = try reel(["import", "--store", target, file])
        #expect(run.status == 0, "\(run)")
        #expect(try reel(["export", "--store", target]).stdout == export)
        try expectVerified(target)
    }

    @Test("import into a non-empty store exits 1 and changes nothing")
    func importIntoNonEmptyStore() throws {
        let (_, store, _) = try productionWithCoda()
        let target = temporaryStorePath()
        defer { remove(store); remove(target) }
        let file = try temporaryFile(Data(try reel(["export", "--store", store]).stdout.utf8))
        defer { remove(file) }

        let own = try append(inputLine("project.created", ["project_id": .string(uuid()), "title": "already here"]) + "\n", to: target)
        try #require(own.status == 0, "\(own)")
        let exportBefore = try reel(["export", "--store", target]).stdout
        let dataBefore = try bytes(target + "/data.mdb")

        let run = try reel(["import", "--store", target, file])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(run.stderr.contains("empty"), "\(run)")
        #expect(try reel(["export", "--store", target]).stdout == exportBefore)
        #expect(try bytes(target + "/data.mdb") == dataBefore, "a refused import changed data.mdb")

        // Importing a store's own export into itself is refused too.
        let itself = try reel(["import", "--store", store, file])
        #expect(itself.status == 1, "\(itself)")
        #expect(try reel(["export", "--store", store]).stdout == String(decoding: try bytes(file), as: UTF8.self))
        try expectVerified(target)
        try expectVerified(store)
    }

    @Test("import of a tampered export (a character changed inside one line's data) exits 1, names the line, writes nothing")
    func importTamperedExport() throws {
        let (_, store, _) = try productionWithCoda()
        defer { remove(store) }
        var lines = try export(store)
        // "Harbor at dusk" → "Harbor at dusK" in the harbor session's creation, hash left as it was.
        let index = try #require(lines.firstIndex { $0.contains(#""title":"Harbor at dusk""#) && $0.contains("session.created") })
        lines[index] = lines[index].replacingOccurrences(of: #""title":"Harbor at dusk""#, with: #""title":"Harbor at dusK""#)
        try expectRefusedImport(lines, line: index + 1)

        // The last line altered: still caught.
        var last = try export(store)
        last[last.count - 1] = last[last.count - 1].replacingOccurrences(of: #""data":{"#, with: #""data":{"extra":1,"#)
        try expectRefusedImport(last, line: last.count)

        // Another envelope field (a millisecond of the time) altered.
        var time = try export(store)
        let t = time.count / 2
        let timeRange = try #require(time[t].firstRange(of: #/\dZ"/#))
        let lastDigit = time[t][timeRange.lowerBound]
        time[t].replaceSubrange(timeRange.lowerBound...timeRange.lowerBound, with: lastDigit == "0" ? "1" : "0")
        try expectRefusedImport(time, line: t + 1)

        // The hash itself altered.
        var hash = try export(store)
        let h = 5
        let hashRange = try #require(hash[h].range(of: #""hash":""#))
        let digit = hash[h][hashRange.upperBound]
        hash[h].replaceSubrange(hashRange.upperBound...hashRange.upperBound, with: digit == "0" ? "1" : "0")
        try expectRefusedImport(hash, line: h + 1)
        try expectVerified(store)
    }

    @Test("import of an export with a line removed from the middle exits 1 naming the line after the gap")
    func importExportWithAGap() throws {
        let (_, store, _) = try productionWithCoda()
        defer { remove(store) }
        var lines = try export(store)
        let gap = lines.count / 2
        lines.remove(at: gap)
        // The line after the gap is now line gap + 1 of the file.
        try expectRefusedImport(lines, line: gap + 1)

        // Two lines swapped.
        var swapped = try export(store)
        swapped.swapAt(10, 11)
        try expectRefusedImport(swapped, line: 11)

        // A line repeated.
        var repeated = try export(store)
        repeated.insert(repeated[20], at: 21)
        try expectRefusedImport(repeated, line: 22)
        try expectVerified(store)
    }

    @Test("import of a malformed line exits 1 naming it", arguments: [
        "{\"position\": ",
        "not json at all",
        "[]",
        "{}",
        "{\"position\":1}",
    ])
    func importMalformedLine(_ bad: String) throws {
        let (_, store, _) = try productionWithCoda()
        defer { remove(store) }
        var lines = try export(store)
        let at = 7
        lines[at - 1] = bad
        try expectRefusedImport(lines, line: at)
        try expectVerified(store)
    }

    @Test("import of a malformed first line, or of an envelope with an unknown field, names that line")
    func importMalformedOtherPlaces() throws {
        let (_, store, _) = try productionWithCoda()
        defer { remove(store) }
        var first = try export(store)
        first[0] = "{"
        try expectRefusedImport(first, line: 1)

        var extra = try export(store)
        extra[3] = extra[3].replacingOccurrences(of: #"{"position":"#, with: #"{"colour":"red","position":"#)
        try expectRefusedImport(extra, line: 4)
        try expectVerified(store)
    }

    @Test("an export is enough to recompute every hash (docs/FORMAT.md), and an import that fails a domain rule after committing a chunk leaves nothing behind")
    func importForgedExportWithValidHashes() throws {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array(String(repeating: "a", count: 1_000).utf8)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")

        let (p, store, lines) = try productionWithCoda()
        defer { remove(store) }
        let exported = try export(store)
        // An independent recomputation of the chain from the export alone.
        var previous = [UInt8](repeating: 0, count: 32)
        for (index, line) in exported.enumerated() {
            let recomputed = try chainHash(line, after: previous)
            #expect(try recomputed == storedHashBytes(line), "line \(index + 1): the documented canonical bytes do not give the stored hash")
            previous = recomputed
        }

        // More events than one import transaction takes (20,000), so that the import commits a transaction before it
        // meets the bad one.
        var bulk: [String] = []
        for i in 0..<20_600 {
            bulk.append(inputLine("scene_image.saved", ["project_id": .string(p.project), "scene_index": .int(10 + i / 4), "image_index": .int(i % 4), "image_url": .string("gs://reel-projects/bulk/\(i).png")]))
        }
        let appended = try append(ndjson(bulk), to: store, ["--no-sync"])
        try #require(appended.status == 0, "\(appended)")
        let all = try export(store)
        try #require(all.count == lines.count + bulk.count)

        // Forge line k: a negative scene_index (scene_index must be ≥ 0), then re-chain every hash from k on.
        let k = all.count - 20
        var forged = all
        let original = forged[k - 1]
        forged[k - 1] = original.replacing(#/"scene_index":\d+/#, with: #""scene_index":-1"#)
        try #require(forged[k - 1] != original)
        var hash = try storedHashBytes(forged[k - 2])
        for index in (k - 1)..<forged.count {
            hash = try chainHash(forged[index], after: hash)
            forged[index] = try replacingHash(of: forged[index], with: hash)
        }

        let target = temporaryStorePath()
        defer { remove(target) }
        // A blank line (skipped by both passes) a few lines before the bad one, in the same transaction's chunk, moves
        // it to line k + 1 of the file.
        var withBlank = forged
        withBlank.insert("", at: k - 10)
        let file = try temporaryFile(try exportText(withBlank))
        defer { remove(file) }
        let run = try reel(["import", "--store", target, file])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(run.stderr.contains("line \(k + 1):"), "names the file's line that breaks the rule: \(run)")
        #expect(!run.stderr.contains("hash"), "the forged chain is sound; the domain rule fails: \(run)")
        #expect(!exists(target), "the failed import removes the store, and the directory, it made")

        // Into a store that was there, empty: refused the same way, and the store is empty and unmarked again.
        let empty = temporaryStorePath()
        defer { remove(empty) }
        #expect(try append("", to: empty).status == 0)
        let intoEmpty = try reel(["import", "--store", empty, file])
        #expect(intoEmpty.status == 1 && intoEmpty.stderr.contains("line \(k + 1):"), "\(intoEmpty)")
        let read = try reel(["read", "--store", empty])
        #expect(read.status == 0 && read.stdout.isEmpty, "a failed import left events behind: \(read)")
        let stats = try reel(["stats", "--json", "--store", empty])
        #expect(try parseObject(stats.stdout)["events"] as? Int == 0, "\(stats)")
        for q in p.queries where q.id != nil {
            let answer = try reel(["query", q.name, "--store", empty] + q.arguments)
            #expect(answer.status == 1, "a projection kept an imported entity: \(q.name) \(answer)")
        }
        try expectVerified(empty)

        // The genuine export imports into both afterwards.
        let genuine = try temporaryFile(try exportText(all))
        defer { remove(genuine) }
        for directory in [target, empty] {
            let retry = try reel(["import", "--store", directory, genuine])
            #expect(retry.status == 0, "\(retry)")
            #expect(try export(directory) == all)
            try expectVerified(directory)
        }
        try expectVerified(store)
    }

    @Test("import of a forged export whose chain is sound but repeats an event id (ids are unique) exits 1 naming that line")
    func importForgedDuplicateId() throws {
        let (_, store, _) = try productionWithCoda()
        defer { remove(store) }
        var lines = try export(store)
        // Event 3 again at the end, as the next event of its stream, with its hash chained properly.
        let repeated = try parseObject(lines[2])
        let stream = try #require(repeated["stream"] as? String)
        let version = try readAll(store, ["--stream", stream]).count + 1
        var forged = lines[2]
            .replacing(#/^\{"position":\d+,/#, with: #"{"position":\#(lines.count + 1),"#)
            .replacing(#/,"version":\d+,/#, with: #","version":\#(version),"#)
        forged = try replacingHash(of: forged, with: chainHash(forged, after: storedHashBytes(lines[lines.count - 1])))
        lines.append(forged)
        let run = try expectRefusedImport(lines, line: lines.count)
        #expect(!run.stderr.contains("hash"), "the forged chain is sound; the repeated id is what fails: \(run)")
        try expectVerified(store)
    }

    // MARK: stats

    @Test("stats: the event count in the table; --json with events, per-type counts and projection checkpoints")
    func stats() throws {
        let (_, store, lines) = try productionWithCoda()
        defer { remove(store) }
        let events = try readAll(store)
        let table = try reel(["stats", "--store", store])
        #expect(table.status == 0, "\(table)")
        #expect(table.stdoutLines.contains { $0.wholeMatch(of: /events\s+(\d+)/).map { Int($0.1) == lines.count } ?? false }, "\(table)")
        for type in Set(events.compactMap { $0["type"] as? String }) {
            #expect(table.stdout.contains(type), "\(type): \(table)")
        }

        let run = try reel(["stats", "--json", "--store", store])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdoutLines.count == 1, "one JSON object: \(run)")
        let view = try parseObject(run.stdout)
        #expect(view["events"] as? Int == lines.count, "\(run)")
        #expect(view["streams"] as? Int == Set(events.compactMap { $0["stream"] as? String }).count, "\(run)")
        // Per-type counts from the input lines themselves.
        var appended: [String: Int] = [:]
        for line in lines {
            let type = try #require(try parseObject(line)["type"] as? String)
            appended[type, default: 0] += 1
        }
        #expect(view["types"] as? [String: Int] == appended, "\(run)")
        let projections = try objects(view["projections"])
        for name in ["media", "event-types"] {
            let projection = try #require(projections.first { $0["name"] as? String == name }, "projection \(name): \(run)")
            #expect(projection["checkpoint"] as? Int == lines.count, "\(name): \(run)")
        }
        if let bytes = view["file_bytes"] as? Int { #expect(bytes > 0, "\(run)") }

        // After more appends the counts follow.
        let more = try append(ndjson([
            inputLine("project.created", ["project_id": .string(uuid())]),
            inputLine("project.created", ["project_id": .string(uuid())]),
        ]), to: store)
        #expect(more.status == 0, "\(more)")
        let after = try parseObject(try reel(["stats", "--json", "--store", store]).stdout)
        #expect(after["events"] as? Int == lines.count + 2)
        #expect((after["types"] as? [String: Int])?["project.created"] == (appended["project.created"] ?? 0) + 2)
        for projection in try objects(after["projections"]) where ["media", "event-types"].contains(projection["name"] as? String ?? "") {
            #expect(projection["checkpoint"] as? Int == lines.count + 2, "\(projection)")
        }

        // An empty (imported-from-nothing) store: zero events.
        let empty = try imported([])
        defer { remove(empty) }
        if exists(empty + "/data.mdb") {
            let zero = try reel(["stats", "--json", "--store", empty])
            #expect(zero.status == 0, "\(zero)")
            #expect(try parseObject(zero.stdout)["events"] as? Int == 0, "\(zero)")
            try expectVerified(empty)
        }
        try expectVerified(store)
    }

    // MARK: audit history

    @Test("audit history --frame: the frame's events and its jobs' events in position order, with actor and correlation")
    func historyOfFrame() throws {
        let (p, store, _) = try productionWithCoda()
        defer { remove(store) }
        let events = try readAll(store)
        let streams: Set<String> = ["frame-\(p.keyFrame)", "job-\(p.keyFrameJob)", "job-\(p.keyFrameRetake)"]
        let expected = events.filter { streams.contains($0["stream"] as? String ?? "") }
        #expect(expected.map { $0["type"] as? String } == [
            "frame.created",
            "generation_job.created", "generation_job.started", "image.generated", "image.generated", "generation_job.completed",
            "generation_job.created", "generation_job.started", "image.generated", "generation_job.completed",
            "frame.approved", "frame.rejected", "image.deleted",
        ])

        let run = try reel(["audit", "history", "--frame", p.keyFrame, "--store", store])
        #expect(run.status == 0, "\(run)")
        let rows = try historyRows(run)
        #expect(rows.map(\.position) == expected.map { $0["position"] as? Int }, "\(run)")
        #expect(rows.map(\.type) == expected.map { $0["type"] as? String }, "\(run)")
        #expect(rows.map(\.stream) == expected.map { $0["stream"] as? String }, "\(run)")
        #expect(rows.map(\.recordedAt) == expected.map { $0["recorded_at"] as? String }, "\(run)")
        #expect(rows.first { $0.type == "frame.approved" }?.actor == "director", "\(run)")
        #expect(rows.first { $0.type == "frame.rejected" }?.actor == "reviewer", "\(run)")
        #expect(rows.first { $0.type == "frame.rejected" }?.correlation == p.correlation, "\(run)")

        // --json: the envelopes, byte for byte as `reel read` prints them.
        let json = try reel(["audit", "history", "--frame", p.keyFrame, "--json", "--store", store])
        #expect(json.status == 0, "\(json)")
        let readLines = try reel(["read", "--store", store]).stdoutLines
        let positions = Set(expected.compactMap { $0["position"] as? Int })
        #expect(json.stdoutLines == readLines.enumerated().filter { positions.contains($0.offset + 1) }.map(\.element), "\(json)")
        #expect(json.stdout.hasSuffix("\n"))

        // A frame with no jobs: its own events, and the event of its story's stream that made it a scenelet's end frame.
        let end = try reel(["audit", "history", "--frame", p.endFrame, "--json", "--store", store])
        #expect(end.status == 0, "\(end)")
        let endFrameEvents = events.filter { $0["stream"] as? String == "frame-\(p.endFrame)" || $0["type"] as? String == "scenelet.end_frame_set" }
        #expect(endFrameEvents.map { $0["type"] as? String } == ["frame.created", "scenelet.end_frame_set"])
        #expect(try parseLines(end.stdout).map { $0["position"] as? Int } == endFrameEvents.map { $0["position"] as? Int }, "\(end)")
        try expectVerified(store)
    }

    @Test("audit history --job and --id (an image: its generation and deletion; an event id: that event)")
    func historyOfJobAndId() throws {
        let (p, store, _) = try productionWithCoda()
        defer { remove(store) }
        let events = try readAll(store)

        let job = try reel(["audit", "history", "--job", p.stormJob, "--store", store])
        #expect(job.status == 0, "\(job)")
        let jobRows = try historyRows(job)
        let jobEvents = events.filter { $0["stream"] as? String == "job-\(p.stormJob)" }
        #expect(jobRows.map(\.position) == jobEvents.map { $0["position"] as? Int }, "\(job)")
        #expect(jobRows.map(\.type) == [
            "generation_job.created", "generation_job.started", "image.generated", "image.generated", "image.generated",
            "generation_job.completed", "image.deleted",
        ], "\(job)")
        #expect(jobRows.first?.actor == "api-gateway" && jobRows.first?.correlation == p.correlation, "\(job)")
        #expect(jobRows.dropFirst().first?.actor == "worker-7", "\(job)")
        let jobJSON = try reel(["audit", "history", "--job", p.stormJob, "--json", "--store", store])
        #expect(jobJSON.status == 0, "\(jobJSON)")
        #expect(try parseLines(jobJSON.stdout).map { $0["position"] as? Int } == jobEvents.map { $0["position"] as? Int })

        let image = try reel(["audit", "history", "--id", p.stormImage3, "--json", "--store", store])
        #expect(image.status == 0, "\(image)")
        let imageEvents = events.filter { (($0["data"] as? [String: Any])?["image_id"] as? String) == p.stormImage3 }
        #expect(imageEvents.map { $0["type"] as? String } == ["image.generated", "image.deleted"])
        let imageLines = try parseLines(image.stdout)
        #expect(imageLines.map { $0["type"] as? String } == ["image.generated", "image.deleted"], "\(image)")
        #expect(imageLines.map { $0["position"] as? Int } == imageEvents.map { $0["position"] as? Int }, "\(image)")
        let imageTable = try reel(["audit", "history", "--id", p.stormImage3, "--store", store])
        #expect(try historyRows(imageTable).map(\.position) == imageEvents.map { $0["position"] as? Int }, "\(imageTable)")

        // An event id: that event is in the history.
        let some = events[12]
        let eventID = try #require(some["id"] as? String)
        let byEvent = try reel(["audit", "history", "--id", eventID, "--json", "--store", store])
        #expect(byEvent.status == 0, "\(byEvent)")
        #expect(try parseLines(byEvent.stdout).contains { $0["id"] as? String == eventID }, "\(byEvent)")

        // Upper-case ids are accepted (UUIDs in any case).
        let upper = try reel(["audit", "history", "--job", p.stormJob.uppercased(), "--json", "--store", store])
        #expect(upper.status == 0 && upper.stdout == jobJSON.stdout, "\(upper)")
        try expectVerified(store)
    }

    @Test("audit history of a frame, shot and scenelet removed with their scenelet: the log still holds their events")
    func historyOfRemovedEntities() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let (user, story, root, child, shot, frame, job) = (uuid(), uuid(), uuid(), uuid(), uuid(), uuid(), uuid())
        let lines = [
            inputLine("user.registered", ["user_id": .string(user), "email": "keeper@studio.example"]),
            inputLine("story.created", ["story_id": .string(story), "title": "Removed"]),
            inputLine("scenelet.added", ["scenelet_id": .string(root), "story_id": .string(story), "content": ["text": "root"]]),
            inputLine("scenelet.added", ["scenelet_id": .string(child), "story_id": .string(story), "parent_id": .string(root), "content": ["text": "child"]]),
            inputLine("shot.planned", ["shot_id": .string(shot), "scenelet_id": .string(child), "shot_index": 1]),
            inputLine("frame.created", ["frame_id": .string(frame), "shot_id": .string(shot), "frame_type": "key"]),
            inputLine("generation_job.created", ["job_id": .string(job), "user_id": .string(user), "frame_id": .string(frame), "prompt": "p"]),
            inputLine("generation_job.started", ["job_id": .string(job)]),
            inputLine("scenelet.removed", ["scenelet_id": .string(child)]),
            inputLine("generation_job.completed", ["job_id": .string(job)]),
        ]
        let run = try append(ndjson(lines), to: store)
        try #require(run.status == 0, "\(run)")

        // The frame is gone from the projections, but it was created and its job (which keeps its frame_id)
        // was generated for it: the audit trail does not shrink when the frame is removed.
        let frameHistory = try reel(["audit", "history", "--frame", frame, "--json", "--store", store])
        #expect(frameHistory.status == 0, "\(frameHistory)")
        let frameTypes = try parseLines(frameHistory.stdout).map { $0["type"] as? String ?? "?" }
        #expect(frameTypes.contains("frame.created"), "\(frameHistory)")
        #expect(["generation_job.created", "generation_job.started", "generation_job.completed"].allSatisfy(frameTypes.contains),
                "the frame's job events are missing after its removal: \(frameTypes)")
        let jobHistory = try reel(["audit", "history", "--job", job, "--json", "--store", store])
        #expect(try parseLines(jobHistory.stdout).map { $0["position"] as? Int } == [7, 8, 10], "\(jobHistory)")

        // A removed shot and scenelet still have a history: their events are in the log.
        let shotHistory = try reel(["audit", "history", "--id", shot, "--json", "--store", store])
        #expect(shotHistory.status == 0, "\(shotHistory)")
        #expect(try parseLines(shotHistory.stdout).map { $0["position"] as? Int }.contains(5), "shot.planned: \(shotHistory)")
        let sceneletHistory = try reel(["audit", "history", "--id", child, "--json", "--store", store])
        #expect(sceneletHistory.status == 0, "\(sceneletHistory)")
        let sceneletPositions = try parseLines(sceneletHistory.stdout).compactMap { $0["position"] as? Int }
        #expect(sceneletPositions.contains(4) && sceneletPositions.contains(9), "scenelet.added and scenelet.removed: \(sceneletHistory)")
        try expectVerified(store)
    }

    @Test("audit history lists the events of other streams that changed the entity without naming it there")
    func historyOfTouchedEntities() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let (user, session, story, root, child, shot) = (uuid(), uuid(), uuid(), uuid(), uuid(), uuid())
        let (first, second, job, image) = (uuid(), uuid(), uuid(), uuid())
        let (other, rootShot, third) = (uuid(), uuid(), uuid())
        let lines = [
            inputLine("user.registered", ["user_id": .string(user), "email": "toucher@studio.example"]),  // 1
            inputLine("session.created", ["session_id": .string(session), "user_id": .string(user), "title": "s"]),  // 2
            inputLine("story.created", ["story_id": .string(story), "title": "Touched"]),  // 3
            inputLine("scenelet.added", ["scenelet_id": .string(root), "story_id": .string(story), "content": ["text": "root"]]),  // 4
            inputLine(
                "scenelet.added",
                ["scenelet_id": .string(child), "story_id": .string(story), "parent_id": .string(root), "content": ["text": "child"]]),  // 5
            inputLine("shot.planned", ["shot_id": .string(shot), "scenelet_id": .string(child), "shot_index": 1]),  // 6
            inputLine("frame.created", ["frame_id": .string(first), "shot_id": .string(shot), "frame_type": "key"]),  // 7
            inputLine(
                "frame.created",
                ["frame_id": .string(second), "shot_id": .string(shot), "frame_type": "end", "previous_frame_id": .string(first)]),  // 8
            inputLine("scenelet.end_frame_set", ["scenelet_id": .string(root), "frame_id": .string(first)]),  // 9
            inputLine(
                "generation_job.created",
                ["job_id": .string(job), "user_id": .string(user), "session_id": .string(session), "frame_id": .string(first), "prompt": "p"]),  // 10
            inputLine("generation_job.started", ["job_id": .string(job)]),  // 11
            inputLine(
                "image.generated",
                ["image_id": .string(image), "job_id": .string(job), "generation_index": 1, "gcp_bucket_path": "b/1", "gcp_url": "gs://b/1"]),  // 12
            // Removes the shot and both frames, and clears the root's end frame and the second frame's previous frame.
            inputLine("scenelet.removed", ["scenelet_id": .string(child)]),  // 13
            inputLine(
                "scenelet.added",
                ["scenelet_id": .string(other), "story_id": .string(story), "parent_id": .string(root), "content": ["text": "other"]]),  // 14
            inputLine("shot.planned", ["shot_id": .string(rootShot), "scenelet_id": .string(root), "shot_index": 1]),  // 15
            inputLine("frame.created", ["frame_id": .string(third), "shot_id": .string(rootShot), "frame_type": "key"]),  // 16
            inputLine("scenelet.end_frame_set", ["scenelet_id": .string(other), "frame_id": .string(third)]),  // 17
            // The frame stays, but is no longer an end frame.
            inputLine("scenelet.removed", ["scenelet_id": .string(other)]),  // 18
            // Taken out of the session again: its generation stays in the session's history.
            inputLine("image.deleted", ["image_id": .string(image)]),  // 19
        ]
        let run = try append(ndjson(lines), to: store)
        try #require(run.status == 0, "\(run)")

        func positions(_ arguments: [String]) throws -> [Int] {
            let history = try reel(["audit", "history"] + arguments + ["--json", "--store", store])
            #expect(history.status == 0, "\(arguments): \(history)")
            return try parseLines(history.stdout).compactMap { $0["position"] as? Int }
        }
        // Set as the root's end frame (9, in the story's stream), its job's events, removed with the child scenelet (13).
        #expect(try positions(["--frame", first]) == [7, 9, 10, 11, 12, 13, 19])
        #expect(try positions(["--id", first]) == [7, 9, 10, 11, 12, 13, 19], "--id of a frame is --frame")
        #expect(try positions(["--id", second]) == [8, 13])
        // Planned, given two frames (in the frames' streams), removed with its scenelet.
        #expect(try positions(["--id", shot]) == [6, 7, 8, 13])
        // Added, given a child, given an end frame, that end frame cleared by the child's removal, given another child
        // and a shot.
        #expect(try positions(["--id", root]) == [4, 5, 9, 13, 14, 15])
        // Created, its image counted (in the job's stream), and taken out again.
        #expect(try positions(["--id", session]) == [2, 12, 19])
        #expect(try positions(["--id", image]) == [12, 19])
        // Registered, and given a session (in the session's stream).
        #expect(try positions(["--id", user]) == [1, 2])
        // A frame whose scenelet, not the frame, was removed: no longer an end frame.
        #expect(try positions(["--frame", third]) == [16, 17, 18])
        #expect(try positions(["--id", rootShot]) == [15, 16])
        // --frame and --job take only a frame's or a job's id, however touched the entity is.
        for option in ["--frame", "--job"] {
            let wrong = try reel(["audit", "history", option, shot, "--store", store])
            #expect(wrong.status == 1 && wrong.stdout.isEmpty, "\(option) of a shot: \(wrong)")
        }
        try expectVerified(store)
    }

    @Test("audit history: an unknown id exits 1; two of --frame/--job/--id, or none, or a malformed id exit 2")
    func historyErrors() throws {
        let (p, store, _) = try productionWithCoda()
        defer { remove(store) }
        let missing = uuid()
        for option in ["--frame", "--job", "--id"] {
            let run = try reel(["audit", "history", option, missing, "--store", store])
            #expect(run.status == 1, "\(option): \(run)")
            #expect(run.stdout.isEmpty, "\(option): \(run)")
            #expect(run.stderr.contains(missing), "\(option): the reason names the id: \(run)")
        }
        // A job id is not a frame.
        let wrongKind = try reel(["audit", "history", "--frame", p.stormJob, "--store", store])
        #expect(wrongKind.status == 1, "\(wrongKind)")

        for usage in [
            ["--frame", p.keyFrame, "--job", p.keyFrameJob],
            ["--frame", p.keyFrame, "--id", p.keyFrameJob],
            ["--job", p.keyFrameJob, "--id", p.keyFrameJob],
            ["--frame", p.keyFrame, "--job", p.keyFrameJob, "--id", p.alice],
            [],
            ["--frame", "frame-1"],
        ] {
            let run = try reel(["audit", "history"] + usage + ["--store", store])
            #expect(run.status == 2, "\(usage): \(run)")
            #expect(run.stdout.isEmpty, "\(usage): \(run)")
            #expect(!run.stderr.isEmpty, "\(usage): \(run)")
        }
        try expectVerified(store)
    }

    // MARK: no store

    static let readers: [[String]] = [
        ["replay", "--to", "0"],
        ["replay", "--to", "1"],
        ["replay", "--at", "2026-11-22T01:02:03.456Z"],
        ["replay", "--to", "1", "query", "jobs", "--status", "pending"],
        ["audit", "verify"],
        ["verify"],
        ["audit", "history", "--frame", "00000000-0000-4000-8000-000000000001"],
        ["audit", "history", "--job", "00000000-0000-4000-8000-000000000001"],
        ["audit", "history", "--id", "00000000-0000-4000-8000-000000000001", "--json"],
        ["export"],
        ["stats"],
        ["stats", "--json"],
    ]

    @Test("commands that only read, on a path without a store: exit 3, nothing created", arguments: readers)
    func readersOnMissingStore(_ command: [String]) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let run = try reel(withStore(command, store))
        #expect(run.status == 3, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(run.stderr.contains(store), "the reason names the store: \(run)")
        #expect(!exists(store), "no store was created")

        let viaEnvironment = try reel(command, environment: ["REEL_STORE": store])
        #expect(viaEnvironment.status == 3, "\(viaEnvironment)")
        #expect(!exists(store), "no store was created")
    }

    @Test("commands that only read, on an empty directory: exit 3, the directory left as it was", arguments: readers)
    func readersOnEmptyDirectory(_ command: [String]) throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: store + "/README.txt"))
        let run = try reel(withStore(command, store))
        #expect(run.status == 3, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: store) == ["README.txt"])
    }

    @Test("export FILE without a store: exit 3, neither a store nor the file is created")
    func exportToFileWithoutStore() throws {
        let store = temporaryStorePath()
        let file = temporaryStorePath() + ".ndjson"
        defer { remove(store); remove(file) }
        let run = try reel(["export", "--store", store, file])
        #expect(run.status == 3, "\(run)")
        #expect(!exists(store))
        #expect(!exists(file), "export created its output file before finding there is no store")
    }

    // MARK: helpers

    /// `--store DIR` placed right after the command words (before a replay's `query …`, which takes the rest).
    private func withStore(_ command: [String], _ store: String) -> [String] {
        let words = command.first == "audit" ? 2 : 1
        return Array(command.prefix(words)) + ["--store", store] + Array(command.dropFirst(words))
    }

    /// Events that change what the production's queries answer, so that earlier cuts differ from later ones: a
    /// review overturned, a job started, an image deleted, a scenelet edited and another removed (its shot and
    /// frames with it), a project's scenes cleared.
    private func coda(_ p: Production) -> [String] {
        [
            inputLine("frame.rejected", ["frame_id": .string(p.keyFrame), "reason": "too dark"], metadata: ["actor": "reviewer", "correlation_id": .string(p.correlation)]),
            inputLine("generation_job.started", ["job_id": .string(p.harborJob)]),
            inputLine("image.generated", [
                "image_id": .string(uuid()), "job_id": .string(p.harborJob), "generation_index": 1,
                "gcp_bucket_path": "reel-media/harbor.png", "gcp_url": "https://storage.googleapis.com/reel-media/harbor.png",
            ]),
            inputLine("image.deleted", ["image_id": .string(p.keyFrameImage1)]),
            inputLine("session.renamed", ["session_id": .string(p.lighthouseSession), "title": "Lighthouse moodboard v2"]),
            inputLine("scenelet.updated", ["scenelet_id": .string(p.lens), "content": ["text": "The lens is whole again."], "is_branch_point": false]),
            inputLine("scenelet.removed", ["scenelet_id": .string(p.cellar)]),
            inputLine("scene_images.cleared", ["project_id": .string(p.project), "scene_indexes": []]),
            inputLine("generation_job.completed", ["job_id": .string(p.harborJob)]),
        ]
    }

    /// A fresh store holding the realistic production and the ``coda(_:)``, appended by several commands (so the
    /// events carry several distinct times). Returns the production, the store (the caller removes it) and the lines.
    private func productionWithCoda() throws -> (Production, String, [String]) {
        let p = Production()
        let store = temporaryStorePath()
        let lines = p.lines + coda(p)
        var start = 0
        for end in [5, 12, 21, 28, 36, 44, p.lines.count] + Array(p.lines.count + 1...lines.count) {
            let run = try append(ndjson(Array(lines[start..<end])), to: store)
            try #require(run.status == 0, "\(run)")
            try #require(run.stdout == summary(appended: end - start, lastPosition: end), "\(run)")
            start = end
            usleep(3_000)
        }
        return (p, store, lines)
    }

    /// The store's export, one envelope per element (its end line checked and left out).
    private func export(_ store: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let run = try reel(["export", "--store", store])
        #expect(run.status == 0, "reel export: \(run)", sourceLocation: sourceLocation)
        return try envelopes(ofExport: run.stdout, sourceLocation: sourceLocation)
    }

    /// A copy of `store`'s data.mdb in a new directory (the caller removes it) in which one byte (`T` → `t`) of every
    /// copy of `marker` that `select` accepts — it is given the 16 bytes before the copy — is flipped. Returns the
    /// directory and how many copies were flipped.
    private func tamperedCopy(of store: String, marker: String, select: ([UInt8]) -> Bool = { _ in true }) throws -> (String, Int) {
        let copy = temporaryStorePath()
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: store + "/data.mdb", toPath: copy + "/data.mdb")
        let healthy = try reel(["audit", "verify", "--store", copy])
        #expect(healthy.status == 0 && healthy.stdout == "OK\n", "the copy is sound before tampering: \(healthy)")
        let file = URL(fileURLWithPath: copy + "/data.mdb")
        var data = [UInt8](try Data(contentsOf: file))
        let needle = Array(marker.utf8)
        var flipped = 0
        var index = 0
        while index + needle.count <= data.count {
            if data[index] == needle[0], data[index..<index + needle.count].elementsEqual(needle) {
                if select(Array(data[max(0, index - 16)..<index])) {
                    data[index] ^= 0x20
                    flipped += 1
                }
                index += needle.count
            } else {
                index += 1
            }
        }
        try Data(data).write(to: file)
        return (copy, flipped)
    }

    /// A fresh store that imported `lines`, closed by their end line; the caller removes it.
    private func imported(_ lines: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let target = temporaryStorePath()
        let file = try temporaryFile(try exportText(lines, sourceLocation: sourceLocation))
        defer { remove(file) }
        let run = try reel(["import", "--store", target, file])
        #expect(run.status == 0, "reel import: \(run)", sourceLocation: sourceLocation)
        #expect(run.stdout.contains("\"imported\":\(lines.count)"), "reel import: \(run)", sourceLocation: sourceLocation)
        return target
    }

    /// Imports `lines`, closed by the end line they call for, into a fresh directory and expects a refusal naming
    /// `line`, with no events left behind.
    @discardableResult
    private func expectRefusedImport(_ lines: [String], line: Int, sourceLocation: SourceLocation = #_sourceLocation) throws -> Run {
        let target = temporaryStorePath()
        let file = try temporaryFile(try exportText(lines, sourceLocation: sourceLocation))
        defer { remove(target); remove(file) }
        let run = try reel(["import", "--store", target, file])
        #expect(run.status == 1, "\(run)", sourceLocation: sourceLocation)
        #expect(run.stdout.isEmpty, "\(run)", sourceLocation: sourceLocation)
        #expect(run.stderr.contains("line \(line):"), "names line \(line): \(run)", sourceLocation: sourceLocation)
        let others = run.stderr.matches(of: /line (\d+):/).map { Int($0.1)! }
        #expect(others.allSatisfy { $0 == line }, "names no other line: \(run)", sourceLocation: sourceLocation)
        if exists(target + "/data.mdb") {
            let read = try reel(["read", "--store", target])
            #expect(read.status == 0 && read.stdout.isEmpty, "a refused import left events: \(read)", sourceLocation: sourceLocation)
            try expectVerified(target, sourceLocation: sourceLocation)
        }
        return run
    }
}

// MARK: - Queries of the production

extension Production {
    /// One `reel query` invocation; `id` is the entity it asks about, if any.
    struct Query: Sendable {
        let name: String
        let arguments: [String]
        let id: String?
    }

    /// Every query of `reel query` for every entity of the production.
    var queries: [Query] {
        var q: [Query] = []
        func add(_ name: String, _ option: String, _ id: String) { q.append(Query(name: name, arguments: [option, id], id: id)) }
        add("images-by-scene", "--project", project)
        for frame in [keyFrame, endFrame] { add("jobs-by-frame", "--frame", frame) }
        for shot in [cellarShot, lampWideShot, lampDollyShot] { add("frames-by-shot", "--shot", shot) }
        add("story", "--story", story)
        add("bundle", "--story", story)
        for user in [alice, bob] {
            add("sessions", "--user", user)
            add("reference-images", "--user", user)
        }
        for job in [stormJob, harborJob, portraitJob, closeUpJob, keyFrameJob, keyFrameRetake] { add("job", "--job", job) }
        for session in [lighthouseSession, harborSession] { add("session-images", "--session", session) }
        for status in ["pending", "processing", "completed", "failed"] {
            q.append(Query(name: "jobs", arguments: ["--status", status], id: nil))
        }
        q.append(Query(name: "jobs", arguments: ["--status", "completed", "--limit", "1"], id: nil))
        return q
    }
}

// MARK: - Helpers

/// The bytes of a file.
private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

/// Counts of events by type.
private func typeCounts(_ events: ArraySlice<[String: Any]>) -> [String: Int] {
    var counts: [String: Int] = [:]
    for event in events { counts[event["type"] as? String ?? "?", default: 0] += 1 }
    return counts
}

/// One row of `reel audit history`'s table.
private struct HistoryRow {
    let position: Int?
    let recordedAt: String
    let type: String
    let stream: String
    let actor: String
    let correlation: String
}

/// The rows of `reel audit history`'s table (after its header line).
private func historyRows(_ run: Run, sourceLocation: SourceLocation = #_sourceLocation) throws -> [HistoryRow] {
    #expect(run.status == 0, "\(run)", sourceLocation: sourceLocation)
    let lines = run.stdoutLines
    try #require(lines.first?.hasPrefix("position") == true, "a header line: \(run)", sourceLocation: sourceLocation)
    return try lines.dropFirst().map { line in
        let columns = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        try #require(columns.count == 6, "six columns: \(line)", sourceLocation: sourceLocation)
        return HistoryRow(position: Int(columns[0]), recordedAt: columns[1], type: columns[2], stream: columns[3], actor: columns[4], correlation: columns[5])
    }
}

// MARK: Times

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
private func days(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
private func milliseconds(_ text: String) throws -> Int64 {
    let match = try #require(text.wholeMatch(of: /(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z/), "not a time: \(text)")
    let d = days(year: Int(match.1)!, month: Int(match.2)!, day: Int(match.3)!)
    let seconds = ((d * 24 + Int(match.4)!) * 60 + Int(match.5)!) * 60 + Int(match.6)!
    return Int64(seconds) * 1000 + Int64(match.7)!
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of milliseconds since the epoch.
private func iso8601(_ milliseconds: Int64) -> String {
    let ms = Int(((milliseconds % 1000) + 1000) % 1000)
    let totalSeconds = Int((milliseconds - Int64(ms)) / 1000)
    let z = Int((Double(totalSeconds) / 86_400).rounded(.down))
    let secondOfDay = totalSeconds - z * 86_400
    let shifted = z + 719_468
    let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
    let doe = shifted - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month, day, secondOfDay / 3600, secondOfDay / 60 % 60, secondOfDay % 60, ms)
}

// MARK: The hash chain, recomputed independently (docs/FORMAT.md)

/// The stored hash of an envelope line.
private func storedHashBytes(_ line: String) throws -> [UInt8] {
    let text = try #require(try parseObject(line)["hash"] as? String)
    return stride(from: 0, to: text.count, by: 2).map { offset in
        let start = text.index(text.startIndex, offsetBy: offset)
        return UInt8(text[start..<text.index(start, offsetBy: 2)], radix: 16)!
    }
}

/// The line with its `hash` replaced.
private func replacingHash(of line: String, with hash: [UInt8]) throws -> String {
    let range = try #require(line.firstRange(of: #/"hash":"[0-9a-f]{64}"/#))
    return line.replacingCharacters(in: range, with: "\"hash\":\"" + hash.map { String(format: "%02x", $0) }.joined() + "\"")
}

/// SHA-256(previous ‖ canonical bytes of the envelope `line`), the canonical bytes built from the envelope's fields as
/// docs/FORMAT.md defines them; `data` is taken verbatim from the line (an export carries the stored payload).
private func chainHash(_ line: String, after previous: [UInt8]) throws -> [UInt8] {
    let envelope = try parseObject(line)
    var out: [UInt8] = []
    func u64(_ value: UInt64) { for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) } }
    func u32(_ value: Int) { for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> shift)) } }
    func text(_ bytes: [UInt8]) { u32(bytes.count); out += bytes }
    u64(UInt64(try #require(envelope["position"] as? Int)))
    text(Array(try #require(envelope["stream"] as? String).utf8))
    u64(UInt64(try #require(envelope["version"] as? Int)))
    let id = try #require(envelope["id"] as? String).replacingOccurrences(of: "-", with: "")
    out += stride(from: 0, to: 32, by: 2).map { offset in
        let start = id.index(id.startIndex, offsetBy: offset)
        return UInt8(id[start..<id.index(start, offsetBy: 2)], radix: 16)!
    }
    text(Array(try #require(envelope["type"] as? String).utf8))
    u64(UInt64(bitPattern: try milliseconds(try #require(envelope["recorded_at"] as? String))))
    let dataStart = try #require(line.range(of: #","data":"#)).upperBound
    let dataEnd = try #require(line.range(of: #","metadata":{"#, options: .backwards)).lowerBound
    text(Array(line[dataStart..<dataEnd].utf8))
    let metadata = try #require(envelope["metadata"] as? [String: String])
    for key in ["actor", "correlation_id", "causation_id"] {
        if let value = metadata[key] {
            out.append(1)
            text(Array(value.utf8))
        } else {
            out.append(0)
            u32(0)
        }
    }
    return SHA256.hash(previous + out)
}

/// A plain SHA-256 (FIPS 180-4), so that the tests recompute the chain without the engine's code.
private enum SHA256 {
    static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    static func hex(_ message: [UInt8]) -> String { hash(message).map { String(format: "%02x", $0) }.joined() }

    static func hash(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var m = message
        let bitLength = UInt64(message.count) * 8
        m.append(0x80)
        while m.count % 64 != 56 { m.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { m.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        var w = [UInt32](repeating: 0, count: 64)
        for chunk in stride(from: 0, to: m.count, by: 64) {
            for i in 0..<16 {
                w[i] = UInt32(m[chunk + 4 * i]) << 24 | UInt32(m[chunk + 4 * i + 1]) << 16 | UInt32(m[chunk + 4 * i + 2]) << 8 | UInt32(m[chunk + 4 * i + 3])
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }
        return h.flatMap { word in stride(from: 24, through: 0, by: -8).map { UInt8(truncatingIfNeeded: word >> UInt32($0)) } }
    }
}
