import Foundation

/// A realistic production as NDJSON input lines, with fresh ids: two users, sessions with reference images and
/// generation jobs (completed, pending, failed, processing) and their images; a project whose scene images are saved,
/// replaced and cleared; a branching story with scenelets, shots and frames, jobs generated for a frame, an approval.
///
/// Every line is valid and appends in order; ``expected`` documents what each query must answer afterwards.
struct Production {
    let alice = uuid(), bob = uuid()
    let lighthouseSession = uuid(), harborSession = uuid()
    let sketchReference = uuid(), paletteReference = uuid()
    let stormJob = uuid(), harborJob = uuid(), portraitJob = uuid(), closeUpJob = uuid()
    let stormImage1 = uuid(), stormImage2 = uuid(), stormImage3 = uuid(), closeUpImage = uuid()
    let project = uuid()
    let story = uuid()
    let root = uuid(), lamp = uuid(), cellar = uuid(), lens = uuid()
    let cellarShot = uuid(), lampWideShot = uuid(), lampDollyShot = uuid()
    let keyFrame = uuid(), endFrame = uuid()
    let keyFrameJob = uuid(), keyFrameRetake = uuid()
    let keyFrameImage1 = uuid(), keyFrameImage2 = uuid(), retakeImage = uuid()
    let correlation = uuid()

    func url(_ id: String) -> String { "https://storage.googleapis.com/reel-media/\(id).png" }
    func bucketPath(_ id: String) -> String { "reel-media/\(id).png" }
    func thumbnail(_ id: String) -> String { "https://storage.googleapis.com/reel-media/thumbs/\(id).jpg" }
    let sceneURL0a = "gs://reel-projects/lighthouse/scene-0/a.png"
    let sceneURL0b = "gs://reel-projects/lighthouse/scene-0/b.png"
    let sceneURL1 = "gs://reel-projects/lighthouse/scene-1/a.png"
    let sceneURL2old = "gs://reel-projects/lighthouse/scene-2/draft.png"
    let sceneURL2 = "gs://reel-projects/lighthouse/scene-2/final.png"

    var lines: [String] {
        [
            // Image-generation sessions.
            inputLine("user.registered", ["user_id": .string(alice), "email": "alice@studio.example"]),
            inputLine("user.registered", ["user_id": .string(bob), "email": "bob@studio.example"]),
            inputLine("session.created", ["session_id": .string(lighthouseSession), "user_id": .string(alice), "title": "Lighthouse moodboard"]),
            inputLine("session.created", ["session_id": .string(harborSession), "user_id": .string(alice), "title": "Harbor at dusk"]),
            inputLine("reference_image.uploaded", [
                "reference_image_id": .string(sketchReference), "user_id": .string(alice), "session_id": .string(lighthouseSession),
                "gcp_bucket_path": .string(bucketPath(sketchReference)), "gcp_url": .string(url(sketchReference)),
                "filename": "lighthouse-sketch.png",
            ]),
            inputLine("reference_image.uploaded", [
                "reference_image_id": .string(paletteReference), "user_id": .string(alice),
                "gcp_bucket_path": .string(bucketPath(paletteReference)), "gcp_url": .string(url(paletteReference)),
            ]),
            inputLine("generation_job.created", [
                "job_id": .string(stormJob), "user_id": .string(alice), "session_id": .string(lighthouseSession),
                "prompt": "A lighthouse in a storm, cinematic", "generated_prompt": "A lone lighthouse battered by waves, lightning",
                "shot_type": "wide", "camera_angle": "low angle", "style": "oil painting", "location": "Cornish coast",
                "lighting": "lightning", "weather": "storm", "aspect_ratio": "16:9", "number_of_shots": 3,
                "reference_image_ids": [.string(paletteReference), .string(sketchReference)],
            ], metadata: ["actor": "api-gateway", "correlation_id": .string(correlation)]),
            inputLine("generation_job.started", ["job_id": .string(stormJob)], metadata: ["actor": "worker-7", "causation_id": .string(stormJob)]),
            image(stormImage2, of: stormJob, 2, thumbnail: true),
            image(stormImage1, of: stormJob, 1, thumbnail: true),
            image(stormImage3, of: stormJob, 3, thumbnail: false),
            inputLine("generation_job.completed", ["job_id": .string(stormJob)]),
            inputLine("generation_job.created", [
                "job_id": .string(harborJob), "user_id": .string(alice), "session_id": .string(harborSession), "prompt": "Harbor boats at dusk",
            ]),
            inputLine("generation_job.created", ["job_id": .string(portraitJob), "user_id": .string(bob), "prompt": "Portrait of the keeper"]),
            inputLine("generation_job.started", ["job_id": .string(portraitJob)]),
            inputLine("generation_job.failed", ["job_id": .string(portraitJob), "error": "GPU out of memory"]),
            inputLine("generation_job.created", [
                "job_id": .string(closeUpJob), "user_id": .string(alice), "session_id": .string(lighthouseSession),
                "prompt": "Lighthouse lamp close-up", "number_of_shots": 1,
            ]),
            inputLine("generation_job.started", ["job_id": .string(closeUpJob)]),
            image(closeUpImage, of: closeUpJob, 1, thumbnail: false),
            inputLine("image.deleted", ["image_id": .string(stormImage3)]),
            inputLine("session.renamed", ["session_id": .string(harborSession), "title": "Harbor at dusk (final)"]),

            // Content-creation projects.
            inputLine("project.created", ["project_id": .string(project), "user_id": .string(alice), "title": "Lighthouse trailer"]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 2, "image_index": 0, "image_url": .string(sceneURL2old)]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_index": 1, "image_url": .string(sceneURL0b)]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 0, "image_url": .string(sceneURL0a)]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 1, "image_url": .string(sceneURL1)]),
            inputLine("scene_images.cleared", ["project_id": .string(project), "scene_indexes": [1]]),
            inputLine("scene_image.saved", ["project_id": .string(project), "scene_index": 2, "image_index": 0, "image_url": .string(sceneURL2)]),

            // Stories, scenelets, shots and frames.
            inputLine("story.created", ["story_id": .string(story), "title": "The Lighthouse Keeper", "user_id": .string(alice)]),
            inputLine("scenelet.added", [
                "scenelet_id": .string(root), "story_id": .string(story), "content": ["text": "The keeper climbs the stairs.", "beats": [1, 2]],
                "is_branch_point": true, "choice_prompt": "Up to the lamp, or down to the cellar?",
            ]),
            inputLine("scenelet.added", ["scenelet_id": .string(lamp), "story_id": .string(story), "parent_id": .string(root), "content": ["text": "He reaches the lamp."]]),
            inputLine("scenelet.added", ["scenelet_id": .string(cellar), "story_id": .string(story), "parent_id": .string(root), "content": ["text": "He descends to the cellar."]]),
            inputLine("scenelet.added", ["scenelet_id": .string(lens), "story_id": .string(story), "parent_id": .string(lamp), "content": ["text": "The lens is cracked."]]),
            inputLine("shot.planned", ["shot_id": .string(cellarShot), "scenelet_id": .string(cellar), "shot_index": 1]),
            inputLine("shot.planned", ["shot_id": .string(lampWideShot), "scenelet_id": .string(lamp), "shot_index": 2]),
            inputLine("shot.planned", [
                "shot_id": .string(lampDollyShot), "scenelet_id": .string(lamp), "shot_index": 1,
                "storyboard_payload": ["camera": "dolly in", "duration_s": 4],
            ]),
            inputLine("shot.assets_attached", ["shot_id": .string(lampDollyShot), "key_frame_image_path": "frames/lamp-dolly-key.png", "audio_file_path": "audio/lamp-dolly.mp3"]),
            inputLine("frame.created", ["frame_id": .string(keyFrame), "shot_id": .string(lampDollyShot), "frame_type": "key"]),
            inputLine("frame.created", ["frame_id": .string(endFrame), "shot_id": .string(lampDollyShot), "frame_type": "end", "previous_frame_id": .string(keyFrame)]),
            inputLine("generation_job.created", [
                "job_id": .string(keyFrameJob), "user_id": .string(alice), "frame_id": .string(keyFrame), "prompt": "The keeper at the lamp", "number_of_shots": 2,
            ]),
            inputLine("generation_job.started", ["job_id": .string(keyFrameJob)]),
            image(keyFrameImage2, of: keyFrameJob, 2, thumbnail: false),
            image(keyFrameImage1, of: keyFrameJob, 1, thumbnail: false),
            inputLine("generation_job.completed", ["job_id": .string(keyFrameJob)]),
            inputLine("generation_job.created", [
                "job_id": .string(keyFrameRetake), "user_id": .string(alice), "frame_id": .string(keyFrame), "prompt": "The keeper at the lamp, warmer light",
            ]),
            inputLine("generation_job.started", ["job_id": .string(keyFrameRetake)]),
            image(retakeImage, of: keyFrameRetake, 1, thumbnail: false),
            inputLine("generation_job.completed", ["job_id": .string(keyFrameRetake)]),
            inputLine("frame.approved", ["frame_id": .string(keyFrame), "job_id": .string(keyFrameJob)], metadata: ["actor": "director"]),
            inputLine("scenelet.end_frame_set", ["scenelet_id": .string(lamp), "frame_id": .string(endFrame)]),
        ]
    }

    func image(_ id: String, of job: String, _ index: Int, thumbnail withThumbnail: Bool) -> String {
        var data: [(String, JSON)] = [
            ("image_id", .string(id)), ("job_id", .string(job)), ("generation_index", .int(index)),
            ("gcp_bucket_path", .string(bucketPath(id))), ("gcp_url", .string(url(id))),
        ]
        if withThumbnail { data.append(("thumbnail_url", .string(thumbnail(id)))) }
        return inputLine("image.generated", .object(data))
    }

    var text: String { ndjson(lines) }

    /// Appends the production to a fresh store and checks the summary.
    func appended(to store: String) throws -> Run {
        try reel(["append", "--store", store], input: text)
    }
}
