import Experiments
import JSON

/// One run as a value: everything the API shows about it, and nothing live. A disk
/// store can rebuild it after a restart; the playground makes one from a live run.
public struct RunSnapshot: Sendable, Equatable {
    public var id: String
    public var experiment: String
    /// Fully resolved parameters.
    public var params: JSONObject
    public var status: RunStatus
    public var createdAt: String
    public var startedAt: String?
    public var endedAt: String?
    public var summary: JSONObject?
    /// Events in its trace (recorded so far, for a live run).
    public var eventCount: Int
    /// Bytes of its trace as NDJSON.
    public var bytes: Int
    public var title: String?
    public var description: String?
    public var tags: [String]
    /// Pinned runs are never evicted by retention.
    public var pinned: Bool
    /// Where it came from: `live` (run by this server) or `import`.
    public var origin: String

    public init(id: String, experiment: String, params: JSONObject, status: RunStatus, createdAt: String,
                startedAt: String? = nil, endedAt: String? = nil, summary: JSONObject? = nil,
                eventCount: Int = 0, bytes: Int = 0, title: String? = nil, description: String? = nil,
                tags: [String] = [], pinned: Bool = false, origin: String = "live") {
        self.id = id
        self.experiment = experiment
        self.params = params
        self.status = status
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.summary = summary
        self.eventCount = eventCount
        self.bytes = bytes
        self.title = title
        self.description = description
        self.tags = tags
        self.pinned = pinned
        self.origin = origin
    }
}

/// A note a teacher pins to one event of a run.
public struct RunNote: Sendable, Equatable {
    public var id: Int
    public var run: String
    public var seq: Int
    public var text: String
    public var createdAt: String

    public init(id: Int, run: String, seq: Int, text: String, createdAt: String) {
        self.id = id
        self.run = run
        self.seq = seq
        self.text = text
        self.createdAt = createdAt
    }
}

/// One step of a lesson: a run, the time window to show (µs, `[t0, t1]`), the event
/// to select, and what to say about it.
public struct LessonStep: Sendable, Equatable {
    public var run: String
    public var view: [Int]?
    public var seq: Int?
    public var note: String

    public init(run: String, view: [Int]? = nil, seq: Int? = nil, note: String = "") {
        self.run = run
        self.view = view
        self.seq = seq
        self.note = note
    }
}

/// An ordered walk through recorded runs, to present in class or hand out.
public struct Lesson: Sendable, Equatable {
    public var id: String
    public var title: String
    public var description: String
    public var steps: [LessonStep]
    public var createdAt: String
    public var updatedAt: String

    public init(id: String, title: String, description: String = "", steps: [LessonStep],
                createdAt: String, updatedAt: String) {
        self.id = id
        self.title = title
        self.description = description
        self.steps = steps
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
