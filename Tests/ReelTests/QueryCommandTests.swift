import Foundation
import Testing

/// `reel query NAME …` over the realistic ``Production``, run as a real process.
@Suite struct QueryCommandTests {
    /// A fresh store holding the production; the caller removes it.
    private func productionStore() throws -> (Production, String) {
        let store = temporaryStorePath()
        let production = Production()
        let run = try production.appended(to: store)
        try #require(run.status == 0, "\(run)")
        try #require(run.stdout == summary(appended: production.lines.count, lastPosition: production.lines.count), "\(run)")
        return (production, store)
    }

    @Test("images-by-scene: scenes by scene_index, urls by image_index; upserts replace, cleared scenes are left out")
    func imagesByScene() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let view = try query(store, "images-by-scene", ["--project", p.project])
        #expect(view["project_id"] as? String == p.project)
        let scenes = try objects(view["scenes"])
        #expect(scenes.map { $0["scene_index"] as? Int } == [0, 2])
        #expect(scenes.first?["image_urls"] as? [String] == [p.sceneURL0a, p.sceneURL0b])
        #expect(scenes.last?["image_urls"] as? [String] == [p.sceneURL2])
        try expectVerified(store)
    }

    @Test("images-by-scene: clearing with an empty list clears every scene")
    func imagesByScenePlusClearAll() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let run = try append(inputLine("scene_images.cleared", ["project_id": .string(p.project), "scene_indexes": []]) + "\n", to: store)
        #expect(run.status == 0, "\(run)")
        let view = try query(store, "images-by-scene", ["--project", p.project])
        #expect(try objects(view["scenes"]).isEmpty)
        try expectVerified(store)
    }

    @Test("jobs-by-frame: the frame's review state and its regeneration history in creation order")
    func jobsByFrame() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let view = try query(store, "jobs-by-frame", ["--frame", p.keyFrame])
        #expect(view["frame_id"] as? String == p.keyFrame)
        #expect(view["frame_type"] as? String == "key")
        #expect(view["status"] as? String == "approved")
        #expect(view["current_job_id"] as? String == p.keyFrameJob)
        #expect(view["latest_completed_job_id"] as? String == p.keyFrameRetake)
        let jobs = try objects(view["jobs"])
        #expect(jobs.map { $0["job_id"] as? String } == [p.keyFrameJob, p.keyFrameRetake])
        #expect(jobs.map { $0["status"] as? String } == ["completed", "completed"])
        #expect(jobs.allSatisfy { isTimestamp($0["created_at"]) })

        let other = try query(store, "jobs-by-frame", ["--frame", p.endFrame])
        #expect(other["status"] as? String == "pending")
        #expect(isNull(other["current_job_id"]) && isNull(other["latest_completed_job_id"]))
        #expect(try objects(other["jobs"]).isEmpty)
        try expectVerified(store)
    }

    @Test("jobs-by-frame: a rejection wins over an earlier approval and clears current_job_id")
    func jobsByFrameAfterRejection() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let run = try append(inputLine("frame.rejected", ["frame_id": .string(p.keyFrame), "reason": "too dark"]) + "\n", to: store)
        #expect(run.status == 0, "\(run)")
        let view = try query(store, "jobs-by-frame", ["--frame", p.keyFrame])
        #expect(view["status"] as? String == "rejected")
        #expect(isNull(view["current_job_id"]))
        #expect(view["latest_completed_job_id"] as? String == p.keyFrameRetake)
        try expectVerified(store)
    }

    @Test("frames-by-shot: frames in creation order with status, current job and previous frame")
    func framesByShot() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let view = try query(store, "frames-by-shot", ["--shot", p.lampDollyShot])
        #expect(view["shot_id"] as? String == p.lampDollyShot)
        let frames = try objects(view["frames"])
        #expect(frames.map { $0["frame_id"] as? String } == [p.keyFrame, p.endFrame])
        #expect(frames.map { $0["frame_type"] as? String } == ["key", "end"])
        #expect(frames.map { $0["status"] as? String } == ["approved", "pending"])
        #expect(frames.first?["current_job_id"] as? String == p.keyFrameJob)
        #expect(isNull(frames.first?["previous_frame_id"]))
        #expect(isNull(frames.last?["current_job_id"]))
        #expect(frames.last?["previous_frame_id"] as? String == p.keyFrame)

        let empty = try query(store, "frames-by-shot", ["--shot", p.cellarShot])
        #expect(try objects(empty["frames"]).isEmpty)
        try expectVerified(store)
    }

    @Test("story: scenelets depth-first with display ids, shots by (scenelet_sequence, shot_index)")
    func story() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let view = try query(store, "story", ["--story", p.story])
        #expect(view["story_id"] as? String == p.story)
        #expect(view["title"] as? String == "The Lighthouse Keeper")
        let scenelets = try objects(view["scenelets"])
        // root, lamp (first child), lens (lamp's child), cellar (second child).
        #expect(scenelets.map { $0["scenelet_id"] as? String } == [p.root, p.lamp, p.lens, p.cellar])
        #expect(scenelets.map { $0["display_id"] as? String } == ["scenelet-1", "scenelet-2", "scenelet-3", "scenelet-4"])
        #expect(scenelets.map { $0["sequence"] as? Int } == [1, 2, 3, 4])
        #expect(isNull(scenelets[0]["parent_id"]))
        #expect(scenelets.dropFirst().map { $0["parent_id"] as? String } == [p.root, p.lamp, p.root])
        #expect(scenelets.map { $0["is_branch_point"] as? Bool } == [true, false, false, false])
        #expect(scenelets[0]["choice_prompt"] as? String == "Up to the lamp, or down to the cellar?")
        #expect(isNull(scenelets[1]["choice_prompt"]))
        let content = try #require(scenelets[0]["content"] as? [String: Any])
        #expect(content["text"] as? String == "The keeper climbs the stairs.")
        #expect(content["beats"] as? [Int] == [1, 2])
        #expect(scenelets[1]["end_frame_id"] as? String == p.endFrame)
        #expect(isNull(scenelets[0]["end_frame_id"]))

        let shots = try objects(view["shots"])
        #expect(shots.map { $0["shot_id"] as? String } == [p.lampDollyShot, p.lampWideShot, p.cellarShot])
        #expect(shots.map { $0["scenelet_id"] as? String } == [p.lamp, p.lamp, p.cellar])
        #expect(shots.map { $0["scenelet_display_id"] as? String } == ["scenelet-2", "scenelet-2", "scenelet-4"])
        #expect(shots.map { $0["scenelet_sequence"] as? Int } == [2, 2, 4])
        #expect(shots.map { $0["shot_index"] as? Int } == [1, 2, 1])
        let payload = try #require(shots[0]["storyboard_payload"] as? [String: Any])
        #expect(payload["camera"] as? String == "dolly in")
        #expect(payload["duration_s"] as? Int == 4)
        #expect(shots[0]["key_frame_image_path"] as? String == "frames/lamp-dolly-key.png")
        #expect(shots[0]["audio_file_path"] as? String == "audio/lamp-dolly.mp3")
        #expect(isNull(shots[1]["storyboard_payload"]) && isNull(shots[1]["key_frame_image_path"]) && isNull(shots[1]["audio_file_path"]))
        try expectVerified(store)
    }

    @Test("story: removing a scenelet renumbers the ones after it and takes its shots with it")
    func storyAfterRemoval() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let refused = try append(inputLine("scenelet.removed", ["scenelet_id": .string(p.lamp)]) + "\n", to: store)
        #expect(refused.status == 1, "a scenelet with children cannot be removed: \(refused)")
        #expect(refused.stderr.contains("line 1: ") && refused.stderr.contains("child"), "\(refused)")
        let run = try append(inputLine("scenelet.removed", ["scenelet_id": .string(p.lens)]) + "\n", to: store)
        #expect(run.status == 0, "\(run)")
        let view = try query(store, "story", ["--story", p.story])
        let scenelets = try objects(view["scenelets"])
        #expect(scenelets.map { $0["scenelet_id"] as? String } == [p.root, p.lamp, p.cellar])
        #expect(scenelets.map { $0["display_id"] as? String } == ["scenelet-1", "scenelet-2", "scenelet-3"])
        #expect(try objects(view["shots"]).last?["scenelet_display_id"] as? String == "scenelet-3")
        try expectVerified(store)
    }

    @Test("bundle: the tree in play order, each shot's assets and each frame's approved image")
    func bundle() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let view = try query(store, "bundle", ["--story", p.story])
        #expect(view["story_id"] as? String == p.story)
        #expect(view["title"] as? String == "The Lighthouse Keeper")
        let scenelets = try objects(view["scenelets"])
        #expect(scenelets.map { $0["scenelet_id"] as? String } == [p.root, p.lamp, p.lens, p.cellar])
        #expect(scenelets.map { $0["display_id"] as? String } == ["scenelet-1", "scenelet-2", "scenelet-3", "scenelet-4"])
        let shotsPerScenelet = try scenelets.map { try objects($0["shots"]).map { $0["shot_id"] as? String } }
        #expect(shotsPerScenelet == [[], [p.lampDollyShot, p.lampWideShot], [], [p.cellarShot]])

        let dolly = try objects(scenelets[1]["shots"])[0]
        #expect(dolly["key_frame_image_path"] as? String == "frames/lamp-dolly-key.png")
        #expect(dolly["audio_file_path"] as? String == "audio/lamp-dolly.mp3")
        #expect(dolly["shot_index"] as? Int == 1)
        let frames = try objects(dolly["frames"])
        #expect(frames.map { $0["frame_id"] as? String } == [p.keyFrame, p.endFrame])
        #expect(frames.map { $0["status"] as? String } == ["approved", "pending"])
        // The approved job's first image: generation_index 1, though index 2 was generated first.
        #expect(frames[0]["approved_image_url"] as? String == p.url(p.keyFrameImage1))
        #expect(isNull(frames[1]["approved_image_url"]))
        #expect(try objects(try objects(scenelets[1]["shots"])[1]["frames"]).isEmpty)
        try expectVerified(store)
    }

    @Test("sessions: most recently updated first, thumbnail = earliest image still there, count = images now")
    func sessions() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let view = try query(store, "sessions", ["--user", p.alice])
        #expect(view["user_id"] as? String == p.alice)
        let sessions = try objects(view["sessions"])
        // The harbor session was renamed last; the lighthouse one was last touched by the image deletion before that.
        #expect(sessions.map { $0["session_id"] as? String } == [p.harborSession, p.lighthouseSession])
        #expect(sessions.map { $0["title"] as? String } == ["Harbor at dusk (final)", "Lighthouse moodboard"])
        #expect(isNull(sessions[0]["thumbnail_url"]))
        #expect(sessions[0]["generated_count"] as? Int == 0)
        // storm image 2 was generated first; image 3 (deleted) no longer counts.
        #expect(sessions[1]["thumbnail_url"] as? String == p.url(p.stormImage2))
        #expect(sessions[1]["generated_count"] as? Int == 3)
        #expect(sessions.allSatisfy { isTimestamp($0["created_at"]) && isTimestamp($0["updated_at"]) })
        for session in sessions {
            let created = try #require(session["created_at"] as? String), updated = try #require(session["updated_at"] as? String)
            #expect(created <= updated)
        }
        let bob = try query(store, "sessions", ["--user", p.bob])
        #expect(try objects(bob["sessions"]).isEmpty)

        // A new image in the lighthouse session brings it to the top.
        let job = uuid()
        let more = try append(ndjson([
            inputLine("generation_job.created", ["job_id": .string(job), "user_id": .string(p.alice), "session_id": .string(p.lighthouseSession), "prompt": "again"]),
            inputLine("generation_job.started", ["job_id": .string(job)]),
            inputLine("image.generated", ["image_id": .string(uuid()), "job_id": .string(job), "generation_index": 1, "gcp_bucket_path": "b", "gcp_url": "u"]),
        ]), to: store)
        #expect(more.status == 0, "\(more)")
        let after = try objects(try query(store, "sessions", ["--user", p.alice])["sessions"])
        #expect(after.map { $0["session_id"] as? String } == [p.lighthouseSession, p.harborSession])
        #expect(after[0]["generated_count"] as? Int == 4)
        #expect(after[0]["thumbnail_url"] as? String == p.url(p.stormImage2))
        try expectVerified(store)
    }

    @Test("job: every parameter, status, reference image urls as given, images by generation_index")
    func job() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let view = try query(store, "job", ["--job", p.stormJob])
        #expect(view["job_id"] as? String == p.stormJob)
        #expect(view["user_id"] as? String == p.alice)
        #expect(view["session_id"] as? String == p.lighthouseSession)
        #expect(isNull(view["frame_id"]))
        #expect(view["prompt"] as? String == "A lighthouse in a storm, cinematic")
        #expect(view["generated_prompt"] as? String == "A lone lighthouse battered by waves, lightning")
        #expect(view["shot_type"] as? String == "wide")
        #expect(view["camera_angle"] as? String == "low angle")
        #expect(view["style"] as? String == "oil painting")
        #expect(view["location"] as? String == "Cornish coast")
        #expect(view["lighting"] as? String == "lightning")
        #expect(view["weather"] as? String == "storm")
        #expect(view["aspect_ratio"] as? String == "16:9")
        #expect(view["number_of_shots"] as? Int == 3)
        #expect(view["status"] as? String == "completed")
        #expect(isNull(view["error"]))
        #expect(view["reference_image_urls"] as? [String] == [p.url(p.paletteReference), p.url(p.sketchReference)])
        let images = try objects(view["images"])
        #expect(images.map { $0["image_id"] as? String } == [p.stormImage1, p.stormImage2], "image 3 was deleted")
        #expect(images.map { $0["generation_index"] as? Int } == [1, 2])
        #expect(images.map { $0["gcp_url"] as? String } == [p.url(p.stormImage1), p.url(p.stormImage2)])
        #expect(images.map { $0["thumbnail_url"] as? String } == [p.thumbnail(p.stormImage1), p.thumbnail(p.stormImage2)])

        let failed = try query(store, "job", ["--job", p.portraitJob])
        #expect(failed["status"] as? String == "failed")
        #expect(failed["error"] as? String == "GPU out of memory")
        #expect(isNull(failed["session_id"]) && isNull(failed["style"]))
        #expect(failed["number_of_shots"] as? Int == 1)
        #expect(failed["reference_image_urls"] as? [String] == [])
        #expect(try objects(failed["images"]).isEmpty)

        let forFrame = try query(store, "job", ["--job", p.keyFrameJob])
        #expect(forFrame["frame_id"] as? String == p.keyFrame)
        #expect(try objects(forFrame["images"]).map { $0["image_id"] as? String } == [p.keyFrameImage1, p.keyFrameImage2])
        #expect(try objects(forFrame["images"]).allSatisfy { isNull($0["thumbnail_url"]) })
        try expectVerified(store)
    }

    @Test("session-images: by generation_index, then created_at")
    func sessionImages() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let view = try query(store, "session-images", ["--session", p.lighthouseSession])
        #expect(view["session_id"] as? String == p.lighthouseSession)
        let images = try objects(view["images"])
        #expect(images.map { $0["image_id"] as? String } == [p.stormImage1, p.closeUpImage, p.stormImage2])
        #expect(images.map { $0["job_id"] as? String } == [p.stormJob, p.closeUpJob, p.stormJob])
        #expect(images.map { $0["generation_index"] as? Int } == [1, 1, 2])
        #expect(images.map { $0["gcp_url"] as? String } == [p.url(p.stormImage1), p.url(p.closeUpImage), p.url(p.stormImage2)])
        #expect(images[0]["thumbnail_url"] as? String == p.thumbnail(p.stormImage1))
        #expect(isNull(images[1]["thumbnail_url"]))
        #expect(images.allSatisfy { isTimestamp($0["created_at"]) })

        let harbor = try query(store, "session-images", ["--session", p.harborSession])
        #expect(try objects(harbor["images"]).isEmpty)
        try expectVerified(store)
    }

    @Test("reference-images: newest first")
    func referenceImages() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let view = try query(store, "reference-images", ["--user", p.alice])
        #expect(view["user_id"] as? String == p.alice)
        let images = try objects(view["reference_images"])
        #expect(images.map { $0["reference_image_id"] as? String } == [p.paletteReference, p.sketchReference])
        #expect(images.map { $0["gcp_url"] as? String } == [p.url(p.paletteReference), p.url(p.sketchReference)])
        #expect(isNull(images[0]["filename"]) && isNull(images[0]["session_id"]))
        #expect(images[1]["filename"] as? String == "lighthouse-sketch.png")
        #expect(images[1]["session_id"] as? String == p.lighthouseSession)
        #expect(images.allSatisfy { isTimestamp($0["uploaded_at"]) })
        #expect(try objects(try query(store, "reference-images", ["--user", p.bob])["reference_images"]).isEmpty)
        try expectVerified(store)
    }

    @Test("jobs: a work queue per status, oldest first, with --limit")
    func jobs() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        func ids(_ arguments: [String]) throws -> [String?] {
            let view = try query(store, "jobs", arguments)
            #expect(view["status"] as? String == arguments[1])
            let jobs = try objects(view["jobs"])
            #expect(jobs.allSatisfy { isTimestamp($0["created_at"]) && $0["user_id"] is String })
            return jobs.map { $0["job_id"] as? String }
        }
        #expect(try ids(["--status", "pending"]) == [p.harborJob])
        #expect(try ids(["--status", "processing"]) == [p.closeUpJob])
        #expect(try ids(["--status", "completed"]) == [p.stormJob, p.keyFrameJob, p.keyFrameRetake])
        #expect(try ids(["--status", "failed"]) == [p.portraitJob])
        #expect(try ids(["--status", "completed", "--limit", "2"]) == [p.stormJob, p.keyFrameJob])
        #expect(try ids(["--status", "completed", "--limit", "0"]) == [])
        let failed = try objects(try query(store, "jobs", ["--status", "failed"])["jobs"])
        #expect(failed.first?["user_id"] as? String == p.bob)

        // Starting the pending job moves it to the processing queue, behind the older one.
        let run = try append(inputLine("generation_job.started", ["job_id": .string(p.harborJob)]) + "\n", to: store)
        #expect(run.status == 0, "\(run)")
        #expect(try ids(["--status", "pending"]) == [])
        #expect(try ids(["--status", "processing"]) == [p.harborJob, p.closeUpJob])
        try expectVerified(store)
    }

    @Test("query times are the recorded_at of the events that set them")
    func timesMatchTheLog() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let user = uuid()
        var lines = [inputLine("user.registered", ["user_id": .string(user), "email": "clock@studio.example"])]
        let jobs = (0..<300).map { _ in uuid() }
        for job in jobs { lines.append(inputLine("generation_job.created", ["job_id": .string(job), "user_id": .string(user), "prompt": "tick"])) }
        #expect(try append(ndjson(lines), to: store).status == 0)
        let recorded = try readAll(store, ["--type", "generation_job.created"]).map { $0["recorded_at"] as? String }
        let queue = try objects(try query(store, "jobs", ["--status", "pending"])["jobs"])
        #expect(queue.map { $0["job_id"] as? String } == jobs)
        #expect(queue.map { $0["created_at"] as? String } == recorded)
        try expectVerified(store)
    }

    @Test("an id that does not exist is an error naming it, exit 1, for every query")
    func unknownIds() throws {
        let (_, store) = try productionStore()
        defer { remove(store) }
        let missing = "00000000-0000-4000-8000-000000000404"
        for (name, option) in [
            ("images-by-scene", "--project"), ("jobs-by-frame", "--frame"), ("frames-by-shot", "--shot"), ("story", "--story"),
            ("bundle", "--story"), ("sessions", "--user"), ("job", "--job"), ("session-images", "--session"), ("reference-images", "--user"),
        ] {
            let run = try reel(["query", name, option, missing, "--store", store])
            #expect(run.status == 1, "\(name): \(run)")
            #expect(run.stdout.isEmpty, "\(name): \(run)")
            #expect(run.stderr.contains(missing) && run.stderr.contains("does not exist"), "\(name): \(run)")
        }
        try expectVerified(store)
    }

    @Test("query ids are accepted in upper case")
    func upperCaseQueryIds() throws {
        let (p, store) = try productionStore()
        defer { remove(store) }
        let view = try query(store, "job", ["--job", p.stormJob.uppercased()])
        #expect(view["job_id"] as? String == p.stormJob)
        try expectVerified(store)
    }
}
