#!/usr/bin/env python3
"""Writes a realistic media production as NDJSON input lines for `reel append`, deterministically.

    tools/make-production.py EVENTS [SEED] > production.ndjson

The mix follows the seeds: users with sessions and reference images (001), generation jobs that start, produce
images, complete or fail, some images deleted (001); projects whose scenes receive images (003); stories with a
branching scenelet tree, shots, frames, jobs per frame and approvals (002, 000). Every line is valid in order.
"""
import json
import random
import sys
import uuid


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
    out = sys.stdout
    count = 0

    def uid():
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def emit(kind, data, **extra):
        nonlocal count
        line = {"type": kind, "data": data}
        line.update(extra)
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
        count += 1

    users = []
    while count < total:
        roll = rng.random()
        if not users or roll < 0.02:
            user = uid()
            users.append(user)
            emit("user.registered", {"user_id": user, "email": f"{user[:8]}@studio.example"})
            session = uid()
            emit("session.created", {"session_id": session, "user_id": user, "title": "Session"})
            refs = []
            for n in range(2):
                ref = uid()
                refs.append(ref)
                emit("reference_image.uploaded", {"reference_image_id": ref, "user_id": user, "session_id": session,
                                                  "gcp_bucket_path": f"uploads/{user}/{n}.jpg", "gcp_url": f"https://cdn/{ref}.jpg"})
            users[-1] = (user, session, refs)
        elif roll < 0.55:
            user, session, refs = rng.choice(users)
            job = uid()
            shots = rng.randint(1, 4)
            emit("generation_job.created", {"job_id": job, "user_id": user, "session_id": session, "prompt": "a lighthouse in a storm",
                                            "style": "painterly", "aspect_ratio": "16:9", "number_of_shots": shots,
                                            "reference_image_ids": refs}, metadata={"actor": "api", "correlation_id": job})
            emit("generation_job.started", {"job_id": job}, metadata={"actor": "worker"})
            images = []
            for index in range(1, shots + 1):
                image = uid()
                images.append(image)
                emit("image.generated", {"image_id": image, "job_id": job, "generation_index": index,
                                         "gcp_bucket_path": f"generated/{job}/{index}.jpg", "gcp_url": f"https://cdn/{image}.jpg",
                                         "thumbnail_url": f"https://cdn/t/{image}.jpg"})
            if rng.random() < 0.1:
                emit("generation_job.failed", {"job_id": job, "error": "worker lost"})
            else:
                emit("generation_job.completed", {"job_id": job})
            if rng.random() < 0.1:
                emit("image.deleted", {"image_id": images[0]})
        elif roll < 0.85:
            project = uid()
            emit("project.created", {"project_id": project, "title": "Trailer"})
            for scene in range(rng.randint(5, 30)):
                for image in range(rng.randint(1, 4)):
                    emit("scene_image.saved", {"project_id": project, "scene_index": scene, "image_index": image,
                                               "image_url": f"https://cdn/p/{project}/{scene}/{image}.png"})
        else:
            user, _, _ = rng.choice(users)
            story = uid()
            emit("story.created", {"story_id": story, "title": "The Lighthouse Keeper", "user_id": user})
            scenelets = []
            for n in range(rng.randint(3, 12)):
                scenelet = uid()
                parent = rng.choice(scenelets) if scenelets else None
                emit("scenelet.added", {"scenelet_id": scenelet, "story_id": story, "parent_id": parent,
                                        "content": {"beat": n, "text": "The keeper climbs the tower"}, "is_branch_point": n % 4 == 1})
                scenelets.append(scenelet)
                shot = uid()
                emit("shot.planned", {"shot_id": shot, "scenelet_id": scenelet, "shot_index": 1, "storyboard_payload": {"camera": "wide"}})
                frame = uid()
                emit("frame.created", {"frame_id": frame, "shot_id": shot, "frame_type": "key"})
                job = uid()
                emit("generation_job.created", {"job_id": job, "user_id": user, "frame_id": frame, "prompt": "keyframe"})
                emit("generation_job.started", {"job_id": job})
                emit("image.generated", {"image_id": uid(), "job_id": job, "generation_index": 1, "gcp_bucket_path": "g", "gcp_url": f"https://cdn/{job}.jpg"})
                emit("generation_job.completed", {"job_id": job})
                emit("frame.approved", {"frame_id": frame, "job_id": job}, metadata={"actor": "reviewer"})
    sys.stderr.write(f"{count} events\n")


if __name__ == "__main__":
    main()
