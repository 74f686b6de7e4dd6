import EventStore
import Foundation
import Testing
@testable import MediaPipeline

/// Image-generation sessions — status flow, thumbnails and counts through deletions, job detail, ownership.
@Suite("Sessions, jobs and images")
struct SessionScenarioTests {
    @Test("job status flow: pending → processing → completed, pending|processing → failed, nothing leaves the ends")
    func statusFlow() async throws {
        try await withMediaStore { media in
            let user = try await media.user()
            let job = try await media.job(of: user)
            try await expectRejection(media, "job \(job.text) is pending, not processing") {
                try await media.append(.generationJobCompleted(GenerationJobCompleted(jobID: job)))
            }
            try await expectRejection(media, "job \(job.text) is pending, not processing") {
                try await media.image(of: job, index: 1)
            }
            try await media.append(.generationJobStarted(GenerationJobStarted(jobID: job)))
            try await expectRejection(media, "is processing, not pending") {
                try await media.append(.generationJobStarted(GenerationJobStarted(jobID: job)))
            }
            try await media.append(.generationJobCompleted(GenerationJobCompleted(jobID: job)))
            try await expectRejection(media, "is completed, not pending or processing") {
                try await media.append(.generationJobFailed(GenerationJobFailed(jobID: job, error: "late")))
            }
            let failing = try await media.job(of: user)
            try await media.append(.generationJobFailed(GenerationJobFailed(jobID: failing, error: "model unavailable")))
            try await expectRejection(media, "is failed, not pending") {
                try await media.append(.generationJobStarted(GenerationJobStarted(jobID: failing)))
            }
            #expect(try media.job(failing).error == "model unavailable")
            #expect(try media.jobs(status: .completed).jobs.map(\.jobID) == [job])
            #expect(try media.jobs(status: .failed).jobs.map(\.jobID) == [failing])
            #expect(try media.jobs(status: .pending).jobs.isEmpty)
        }
    }

    @Test("thumbnails and counts follow images through deletions, and sessions sort by last update")
    func thumbnailsAndCounts() async throws {
        try await withMediaStore { media in
            let user = try await media.user()
            let first = try await media.session(of: user, title: "First")
            let second = try await media.session(of: user, title: "Second")
            let job = try await media.job(of: user, session: first, shots: 4, start: true)
            let a = try await media.image(of: job, index: 1, url: "https://img/a")
            let b = try await media.image(of: job, index: 2, url: "https://img/b")
            try await media.image(of: job, index: 3, url: "https://img/c")

            var sessions = try media.sessions(user: user)
            #expect(sessions.sessions.map(\.sessionID) == [first, second], "the session with new images was updated last")
            #expect(sessions.sessions[0].thumbnailURL == "https://img/a")
            #expect(sessions.sessions[0].generatedCount == 3)
            #expect(sessions.sessions[1].thumbnailURL == nil && sessions.sessions[1].generatedCount == 0)

            try await media.append(.imageDeleted(ImageDeleted(imageID: a)))
            sessions = try media.sessions(user: user)
            #expect(sessions.sessions[0].thumbnailURL == "https://img/b", "the earliest image still in the session")
            #expect(sessions.sessions[0].generatedCount == 2)
            try await expectRejection(media, "image \(a.text) was already deleted") {
                try await media.append(.imageDeleted(ImageDeleted(imageID: a)))
            }
            // The freed generation_index may be used again; the deleted image's id may not.
            try await media.image(of: job, index: 1, url: "https://img/a2")
            try await expectRejection(media, "image id \(b.text) was used before") {
                try await media.append(.imageGenerated(ImageGenerated(imageID: b, jobID: job, generationIndex: 4, gcpBucketPath: "p", gcpURL: "u")))
            }
            try await expectRejection(media, "already has image \(b.text) at generation_index 2") {
                try await media.image(of: job, index: 2)
            }
            try await expectRejection(media, "generation_index 5 is not within 1…4") {
                try await media.image(of: job, index: 5)
            }
            #expect(try media.sessionImages(session: first).images.map(\.gcpURL) == ["https://img/a2", "https://img/b", "https://img/c"])

            try await media.append(.sessionRenamed(SessionRenamed(sessionID: second, title: "Second, renamed")))
            sessions = try media.sessions(user: user)
            #expect(sessions.sessions.map(\.sessionID) == [second, first])
            #expect(sessions.sessions[0].title == "Second, renamed")

            // Emptied, the session has no thumbnail; its next image is the thumbnail again.
            let c = try media.sessionImages(session: first).images.map(\.imageID)
            for image in c { try await media.append(.imageDeleted(ImageDeleted(imageID: image))) }
            sessions = try media.sessions(user: user)
            #expect(sessions.sessions[0].sessionID == first && sessions.sessions[0].thumbnailURL == nil && sessions.sessions[0].generatedCount == 0)
            let later = try await media.job(of: user, session: first, shots: 1, start: true)
            try await media.image(of: later, index: 1, url: "https://img/d")
            #expect(try media.sessions(user: user).sessions[0].thumbnailURL == "https://img/d")
        }
    }

    @Test("job detail: every parameter, reference image URLs in the order given, images by generation_index")
    func jobDetail() async throws {
        try await withMediaStore { media in
            let user = try await media.user()
            let session = try await media.session(of: user)
            var references: [UUID] = []
            for name in ["c", "à", "b"] {
                let id = UUID()
                references.append(id)
                try await media.append(.referenceImageUploaded(ReferenceImageUploaded(
                    referenceImageID: id, userID: user, sessionID: session, gcpBucketPath: "uploads/\(name)", gcpURL: "https://ref/\(name)", filename: "\(name).png"
                )))
            }
            let job = try await media.job(of: user, session: session, shots: 3, references: references, start: true)
            let third = try await media.image(of: job, index: 3, url: "https://img/ünï/3")
            let first = UUID()
            try await media.append(.imageGenerated(ImageGenerated(
                imageID: first, jobID: job, generationIndex: 1, gcpBucketPath: "generated/1", gcpURL: "https://img/1",
                thumbnailURL: "https://img/t/1€"
            )))
            let view = try media.job(job)
            // The URLs are slices of one text: each must come back whole, multi-byte characters included.
            #expect(view.referenceImageURLs == ["https://ref/c", "https://ref/à", "https://ref/b"])
            #expect(view.images.map(\.generationIndex) == [1, 3] && view.images.map(\.imageID) == [first, third])
            #expect(view.images.map(\.gcpURL) == ["https://img/1", "https://img/ünï/3"])
            #expect(view.images.map(\.thumbnailURL) == ["https://img/t/1€", nil])
            #expect(view.job.style == "noir" && view.numberOfShots == 3 && view.status == .processing)
            let json = String(decoding: JSONWriter.canonical(view.json), as: UTF8.self)
            #expect(json.contains(#""camera_angle":null"#) && json.contains(#""number_of_shots":3"#))
            #expect(try media.referenceImages(user: user).referenceImages.map(\.gcpURL) == ["https://ref/b", "https://ref/à", "https://ref/c"])

            // A status change rewrites only the record's status and error: every parameter is still there.
            try await media.append(.generationJobFailed(GenerationJobFailed(jobID: job, error: "GPU lost: ünïcode")))
            let failed = try media.job(job)
            #expect(failed.status == .failed && failed.error == "GPU lost: ünïcode")
            #expect(failed.job == view.job && failed.numberOfShots == 3 && failed.createdAt == view.createdAt)
            #expect(failed.referenceImageURLs == view.referenceImageURLs && failed.images == view.images)
            #expect(try media.jobs(status: .failed).jobs.map(\.jobID) == [job] && media.jobs(status: .processing).jobs.isEmpty)
        }
    }

    @Test("ownership rules: sessions and reference images must be the user's; users and emails are unique")
    func ownership() async throws {
        try await withMediaStore { media in
            let ana = try await media.user("ana@example.com")
            let bo = try await media.user()
            let anasSession = try await media.session(of: ana)
            let anasReference = UUID()
            try await media.append(.referenceImageUploaded(ReferenceImageUploaded(
                referenceImageID: anasReference, userID: ana, gcpBucketPath: "p", gcpURL: "u"
            )))
            try await expectRejection(media, "session \(anasSession.text) belongs to user \(ana.text), not \(bo.text)") {
                _ = try await media.job(of: bo, session: anasSession)
            }
            try await expectRejection(media, "reference image \(anasReference.text) belongs to user \(ana.text), not \(bo.text)") {
                _ = try await media.job(of: bo, references: [anasReference])
            }
            try await expectRejection(media, "belongs to user \(ana.text), not \(bo.text)") {
                try await media.append(.referenceImageUploaded(ReferenceImageUploaded(
                    referenceImageID: UUID(), userID: bo, sessionID: anasSession, gcpBucketPath: "p", gcpURL: "u"
                )))
            }
            try await expectRejection(media, "email ANA@example.com is already registered to user \(ana.text)") {
                _ = try await media.user("ANA@example.com")
            }
            try await expectRejection(media, "must be non-empty and contain @") { _ = try await media.user("nobody") }
            try await expectRejection(media, "number_of_shots 17") { _ = try await media.job(of: ana, shots: 17) }
            let ghost = UUID()
            try await expectRejection(media, "user \(ghost.text) does not exist") { _ = try await media.session(of: ghost) }
            try await expectRejection(media, "frame \(ghost.text) does not exist") { _ = try await media.job(of: ana, frame: ghost) }
        }
    }

    @Test("racing writers can never both pass a status check: exactly one start of a pending job lands")
    func racingStatusCheck() async throws {
        try await withMediaStore { media in
            let user = try await media.user()
            let job = try await media.job(of: user)
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<12 {
                    group.addTask { (try? await media.append(.generationJobStarted(GenerationJobStarted(jobID: job)))) != nil }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
        }
    }
}
