import EventStore
import Foundation
import MediaPipeline
import Synchronization
import Testing

/// The service of the article "Using the Store in a Service": one store opened at start-up, shared by every request,
/// closed at shutdown while requests are still arriving. Public API only (no `@testable`), as a service sees it.
@Suite("A store in a service")
struct ServiceLifecycleTests {
    /// The article's service, as written there.
    final class ImageService: Sendable {
        let media: MediaStore

        init(storePath: String) throws {
            media = try MediaStore.open(at: storePath)
        }

        /// `POST /projects/{id}/scenes/{scene}/images`: durable when it returns.
        func saveImage(project: UUID, scene: Int, url: String, requestID: UUID) async throws -> AppendResult {
            try await media.append(
                .sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: scene, imageURL: url)), id: requestID)
        }

        /// `GET /projects/{id}/scenes`: the body `reel query images-by-scene` prints.
        func scenes(project: UUID) throws -> Data {
            try media.imagesByScene(project: project).jsonData
        }

        /// At shutdown, once the server has stopped taking requests.
        func shutDown() throws {
            try media.close()
        }
    }

    /// What one request task saw: the images acknowledged, the one refused because the store was closing (none when a
    /// query met the closed store first).
    struct Outcome: Sendable {
        var acknowledged: [(id: UUID, position: UInt64)] = []
        var refusedAsClosed: [UUID] = []
        var closed = false
    }

    /// How many appends the request tasks have seen succeed.
    final class Served: Sendable {
        let count = Atomic<Int>(0)
    }

    @Test("requests from concurrent tasks share one store; close lets the queued appends commit and refuses later ones")
    func openShareClose() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reel-service-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let service = try ImageService(storePath: path)
        let project = UUID()
        try await service.media.append(.projectCreated(ProjectCreated(projectID: project, title: "Trailer")))

        // A subscriber follows the store as a service's change feed would, until the store closes.
        let feed = Task { () -> Result<Int, any Error> in
            var seen = 0
            do {
                for try await _ in service.media.changes(from: 1) { seen += 1 }
                return .success(seen)
            } catch {
                return .failure(error)
            }
        }

        // Eight request tasks save images (and read the project back) until the store refuses them.
        let served = Served()
        let requests = (0..<8).map { task in
            Task { () throws -> Outcome in
                var outcome = Outcome()
                for index in 0..<1_000_000 {
                    let id = UUID()
                    do {
                        let result = try await service.saveImage(
                            project: project, scene: task, url: "https://cdn.example/\(task)/\(index).png", requestID: id)
                        outcome.acknowledged.append((id, result.lastPosition))
                        served.count.add(1, ordering: .relaxed)
                    } catch EventStoreError.closed {
                        outcome.refusedAsClosed.append(id)
                        outcome.closed = true
                        return outcome
                    }
                    do {
                        if index % 16 == 0 { _ = try service.scenes(project: project) }
                    } catch EventStoreError.closed {
                        outcome.closed = true
                        return outcome
                    }
                }
                return outcome
            }
        }
        // Shutdown comes while the requests are running, once a few hundred have been served.
        let deadline = ContinuousClock.now + .seconds(60)
        while served.count.load(ordering: .relaxed) < 400, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        try service.shutDown()
        var outcomes: [Outcome] = []
        for request in requests { outcomes.append(try await request.value) }
        let fed = try await feed.value.get()

        // A request that arrives after shutdown is refused, and so is a query.
        await #expect(throws: EventStoreError.closed) {
            _ = try await service.saveImage(project: project, scene: 0, url: "https://late", requestID: UUID())
        }
        #expect(throws: EventStoreError.closed) { _ = try service.scenes(project: project) }
        try service.shutDown()  // a second close does nothing

        let acknowledged = outcomes.flatMap(\.acknowledged)
        #expect(outcomes.allSatisfy { $0.closed }, "each task ran until the store refused it")
        #expect(acknowledged.count >= 400, "requests were served before the shutdown")

        // Every acknowledged image is stored where its answer said; none refused is; the feed saw every commit.
        let reopened = try MediaStore.open(at: path)
        for (id, position) in acknowledged {
            #expect(try reopened.store.event(id: id)?.position == position)
        }
        for id in outcomes.flatMap(\.refusedAsClosed) {
            #expect(try reopened.store.event(id: id) == nil)
        }
        #expect(try reopened.store.head() == UInt64(acknowledged.count + 1))
        #expect(fed <= acknowledged.count + 1)
        let scenes = try reopened.imagesByScene(project: project)
        #expect(scenes.scenes.map(\.sceneIndex) == Array(0..<8))
        let problems = try reopened.store.verify() + reopened.store.verifyProjections()
        #expect(problems.isEmpty, "integrity problems: \(problems)")
        try reopened.close()
    }
}
