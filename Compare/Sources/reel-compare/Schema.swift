// The relational designs Reel replaces, as DDL for PostgreSQL 15 and for SQLite (Compare/README.md, "The designs").
//
// Schema studio holds three of them. The sessions design: users, their image-generation sessions (with the thumbnail
// URL, image count and update time its triggers keep), reference_images, generation_jobs, the
// generation_job_reference_images junction (with a position, so a job's reference images keep their order) and
// generated_images. The frames design: frames (one per shot and frame type, with its status, its approved job and
// the frame it regenerates) and the jobs' frame_id, so generation_jobs is one table for both designs. The stories
// design: stories, a tree of scenelets, and shots keyed by their scenelet (scenelet_ref, a UUID foreign key) with the
// scenelet's depth-first display id (scenelet_id) and sequence (scenelet_sequence).
// Schema content holds the projects design: content_creation_requests with the old generated_output JSONB document of
// images by scene, and the generated_images table that replaced it, one row per image, unique on
// (content_creation_request_id, scene_index, image_index).
// Every foreign key is indexed.

enum Schema {
    static let postgres = """
    DROP SCHEMA IF EXISTS studio CASCADE;
    DROP SCHEMA IF EXISTS content CASCADE;
    CREATE SCHEMA studio;
    CREATE SCHEMA content;

    CREATE TABLE studio.users (
      id uuid PRIMARY KEY,
      email text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE studio.sessions (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES studio.users(id) ON DELETE CASCADE,
      title text,
      thumbnail_url text,
      generated_count integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX idx_sessions_user_id ON studio.sessions(user_id);
    CREATE INDEX idx_sessions_created_at ON studio.sessions(created_at);
    CREATE TABLE studio.reference_images (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES studio.users(id) ON DELETE CASCADE,
      session_id uuid REFERENCES studio.sessions(id) ON DELETE SET NULL,
      gcp_bucket_path text NOT NULL,
      gcp_url text NOT NULL,
      filename text,
      uploaded_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX idx_reference_images_user_id ON studio.reference_images(user_id);
    CREATE INDEX idx_reference_images_session_id ON studio.reference_images(session_id);
    CREATE TABLE studio.stories (
      id uuid PRIMARY KEY,
      user_id uuid REFERENCES studio.users(id) ON DELETE SET NULL,
      title text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX idx_stories_user_id ON studio.stories(user_id);
    CREATE TABLE studio.scenelets (
      id uuid PRIMARY KEY,
      story_id uuid NOT NULL REFERENCES studio.stories(id) ON DELETE CASCADE,
      parent_id uuid REFERENCES studio.scenelets(id) ON DELETE CASCADE,
      content jsonb NOT NULL,
      is_branch_point boolean NOT NULL DEFAULT false,
      choice_prompt text,
      end_frame_id uuid,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX idx_scenelets_story_id ON studio.scenelets(story_id);
    CREATE INDEX idx_scenelets_parent_id ON studio.scenelets(parent_id);
    CREATE TABLE studio.shots (
      id uuid PRIMARY KEY,
      story_id uuid NOT NULL REFERENCES studio.stories(id) ON DELETE CASCADE,
      scenelet_ref uuid NOT NULL REFERENCES studio.scenelets(id) ON DELETE CASCADE,
      scenelet_id text NOT NULL,
      scenelet_sequence integer NOT NULL,
      shot_index integer NOT NULL,
      storyboard_payload jsonb,
      key_frame_image_path text,
      audio_file_path text,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (story_id, scenelet_id, shot_index)
    );
    CREATE INDEX shots_scenelet_ref_idx ON studio.shots(scenelet_ref);
    CREATE TABLE studio.frames (
      id uuid PRIMARY KEY,
      shot_id uuid NOT NULL REFERENCES studio.shots(id) ON DELETE CASCADE,
      frame_type text NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
      current_job_id uuid,
      previous_frame_id uuid REFERENCES studio.frames(id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (shot_id, frame_type)
    );
    CREATE INDEX idx_frames_previous_frame_id ON studio.frames(previous_frame_id);
    ALTER TABLE studio.scenelets ADD CONSTRAINT fk_scenelets_end_frame
      FOREIGN KEY (end_frame_id) REFERENCES studio.frames(id) ON DELETE SET NULL;
    CREATE INDEX idx_scenelets_end_frame_id ON studio.scenelets(end_frame_id);
    CREATE TABLE studio.generation_jobs (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES studio.users(id) ON DELETE CASCADE,
      session_id uuid REFERENCES studio.sessions(id) ON DELETE SET NULL,
      frame_id uuid REFERENCES studio.frames(id) ON DELETE SET NULL,
      prompt text NOT NULL,
      generated_prompt text,
      shot_type text,
      camera_angle text,
      style text,
      location text,
      lighting text,
      weather text,
      aspect_ratio text,
      number_of_shots integer NOT NULL DEFAULT 1 CHECK (number_of_shots BETWEEN 1 AND 16),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
      error_message text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      completed_at timestamptz
    );
    CREATE INDEX idx_generation_jobs_user_id ON studio.generation_jobs(user_id);
    CREATE INDEX idx_generation_jobs_session_id ON studio.generation_jobs(session_id);
    CREATE INDEX idx_image_jobs_frame ON studio.generation_jobs(frame_id);
    CREATE INDEX idx_generation_jobs_status ON studio.generation_jobs(status);
    CREATE INDEX idx_generation_jobs_created_at ON studio.generation_jobs(created_at);
    ALTER TABLE studio.frames ADD CONSTRAINT fk_frames_current_job
      FOREIGN KEY (current_job_id) REFERENCES studio.generation_jobs(id) ON DELETE SET NULL;
    CREATE INDEX idx_frames_current_job_id ON studio.frames(current_job_id);
    CREATE TABLE studio.generation_job_reference_images (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      generation_job_id uuid NOT NULL REFERENCES studio.generation_jobs(id) ON DELETE CASCADE,
      reference_image_id uuid NOT NULL REFERENCES studio.reference_images(id) ON DELETE CASCADE,
      position integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (generation_job_id, reference_image_id)
    );
    CREATE INDEX idx_gjri_reference_image_id ON studio.generation_job_reference_images(reference_image_id);
    CREATE TABLE studio.generated_images (
      id uuid PRIMARY KEY,
      generation_job_id uuid NOT NULL REFERENCES studio.generation_jobs(id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES studio.users(id) ON DELETE CASCADE,
      session_id uuid REFERENCES studio.sessions(id) ON DELETE SET NULL,
      gcp_bucket_path text NOT NULL,
      gcp_url text NOT NULL,
      thumbnail_url text,
      generation_index integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX idx_generated_images_generation_job_id ON studio.generated_images(generation_job_id);
    CREATE INDEX idx_generated_images_user_id ON studio.generated_images(user_id);
    CREATE INDEX idx_generated_images_session_id ON studio.generated_images(session_id);

    CREATE TABLE content.content_creation_requests (
      id uuid PRIMARY KEY,
      user_id uuid,
      title text,
      generated_output jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE content.generated_images (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      content_creation_request_id uuid NOT NULL REFERENCES content.content_creation_requests(id) ON DELETE CASCADE,
      scene_index integer NOT NULL,
      image_url text NOT NULL,
      image_index integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (content_creation_request_id, scene_index, image_index)
    );
    """

    /// The same designs for SQLite: uuid and timestamptz as TEXT (canonical lower-case UUIDs, fixed-width times, so
    /// they compare as the PostgreSQL types do), jsonb as TEXT, booleans as INTEGER. The projects design's tables
    /// live in an attached database named `content`, as the PostgreSQL schema of that name holds them.
    static let sqliteStudio = """
    CREATE TABLE users (
      id TEXT PRIMARY KEY,
      email TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
      id TEXT PRIMARY KEY,
      user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      title TEXT,
      thumbnail_url TEXT,
      generated_count INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    );
    CREATE INDEX idx_sessions_user_id ON sessions(user_id);
    CREATE INDEX idx_sessions_created_at ON sessions(created_at);
    CREATE TABLE reference_images (
      id TEXT PRIMARY KEY,
      user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      session_id TEXT REFERENCES sessions(id) ON DELETE SET NULL,
      gcp_bucket_path TEXT NOT NULL,
      gcp_url TEXT NOT NULL,
      filename TEXT,
      uploaded_at TEXT NOT NULL
    );
    CREATE INDEX idx_reference_images_user_id ON reference_images(user_id);
    CREATE INDEX idx_reference_images_session_id ON reference_images(session_id);
    CREATE TABLE stories (
      id TEXT PRIMARY KEY,
      user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
      title TEXT NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE INDEX idx_stories_user_id ON stories(user_id);
    CREATE TABLE scenelets (
      id TEXT PRIMARY KEY,
      story_id TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
      parent_id TEXT REFERENCES scenelets(id) ON DELETE CASCADE,
      content TEXT NOT NULL,
      is_branch_point INTEGER NOT NULL DEFAULT 0,
      choice_prompt TEXT,
      end_frame_id TEXT REFERENCES frames(id) ON DELETE SET NULL,
      created_at TEXT NOT NULL
    );
    CREATE INDEX idx_scenelets_story_id ON scenelets(story_id);
    CREATE INDEX idx_scenelets_parent_id ON scenelets(parent_id);
    CREATE INDEX idx_scenelets_end_frame_id ON scenelets(end_frame_id);
    CREATE TABLE shots (
      id TEXT PRIMARY KEY,
      story_id TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
      scenelet_ref TEXT NOT NULL REFERENCES scenelets(id) ON DELETE CASCADE,
      scenelet_id TEXT NOT NULL,
      scenelet_sequence INTEGER NOT NULL,
      shot_index INTEGER NOT NULL,
      storyboard_payload TEXT,
      key_frame_image_path TEXT,
      audio_file_path TEXT,
      created_at TEXT NOT NULL,
      UNIQUE (story_id, scenelet_id, shot_index)
    );
    CREATE INDEX shots_scenelet_ref_idx ON shots(scenelet_ref);
    CREATE TABLE frames (
      id TEXT PRIMARY KEY,
      shot_id TEXT NOT NULL REFERENCES shots(id) ON DELETE CASCADE,
      frame_type TEXT NOT NULL,
      status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
      current_job_id TEXT REFERENCES generation_jobs(id) ON DELETE SET NULL,
      previous_frame_id TEXT REFERENCES frames(id) ON DELETE SET NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      UNIQUE (shot_id, frame_type)
    );
    CREATE INDEX idx_frames_previous_frame_id ON frames(previous_frame_id);
    CREATE INDEX idx_frames_current_job_id ON frames(current_job_id);
    CREATE TABLE generation_jobs (
      id TEXT PRIMARY KEY,
      user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      session_id TEXT REFERENCES sessions(id) ON DELETE SET NULL,
      frame_id TEXT REFERENCES frames(id) ON DELETE SET NULL,
      prompt TEXT NOT NULL,
      generated_prompt TEXT,
      shot_type TEXT,
      camera_angle TEXT,
      style TEXT,
      location TEXT,
      lighting TEXT,
      weather TEXT,
      aspect_ratio TEXT,
      number_of_shots INTEGER NOT NULL DEFAULT 1 CHECK (number_of_shots BETWEEN 1 AND 16),
      status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
      error_message TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      started_at TEXT,
      completed_at TEXT
    );
    CREATE INDEX idx_generation_jobs_user_id ON generation_jobs(user_id);
    CREATE INDEX idx_generation_jobs_session_id ON generation_jobs(session_id);
    CREATE INDEX idx_image_jobs_frame ON generation_jobs(frame_id);
    CREATE INDEX idx_generation_jobs_status ON generation_jobs(status);
    CREATE INDEX idx_generation_jobs_created_at ON generation_jobs(created_at);
    CREATE TABLE generation_job_reference_images (
      id INTEGER PRIMARY KEY,
      generation_job_id TEXT NOT NULL REFERENCES generation_jobs(id) ON DELETE CASCADE,
      reference_image_id TEXT NOT NULL REFERENCES reference_images(id) ON DELETE CASCADE,
      position INTEGER NOT NULL,
      created_at TEXT NOT NULL,
      UNIQUE (generation_job_id, reference_image_id)
    );
    CREATE INDEX idx_gjri_reference_image_id ON generation_job_reference_images(reference_image_id);
    CREATE TABLE generated_images (
      id TEXT PRIMARY KEY,
      generation_job_id TEXT NOT NULL REFERENCES generation_jobs(id) ON DELETE CASCADE,
      user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
      session_id TEXT REFERENCES sessions(id) ON DELETE SET NULL,
      gcp_bucket_path TEXT NOT NULL,
      gcp_url TEXT NOT NULL,
      thumbnail_url TEXT,
      generation_index INTEGER NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE INDEX idx_generated_images_generation_job_id ON generated_images(generation_job_id);
    CREATE INDEX idx_generated_images_user_id ON generated_images(user_id);
    CREATE INDEX idx_generated_images_session_id ON generated_images(session_id);
    """

    static let sqliteContent = """
    CREATE TABLE content.content_creation_requests (
      id TEXT PRIMARY KEY,
      user_id TEXT,
      title TEXT,
      generated_output TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    );
    CREATE TABLE content.generated_images (
      id TEXT PRIMARY KEY,
      content_creation_request_id TEXT NOT NULL REFERENCES content_creation_requests(id) ON DELETE CASCADE,
      scene_index INTEGER NOT NULL,
      image_url TEXT NOT NULL,
      image_index INTEGER NOT NULL DEFAULT 0,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      UNIQUE (content_creation_request_id, scene_index, image_index)
    );
    """
}
