import Foundation

/// A query asked about an id that does not exist (an error, not an empty result: an empty one would hide a mistyped id).
public struct UnknownEntity: Error, Sendable, Equatable, CustomStringConvertible {
    public let entity: String
    public let id: UUID
    public var description: String { "\(entity) \(id.text) does not exist" }
}

/// A query result that prints as the JSON object `reel query` prints (docs/QUERIES.md).
///
/// A service returns one as it is: ``jsonData`` is the exact text `reel query` prints, and the result is `Encodable`
/// (as ``json``), for APIs that take an `Encodable` response.
public protocol QueryResult: Sendable, Encodable {
    /// The result as a JSON object, its members in the order `reel query` prints them.
    var json: JSONValue { get }
}

extension QueryResult {
    /// The JSON `reel query` prints for this result, in UTF-8, without the line feed that ends its line: one call from
    /// a query to a response body.
    ///
    /// ```swift
    /// let body = try media.imagesByScene(project: project).jsonData
    /// ```
    public var jsonData: Data { json.jsonData }

    /// Encodes ``json``: the same members and values as ``jsonData``, in the encoder's own text (see
    /// ``JSONValue/encode(to:)``).
    public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }
}

/// Builds a JSON object with members in the order written.
struct ObjectBuilder {
    var object = JSONObject()
    mutating func add(_ key: String, _ value: JSONValue) { object.set(key, value) }
    mutating func add(_ key: String, _ value: String?) { object.set(key, value.map { .string($0) } ?? .null) }
    mutating func add(_ key: String, _ value: Substring?) { object.set(key, value.map { .string(String($0)) } ?? .null) }
    mutating func add(_ key: String, _ value: UUID?) { object.set(key, value.map { .string($0.text) } ?? .null) }
    mutating func add(_ key: String, _ value: Int) { object.set(key, .number(JSONNumber(value))) }
    mutating func add(_ key: String, _ value: Bool) { object.set(key, .bool(value)) }
    mutating func add(_ key: String, time: Int64) { object.set(key, .string(Timestamp.iso8601(time))) }
    mutating func add(_ key: String, json bytes: SharedSlice<UInt8>?) {
        guard let bytes, let value = try? bytes.withUnsafeBufferPointer({ try JSONReader.read(UnsafeRawBufferPointer($0)) }) else {
            object.set(key, .null)
            return
        }
        object.set(key, value)
    }
    var value: JSONValue { .object(object) }
}

/// ISO-8601 UTC with milliseconds, e.g. `2026-11-22T01:02:03.456Z`.
public enum Timestamp {
    public static func iso8601(_ milliseconds: Int64) -> String {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let millis = Int(milliseconds - seconds * 1000)
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }
}

// MARK: Results

/// `images-by-scene`: a project's image URLs, by scene.
public struct ImagesByScene: QueryResult, Equatable {
    public struct Scene: Sendable, Equatable {
        public let sceneIndex: Int
        /// The URLs by `image_index`, slices of one text holding the whole result's URLs (a few allocations for
        /// the whole result, not one per URL and per scene); `String($0)` copies one out.
        public let imageURLs: SharedTexts
    }
    public let projectID: UUID
    public let scenes: [Scene]

    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("project_id", projectID)
        o.add("scenes", .array(scenes.map { scene in
            var s = ObjectBuilder()
            s.add("scene_index", scene.sceneIndex)
            s.add("image_urls", .array(scene.imageURLs.map { .string(String($0)) }))
            return s.value
        }))
        return o.value
    }
}

/// `jobs-by-frame`: a frame's review state and its regeneration history.
public struct JobsByFrame: QueryResult, Equatable {
    public struct Job: Sendable, Equatable {
        public let jobID: UUID
        public let status: JobStatus
        public let createdAt: Int64
    }
    public let frameID: UUID
    public let frameType: String
    public let status: FrameStatus
    public let currentJobID: UUID?
    public let latestCompletedJobID: UUID?
    public let jobs: [Job]

    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("frame_id", frameID)
        o.add("frame_type", frameType)
        o.add("status", status.rawValue)
        o.add("current_job_id", currentJobID)
        o.add("latest_completed_job_id", latestCompletedJobID)
        o.add("jobs", .array(jobs.map { job in
            var j = ObjectBuilder()
            j.add("job_id", job.jobID)
            j.add("status", job.status.rawValue)
            j.add("created_at", time: job.createdAt)
            return j.value
        }))
        return o.value
    }
}

/// `frames-by-shot`.
public struct FramesByShot: QueryResult, Equatable {
    public struct Frame: Sendable, Equatable {
        public let frameID: UUID
        public let frameType: String
        public let status: FrameStatus
        public let currentJobID: UUID?
        public let previousFrameID: UUID?
    }
    public let shotID: UUID
    public let frames: [Frame]

    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("shot_id", shotID)
        o.add("frames", .array(frames.map { frame in
            var f = ObjectBuilder()
            f.add("frame_id", frame.frameID)
            f.add("frame_type", frame.frameType)
            f.add("status", frame.status.rawValue)
            f.add("current_job_id", frame.currentJobID)
            f.add("previous_frame_id", frame.previousFrameID)
            return f.value
        }))
        return o.value
    }
}

/// `story`: the scenelet tree depth-first with derived display ids, and the shots in play order.
public struct StoryView: QueryResult, Equatable {
    public struct Scenelet: Sendable, Equatable {
        public let sceneletID: UUID
        /// `scenelet-N`, N = ``sequence``: the depth-first pre-order number, children in the order they were added.
        public let displayID: String
        public let sequence: Int
        public let parentID: UUID?
        public let isBranchPoint: Bool
        /// A slice of one text holding the result's strings; `String($0)` copies it out.
        public let choicePrompt: Substring?
        /// Canonical JSON of the content object (a slice of one buffer holding the result's variable-length fields).
        public let content: SharedSlice<UInt8>
        public let endFrameID: UUID?
    }
    public struct Shot: Sendable, Equatable {
        public let shotID: UUID
        public let sceneletID: UUID
        public let sceneletDisplayID: String
        public let sceneletSequence: Int
        public let shotIndex: Int
        /// Canonical JSON of the storyboard payload (a slice of one buffer holding the result's variable-length
        /// fields).
        public let storyboardPayload: SharedSlice<UInt8>?
        /// Slices of one text holding the result's strings; `String($0)` copies one out.
        public let keyFrameImagePath: Substring?
        public let audioFilePath: Substring?
    }
    public let storyID: UUID
    public let title: String
    public let scenelets: [Scenelet]
    public let shots: [Shot]

    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("story_id", storyID)
        o.add("title", title)
        o.add("scenelets", .array(scenelets.map(\.json)))
        o.add("shots", .array(shots.map(\.json)))
        return o.value
    }
}

extension StoryView.Scenelet {
    var json: JSONValue {
        var s = ObjectBuilder()
        s.add("scenelet_id", sceneletID)
        s.add("display_id", displayID)
        s.add("sequence", sequence)
        s.add("parent_id", parentID)
        s.add("is_branch_point", isBranchPoint)
        s.add("choice_prompt", choicePrompt)
        s.add("content", json: content)
        s.add("end_frame_id", endFrameID)
        return s.value
    }
}

extension StoryView.Shot {
    var json: JSONValue {
        var s = ObjectBuilder()
        s.add("shot_id", shotID)
        s.add("scenelet_id", sceneletID)
        s.add("scenelet_display_id", sceneletDisplayID)
        s.add("scenelet_sequence", sceneletSequence)
        s.add("shot_index", shotIndex)
        s.add("storyboard_payload", json: storyboardPayload)
        s.add("key_frame_image_path", keyFrameImagePath)
        s.add("audio_file_path", audioFilePath)
        return s.value
    }
}

/// `bundle`: what the player needs — the tree in play order, each shot's assets and each frame's approved image.
public struct PlayerBundle: QueryResult, Equatable {
    public struct Frame: Sendable, Equatable {
        public let frameID: UUID
        public let frameType: String
        public let status: FrameStatus
        /// `gcp_url` of the approved job's first image (lowest generation_index still present), or `nil`.
        public let approvedImageURL: String?
    }
    public struct Shot: Sendable, Equatable {
        public let shot: StoryView.Shot
        public let frames: [Frame]
    }
    public struct Scenelet: Sendable, Equatable {
        public let scenelet: StoryView.Scenelet
        public let shots: [Shot]
    }
    public let storyID: UUID
    public let title: String
    public let scenelets: [Scenelet]

    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("story_id", storyID)
        o.add("title", title)
        o.add("scenelets", .array(scenelets.map { entry in
            guard case var .object(s) = entry.scenelet.json else { return .null }
            s.set("shots", .array(entry.shots.map { shot in
                guard case var .object(j) = shot.shot.json else { return .null }
                j.set("frames", .array(shot.frames.map { frame in
                    var f = ObjectBuilder()
                    f.add("frame_id", frame.frameID)
                    f.add("frame_type", frame.frameType)
                    f.add("status", frame.status.rawValue)
                    f.add("approved_image_url", frame.approvedImageURL)
                    return f.value
                }))
                return .object(j)
            }))
            return .object(s)
        }))
        return o.value
    }
}

/// `sessions`: a user's sessions, most recently updated first.
public struct Sessions: QueryResult, Equatable {
    public struct Session: Sendable, Equatable {
        public let sessionID: UUID
        public let title: String
        /// `gcp_url` of the earliest image still in the session: a slice of one text holding the whole result's
        /// thumbnails; `String($0)` copies it out.
        public let thumbnailURL: Substring?
        /// Images in the session now.
        public let generatedCount: Int
        public let createdAt: Int64
        public let updatedAt: Int64
    }
    public let userID: UUID
    public let sessions: [Session]

    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("user_id", userID)
        o.add("sessions", .array(sessions.map { session in
            var s = ObjectBuilder()
            s.add("session_id", session.sessionID)
            s.add("title", session.title)
            s.add("thumbnail_url", session.thumbnailURL.map(String.init))
            s.add("generated_count", session.generatedCount)
            s.add("created_at", time: session.createdAt)
            s.add("updated_at", time: session.updatedAt)
            return s.value
        }))
        return o.value
    }
}

/// An image as listed by `job` and `session-images`. Its URLs are slices of a text the result's URLs share (see
/// ``JobView``); `String(url)` makes one a string of its own.
public struct ImageSummary: Sendable, Equatable {
    public let imageID: UUID
    public let jobID: UUID
    public let generationIndex: Int
    public let gcpURL: Substring
    public let thumbnailURL: Substring?
    public let createdAt: Int64
}

/// `job`: every parameter, the status, reference image URLs as given and the images. The reference images' URLs and
/// the images' URLs are slices of one text, made with a few allocations for the whole result rather than one per URL.
public struct JobView: QueryResult, Equatable {
    public let job: GenerationJobCreated
    public let numberOfShots: Int
    public let status: JobStatus
    public let error: String?
    public let createdAt: Int64
    public let referenceImageURLs: [Substring]
    public let images: [ImageSummary]

    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("job_id", job.jobID)
        o.add("user_id", job.userID)
        o.add("session_id", job.sessionID)
        o.add("frame_id", job.frameID)
        o.add("prompt", job.prompt)
        o.add("generated_prompt", job.generatedPrompt)
        o.add("shot_type", job.shotType)
        o.add("camera_angle", job.cameraAngle)
        o.add("style", job.style)
        o.add("location", job.location)
        o.add("lighting", job.lighting)
        o.add("weather", job.weather)
        o.add("aspect_ratio", job.aspectRatio)
        o.add("number_of_shots", numberOfShots)
        o.add("status", status.rawValue)
        o.add("error", error)
        o.add("created_at", time: createdAt)
        o.add("reference_image_ids", .array((job.referenceImageIDs ?? []).map { .string($0.text) }))
        o.add("reference_image_urls", .array(referenceImageURLs.map { .string(String($0)) }))
        o.add("images", .array(images.map { image in
            var i = ObjectBuilder()
            i.add("image_id", image.imageID)
            i.add("generation_index", image.generationIndex)
            i.add("gcp_url", image.gcpURL)
            i.add("thumbnail_url", image.thumbnailURL)
            return i.value
        }))
        return o.value
    }
}

/// `session-images`.
public struct SessionImages: QueryResult, Equatable {
    public let sessionID: UUID
    public let images: [ImageSummary]

    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("session_id", sessionID)
        o.add("images", .array(images.map { image in
            var i = ObjectBuilder()
            i.add("image_id", image.imageID)
            i.add("job_id", image.jobID)
            i.add("generation_index", image.generationIndex)
            i.add("gcp_url", image.gcpURL)
            i.add("thumbnail_url", image.thumbnailURL)
            i.add("created_at", time: image.createdAt)
            return i.value
        }))
        return o.value
    }
}

/// `reference-images`: a user's uploads, newest first.
public struct ReferenceImages: QueryResult, Equatable {
    public struct Image: Sendable, Equatable {
        public let referenceImageID: UUID
        public let gcpURL: String
        public let filename: String?
        public let sessionID: UUID?
        public let uploadedAt: Int64
    }
    public let userID: UUID
    public let referenceImages: [Image]

    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("user_id", userID)
        o.add("reference_images", .array(referenceImages.map { image in
            var i = ObjectBuilder()
            i.add("reference_image_id", image.referenceImageID)
            i.add("gcp_url", image.gcpURL)
            i.add("filename", image.filename)
            i.add("session_id", image.sessionID)
            i.add("uploaded_at", time: image.uploadedAt)
            return i.value
        }))
        return o.value
    }
}

/// `jobs --status S`: a work queue, oldest first.
public struct JobQueue: QueryResult, Equatable {
    public struct Job: Sendable, Equatable {
        public let jobID: UUID
        public let userID: UUID
        public let createdAt: Int64
    }
    public let status: JobStatus
    public let jobs: [Job]

    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("status", status.rawValue)
        o.add("jobs", .array(jobs.map { job in
            var j = ObjectBuilder()
            j.add("job_id", job.jobID)
            j.add("user_id", job.userID)
            j.add("created_at", time: job.createdAt)
            return j.value
        }))
        return o.value
    }
}

/// Part of a buffer that a whole query result shares: the values of one field for one entry, indexed from 0 like an
/// array. A query builds its result in a few buffers rather than an array per entry (see `Queries.swift`); copy one
/// out with `Array(slice)`.
public struct SharedSlice<Element>: RandomAccessCollection {
    let base: ArraySlice<Element>

    init(_ base: ArraySlice<Element>) { self.base = base }

    public var startIndex: Int { 0 }
    public var endIndex: Int { base.count }
    public subscript(position: Int) -> Element {
        precondition(position >= 0 && position < base.count, "index out of range")
        return base[base.startIndex + position]
    }

    /// Lends the elements as contiguous storage.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try base.withUnsafeBufferPointer(body)
    }
}

/// Texts that a whole query result shares: one entry's values of one field, indexed from 0 like an array, each a
/// `Substring` of one text holding the values of every entry. The result holds the text and where each value ends;
/// a `Substring` is made when an element is read, so building the result costs a few allocations and no reference
/// count per value. Copy one out with `String(texts[i])`, all of them with `texts.map(String.init)`.
public struct SharedTexts: RandomAccessCollection, Sendable {
    /// The text, and the UTF-8 offset in it at which each value ends (each starts where the one before it ends).
    @usableFromInline
    final class Storage: Sendable {
        @usableFromInline let text: String
        @usableFromInline let ends: [Int]

        init(text: String, ends: [Int]) {
            self.text = text
            self.ends = ends
        }

        /// Value `index` of the text.
        @inlinable
        func value(_ index: Int) -> Substring {
            let start = index == 0 ? 0 : ends[index - 1]
            let utf8 = text.utf8
            let lower = utf8.index(utf8.startIndex, offsetBy: start)
            return Substring(utf8[lower..<utf8.index(lower, offsetBy: ends[index] - start)])
        }
    }

    @usableFromInline let storage: Storage
    /// The values of this entry: indices into `storage.ends`.
    @usableFromInline let values: Range<Int>

    init(_ storage: Storage, _ values: Range<Int>) {
        self.storage = storage
        self.values = values
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { values.count }

    @inlinable
    public subscript(position: Int) -> Substring {
        precondition(position >= 0 && position < values.count, "index out of range")
        return storage.value(values.lowerBound + position)
    }

    /// Reads the values in order.
    public struct Iterator: IteratorProtocol {
        @usableFromInline let storage: Storage
        @usableFromInline var position: Int
        @usableFromInline let end: Int

        @inlinable
        init(storage: Storage, values: Range<Int>) {
            (self.storage, position, end) = (storage, values.lowerBound, values.upperBound)
        }

        @inlinable
        public mutating func next() -> Substring? {
            guard position < end else { return nil }
            defer { position += 1 }
            return storage.value(position)
        }
    }

    @inlinable
    public func makeIterator() -> Iterator { Iterator(storage: storage, values: values) }
}

extension SharedTexts: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: String...) {
        var ends: [Int] = []
        var text = ""
        for element in elements {
            text += element
            ends.append(text.utf8.count)
        }
        self.init(Storage(text: text, ends: ends), 0..<ends.count)
    }
}

extension SharedTexts: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.elementsEqual(rhs) }
}

extension SharedTexts: Hashable {
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for element in self { hasher.combine(element) }
    }
}

extension SharedTexts: CustomStringConvertible, CustomDebugStringConvertible {
    /// As an array of strings prints.
    public var description: String { map(String.init).description }
    public var debugDescription: String { map(String.init).debugDescription }
}

extension SharedSlice: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: Element...) { base = ArraySlice(elements) }
}

extension SharedSlice: Equatable where Element: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.base.elementsEqual(rhs.base) }
}

extension SharedSlice: Hashable where Element: Hashable {
    public func hash(into hasher: inout Hasher) {
        hasher.combine(base.count)
        for element in base { hasher.combine(element) }
    }
}

extension SharedSlice: Sendable where Element: Sendable {}

extension SharedSlice: CustomStringConvertible, CustomDebugStringConvertible {
    /// As an array prints.
    public var description: String { Array(base).description }
    public var debugDescription: String { Array(base).debugDescription }
}
