import EventStore
import Foundation
import MediaPipeline

// One store per directory per process, opened once and shared by every task. Here: a fresh temporary directory.
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-example-\(UUID().uuidString)").path
defer { try? FileManager.default.removeItem(atPath: directory) }
let reel = try MediaStore.open(at: directory)

let project = UUID()
try await reel.append(.projectCreated(ProjectCreated(projectID: project, title: "Lighthouse trailer")))

// Sixteen renderers save at once. Each save is checked and folded inside the write transaction, and concurrent saves
// share group commits: none is lost, and each is on disk when its `append` returns.
try await withThrowingTaskGroup(of: Void.self) { group in
    for renderer in 0..<16 {
        group.addTask {
            for scene in 0..<4 {
                let url = "https://cdn.example/\(scene)/\(renderer).png"
                try await reel.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: scene, imageIndex: renderer, imageURL: url)))
            }
        }
    }
    try await group.waitForAll()
}
let scenes = try reel.imagesByScene(project: project)
print("\(scenes.scenes.count) scenes, \(scenes.scenes.reduce(0) { $0 + $1.imageURLs.count }) images")  // 4 scenes, 64 images

// A broken rule throws DomainRejection, naming the event, the rule and the ids; nothing is written.
do {
    try await reel.append(.projectCreated(ProjectCreated(projectID: project)))
} catch let rejection as DomainRejection {
    print(rejection)
}

// A query about an id the store has never seen throws UnknownEntity (an empty result would hide a typo).
do {
    _ = try reel.imagesByScene(project: UUID())
} catch let unknown as UnknownEntity {
    print(unknown)
}

// On shutdown: close() lets the appends in flight finish, then releases the store.
try reel.close()
