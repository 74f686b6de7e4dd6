import EventStore
import Foundation
import Testing
import MediaPipeline

/// The README's library example, so it keeps compiling and doing what it says. This file imports what the example
/// imports, without `@testable`, so that it sees the public API only; it opens its store in a temporary directory
/// (`withMediaStore`) and checks what the example prints.
@Suite("README example")
struct ReadmeExampleTests {
    @Test("the embedding example runs and its rejection reads as the README says")
    func example() async throws {
        try await withMediaStore { reel in
            let project = UUID()
            try await reel.append(.projectCreated(ProjectCreated(projectID: project, title: "Lighthouse trailer")))
            try await reel.append(.sceneImageSaved(SceneImageSaved(projectID: project, sceneIndex: 3, imageURL: "https://cdn/3.png")))
            let (user, job) = (UUID(), UUID())
            try await reel.append([
                .init(.userRegistered(UserRegistered(userID: user, email: "ivo@lighthouse.film"))),
                .init(.generationJobCreated(GenerationJobCreated(jobID: job, userID: user, prompt: "a lighthouse in a storm"))),
                .init(.generationJobStarted(GenerationJobStarted(jobID: job)), metadata: EventMetadata(actor: "worker-7")),
            ])
            try await expectRejection(reel, "generation_job.started rejected: job \(job.uuidString.lowercased()) is processing, not pending") {
                try await reel.append(.generationJobStarted(GenerationJobStarted(jobID: job)))
            }
            let scenes = try reel.imagesByScene(project: project)
            #expect(scenes.scenes.map(\.imageURLs) == [["https://cdn/3.png"]])
            var seen: [String] = []
            for try await (event, change) in reel.changes(from: 1) {
                seen.append(change.type)
                if event.position == 5 { break }
            }
            #expect(seen == ["project.created", "scene_image.saved", "user.registered", "generation_job.created", "generation_job.started"])
        }
    }
}
