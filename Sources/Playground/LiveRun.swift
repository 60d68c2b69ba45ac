import Experiments
import JSON
import Store
import Synchronization
import Tracing

/// A run this server is executing (or has just ended and is still writing to the
/// store). It holds the live objects — the execution, its recorder — that no store
/// can rebuild; everything the API shows is its `snapshot`, a value.
public final class LiveRun: Sendable {
    public let id: String
    public let execution: ExperimentRun
    /// Where the run's live event streams wait for its next events.
    public let feed: LiveFeed
    /// The order runs were admitted in: the store writer persists them in this order.
    let ordinal: Int
    private let state: Mutex<RunSnapshot>
    private static let admitted = Atomic<Int>(0)

    /// How much of the trace the store has: events and bytes.
    struct Written {
        var events = 0
        var bytes = 0
        /// A DELETE came while the run was ending: delete it once it is persisted.
        var deleteWhenPersisted = false
        /// The writer has stored the whole trace and the run's final row.
        var sealed = false
    }

    let written = Mutex(Written())

    init(id: String, execution: ExperimentRun) {
        self.id = id
        self.execution = execution
        self.feed = LiveFeed(recorder: execution.recorder)
        self.ordinal = Self.admitted.wrappingAdd(1, ordering: .relaxed).oldValue
        self.state = Mutex(RunSnapshot(id: id, experiment: execution.experiment.id, params: execution.context.params.values,
                                       status: .queued, createdAt: Timestamp.now()))
    }

    public var recorder: TraceRecorder { execution.recorder }
    public var experiment: String { execution.experiment.id }
    public var status: RunStatus { state.withLock { $0.status } }

    /// The run as a value, with the events recorded so far.
    public var snapshot: RunSnapshot {
        var snapshot = state.withLock { $0 }
        snapshot.eventCount = recorder.count
        snapshot.bytes = written.withLock { $0.bytes }
        return snapshot
    }

    func markStarted() {
        state.withLock {
            $0.status = .running
            $0.startedAt = Timestamp.now()
        }
    }

    func markEnded(_ outcome: RunOutcome) {
        state.withLock {
            $0.status = outcome.status
            $0.summary = outcome.summary
            $0.endedAt = Timestamp.now()
        }
    }

    /// Applies an edit of the run's title, description, tags or pinned flag.
    func edit(_ change: (inout RunSnapshot) -> Void) {
        state.withLock { change(&$0) }
    }
}
