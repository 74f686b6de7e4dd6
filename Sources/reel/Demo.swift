import ArgumentParser
import EventStore
import Foundation

/// `reel demo` — exercises the engine with a built-in production: durable single appends, 16 concurrent writers
/// saving images through group commit, an optimistic-concurrency race and an idempotent retry, then checks the store.
///
/// Until the media-pipeline domain lands (issue 3) the events carry realistic JSON but no domain rules.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Build a sample production in the store and show what it built.")

    @OptionGroup var location: StoreLocation
    @Option(help: "Concurrent image writers.") var writers = 16
    @Option(help: "Images each writer saves.") var images = 5_000

    func run() async throws {
        let store = try openStore(location, readOnly: false).store
        let project = UUID().uuidString.lowercased()
        let stream = "project-\(project)"
        print("Reel demo — store at \(location.path)\n")

        // 1. One writer, one durable event per call: each append waits for its own fsync'd commit.
        let single = 200
        var clock = ContinuousClock.now
        try await store.append(event(stream, "project.created", ["project_id": .string(project), "title": .string("The Lighthouse")]))
        for i in 1..<single {
            try await store.append(event("job-\(i)", "generation_job.created", ["prompt": .string("storm over the lighthouse, take \(i)")]))
        }
        let singleRate = Double(single) / seconds(since: clock)
        print("1 writer, 1 event per call:      \(single) events, \(rate(singleRate)) (each one fsync'd before the next)")

        // 2. Many writers saving images into one project at once: group commit gathers them into shared commits.
        clock = ContinuousClock.now
        let batch = 50
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for start in stride(from: 0, to: images, by: batch) {
                        let events = (start..<min(start + batch, images)).map { n in
                            event(stream, "scene_image.saved", [
                                "project_id": .string(project), "scene_index": .int(n % 100), "image_index": .int(writer),
                                "image_url": .string("gs://reel-demo/\(project)/scene-\(n % 100)/writer-\(writer)-\(n).png"),
                            ], actor: "worker-\(writer)")
                        }
                        try await store.append(events)
                    }
                }
            }
            try await group.waitForAll()
        }
        let manyRate = Double(writers * images) / seconds(since: clock)
        print("\(writers) writers, \(batch) events per call: \(writers * images) events, \(rate(manyRate)), every one durable")

        // 3. Optimistic concurrency: eight reviewers race to approve the same frame; exactly one wins.
        let frame = "frame-\(UUID().uuidString.lowercased())"
        try await store.append(event(frame, "frame.created", ["frame_type": .string("key")]))
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for reviewer in 0..<8 {
                group.addTask {
                    (try? await store.append(event(frame, "frame.approved", ["reviewer": .int(reviewer)]), expectedVersion: .exactly(1))) != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        print("8 reviewers racing on \(frame.prefix(14))…: \(outcomes.filter { $0 }.count) approval landed, \(outcomes.filter { !$0 }.count) got a wrong-expected-version error")

        // 4. Idempotency: a retried append with the same event id is a no-op that reports the original position.
        let retried = event(stream, "scene_images.cleared", ["project_id": .string(project), "scene_indexes": .string("[7]")])
        let first = try await store.append(retried)
        let again = try await store.append(retried)
        print("retried append of one event id: first at position \(first.lastPosition), retry \(again.isDuplicate ? "was a no-op at" : "wrote") position \(again.lastPosition)\n")

        // What the store holds now.
        let (head, counts, streamVersion, sample) = try store.read { snapshot in
            let head = try snapshot.head()
            var counts: [(String, Int)] = []
            for type in ["project.created", "generation_job.created", "scene_image.saved", "frame.created", "frame.approved", "scene_images.cleared"] {
                counts.append((type, try EventTypeIndex.positions(ofType: type, in: snapshot).count))
            }
            return (head, counts, try snapshot.version(of: stream), try snapshot.events(from: max(head, 3) - 2, limit: 3))
        }
        print("The store now holds \(head) events. Events by type (the inline type index):")
        for (type, count) in counts where count > 0 { print("  \(type.padding(toLength: 24, withPad: " ", startingAt: 0)) \(count)") }
        print("Stream \(stream.prefix(20))… is at version \(streamVersion).")
        print("The last events, as `reel read` prints them:")
        for event in sample { print("  " + Envelope.json(event)) }
        let problems = try store.verify() + store.verifyProjections()
        print("\nIntegrity (hash chain, gapless positions and versions, indexes, projections): \(problems.isEmpty ? "OK" : "\(problems.count) problems")")
        for problem in problems { print("  \(problem)") }
        try store.close()
        if !problems.isEmpty { throw Exit.rejected }
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 1e-9)
    }

    private func rate(_ perSecond: Double) -> String { "\(Int(perSecond.rounded())) events/s" }
}

/// A JSON value for the demo's payloads.
enum DemoValue {
    case string(String)
    case int(Int)

    var json: String {
        switch self {
        case let .string(text): Envelope.quote(text)
        case let .int(number): String(number)
        }
    }
}

private func event(_ stream: String, _ type: String, _ data: KeyValuePairs<String, DemoValue>, actor: String = "reel-demo") -> NewEvent {
    let body = data.map { "\(Envelope.quote($0.key)):\($0.value.json)" }.joined(separator: ",")
    return NewEvent(stream: stream, type: type, payload: Array("{\(body)}".utf8), metadata: EventMetadata(actor: actor, correlationID: "demo"))
}
