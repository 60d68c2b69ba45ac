// Tracing API (see also /work/notes/issue-15.md, "Tracing API"):
//   emit(type, lane:, flow:, fields) -> seq?   record an event from the calling thread; the
//                                               JSONObject form, or the fast path with
//                                               TraceName / TraceFields (no allocation)
//   merge(event) -> seq?                        record an event another process traced
//   read(from:limit:onMore:)                    events as values, from a seq on
//   readEncoded(from:limit:maxBytes:onMore:)    the same events as their canonical NDJSON
//                                               lines, encoded once per run and shared by
//                                               every reader (streams, the disk store)
//   finish(), cost, count, dropped, events
// Every event carries `cpu`, the CPU the emitting thread was on.
//
// How it works. An emit reads the clock, takes a ticket — its `seq` — from one atomic
// counter (a single `lock xadd` on a cache line of its own, no lock), and writes a 64-byte
// record (one cache line) into its own thread's buffer, then publishes it with a release
// store. Nothing is shared between writers but the ticket. The locked add waits for the
// previous record's stores to reach the cache, so each emit prefetches, for writing, the
// line of a record a few emits ahead: without that, back-to-back emits cost about twice
// as much (a cache miss each). Readers merge: under the recorder's lock (which writers never
// take) they pick records from the thread buffers in ticket order, so `seq` comes out
// gapless; a ticket whose writer was preempted before publishing holds the merge there
// until it is published, and later records wait behind it. `ts` is clamped to the last
// merged one on the way out, so it never decreases with seq. Each merged record is
// encoded once into the run's `EncodedLog`, and its buffer space is recycled.
import CSystem
import Glibc
import JSON
import Synchronization

/// The trace of one run. Any number of threads emit into it at once; each event gets
/// the next `seq` and a `ts` that never goes backwards. Subscribers read the history
/// from any point and are woken when more arrives.
public final class TraceRecorder: @unchecked Sendable {
    /// Monotonic nanoseconds at the start of the run: `ts` is measured from here.
    public let startNs: UInt64
    /// Events past this are counted as dropped instead of stored, so a runaway
    /// experiment cannot exhaust the server's memory.
    public let capacity: Int

    /// Hands subscriber wake-ups to another thread (nil: wake them inline).
    public typealias WakeDelivery = @Sendable (@escaping @Sendable () -> Void) -> Void
    private let deliverWake: WakeDelivery?

    /// Tags this recorder in each thread's buffer slot; never reused.
    private let id: UInt64
    /// Some reader waits for more: the next emit hands over one wake-up and clears it.
    private let hasWaiters = Atomic<Bool>(false)

    // The one cache line all writers write: the ticket counter, padded on both sides so
    // the fields every emit reads (above) are not on it. (Stored properties are laid out
    // in declaration order.)
    private let padBefore: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// Tickets handed out; `closed` is set by `finish`.
    private let tickets = Atomic<Int>(0)
    private let padAfter: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    private static let closed = 1 << 62
    /// A merge was requested (a writer filled a chunk) and not yet run.
    private let mergePending = Atomic<Bool>(false)
    private let flowCounter = Atomic<Int>(0)
    private let processID = getpid()
    private static let lastID = Atomic<UInt64>(0)

    private struct State {
        var buffers: [UInt64: ThreadBuffer] = [:]
        var active: [ThreadBuffer] = []
        var log = EncodedLog()
        var lastTs: Int64 = 0
        var finished = false
        /// Tickets issued before `finish` (may exceed capacity: those were dropped).
        var issuedAtFinish = 0
        var waiters: [@Sendable () -> Void] = []
        var names: [[UInt8]] = []
        /// The merged events as records, decoded to values only when read.
        var stored = StoredEvents()
        /// `events`' values, decoded from `stored` on the first call that needs them and
        /// kept, so repeated calls cost a copy-on-write array, not a decode.
        var decoded: [TraceEvent] = []
        /// The interned names, as `decode` last saw them.
        var nameStrings: [String] = []
        /// Names of this recorder's own (`localName`): lanes of other processes, which
        /// would otherwise grow the process-wide table by a name per child process.
        var local = InternedNames()
    }

    private let state = Mutex(State())

    /// With `deliverWake`, an emit that finds subscribers waiting does not wake them
    /// itself — that could mean hundreds of connection resumes on the traced thread —
    /// but asks `deliverWake` to, once per batch: emits while a wake-up is pending cost
    /// nothing extra. It is also how buffers are merged while nobody reads.
    public init(startNs: UInt64 = interleave_monotonic_ns(), capacity: Int = 500_000,
                deliverWake: WakeDelivery? = nil) {
        self.startNs = startNs
        // A record keeps its seq in 32 bits.
        self.capacity = min(capacity, Int(Int32.max))
        self.deliverWake = deliverWake
        self.id = Self.lastID.add(1, ordering: .relaxed).newValue
        #if DEBUG
        self.afterTicket = nil
        #endif
    }

    #if DEBUG
    /// Tests only: runs between an emit taking its ticket and publishing its record —
    /// where a preemption would stop a writer — so a test can hold a writer there.
    let afterTicket: (@Sendable (_ seq: Int) -> Void)?

    init(afterTicket: @escaping @Sendable (_ seq: Int) -> Void) {
        self.startNs = interleave_monotonic_ns()
        self.capacity = 500_000
        self.deliverWake = nil
        self.id = Self.lastID.add(1, ordering: .relaxed).newValue
        self.afterTicket = afterTicket
    }
    #endif

    deinit {
        state.withLock { state in
            mergeLocked(&state)
            for buffer in state.buffers.values { buffer.release() }
        }
    }

    /// A fresh id to put on both ends of a hand-off (`flow`).
    public func nextFlow() -> Int { flowCounter.add(1, ordering: .relaxed).newValue }

    // MARK: emitting

    /// Records an event from the calling thread with a typed payload: no allocation, no
    /// lock. Returns its `seq`, or nil once the trace is finished or full.
    @discardableResult @inline(__always)
    public func emit(_ type: TraceName, lane: TraceName, flow: Int? = nil, _ fields: TraceFields = TraceFields()) -> Int? {
        let entered = interleave_clock_ns()
        let seq = tickets.wrappingAdd(1, ordering: .sequentiallyConsistent).oldValue
        guard seq < capacity else { return nil }
        #if DEBUG
        afterTicket?(seq)
        #endif
        return withBuffer { buffer in
            buffer.append(Record(seq: seq, ns: Int64(bitPattern: entered &- startNs), cpu: interleave_cpu(), type: type.id,
                                 lane: lane.id, flow: flow ?? Record.noFlow, fields: fields))
            published(buffer, entered: entered)
            return seq
        }
    }

    /// Records an event from the calling thread; returns its `seq`, or nil once the
    /// trace is finished or full.
    @discardableResult
    public func emit(_ type: String, lane: String, flow: Int? = nil, _ fields: JSONObject = [:]) -> Int? {
        let entered = interleave_clock_ns()
        let seq = tickets.wrappingAdd(1, ordering: .sequentiallyConsistent).oldValue
        guard seq < capacity else { return nil }
        #if DEBUG
        afterTicket?(seq)
        #endif
        return withBuffer { buffer in
            let slow = SlowEvent(type: type, lane: lane, pid: nil, tid: buffer.tid, fields: fields)
            var payload = TraceFields()
            payload.v0 = Int(bitPattern: Unmanaged.passRetained(slow).toOpaque())
            buffer.append(Record(seq: seq, ns: Int64(bitPattern: entered &- startNs), cpu: interleave_cpu(),
                                 type: Record.slow, lane: 0, flow: flow ?? Record.noFlow, fields: payload))
            published(buffer, entered: entered)
            return seq
        }
    }

    /// Records an event that another process traced (its own pid, tid, cpu and ts on the
    /// shared monotonic clock). It gets this run's next `seq`; its `ts` is raised to the
    /// last one merged if it arrived late, so `ts` stays non-decreasing.
    @discardableResult
    public func merge(_ event: TraceEvent) -> Int? {
        let entered = interleave_clock_ns()
        let seq = tickets.wrappingAdd(1, ordering: .sequentiallyConsistent).oldValue
        guard seq < capacity else { return nil }
        let slow = SlowEvent(type: event.type, lane: event.lane, pid: event.pid, tid: event.tid, fields: event.fields)
        // The ts field holds 47 bits of nanoseconds (±39 hours): plenty for a run.
        let ns = min(max(event.ts, -(1 << 36)), 1 << 36) &* 1000
        return withBuffer { buffer in
            var payload = TraceFields()
            payload.v0 = Int(bitPattern: Unmanaged.passRetained(slow).toOpaque())
            buffer.append(Record(seq: seq, ns: ns, cpu: event.cpu ?? -1, type: Record.slow, lane: 0,
                                 flow: event.flow ?? Record.noFlow, fields: payload))
            published(buffer, entered: entered)
            return seq
        }
    }

    /// Records events another process traced (see `MergedEvent`), in the batch's order:
    /// they take consecutive seqs (the first is returned) with one ticket and one record,
    /// and each is encoded as it is merged. Their `ts` is raised to the last one merged if
    /// it arrived late, so `ts` stays non-decreasing. Events past the capacity are dropped.
    @discardableResult
    public func merge(_ batch: MergeBatch) -> Int? {
        let count = batch.events.count
        guard count > 0 else { return nil }
        let entered = interleave_clock_ns()
        let first = tickets.wrappingAdd(count, ordering: .sequentiallyConsistent).oldValue
        guard first < capacity else { return nil }
        return withBuffer { buffer in
            var payload = TraceFields()
            payload.v0 = Int(bitPattern: Unmanaged.passRetained(batch).toOpaque())
            payload.v1 = min(count, capacity - first)
            buffer.append(Record(seq: first, ns: 0, cpu: -1, type: Record.batch, lane: 0, flow: Record.noFlow,
                                 fields: payload))
            published(buffer, entered: entered)
            return first
        }
    }

    /// An id for `name` that only this recorder knows (for `MergedEvent.lane`): a child
    /// process's lane, which names its pid, is not interned for the whole process.
    public func localName(_ name: String) -> UInt32 {
        state.withLock { Record.localName | UInt32($0.local.index(of: name)) }
    }

    /// The calling thread's buffer for this recorder, found through a thread-local slot.
    @inline(__always)
    private func withBuffer<T>(_ body: (ThreadBuffer) -> T) -> T {
        if let raw = interleave_trace_buffer(id) {
            return Unmanaged<ThreadBuffer>.fromOpaque(raw)._withUnsafeGuaranteedRef(body)
        }
        return body(registerThread())
    }

    @inline(never)
    private func registerThread() -> ThreadBuffer {
        let serial = interleave_thread_serial()
        let buffer = state.withLock { state in
            if let buffer = state.buffers[serial] { return buffer }
            let buffer = ThreadBuffer(capacity: capacity)
            state.buffers[serial] = buffer
            state.active.append(buffer)
            return buffer
        }
        // The recorder keeps the buffer alive; the slot is only trusted while its id matches.
        interleave_set_trace_buffer(id, Unmanaged.passUnretained(buffer).toOpaque())
        return buffer
    }

    /// After a record is published: wake waiting readers (once per batch), and sample
    /// what this emit cost.
    @inline(__always)
    private func published(_ buffer: ThreadBuffer, entered: UInt64) {
        if hasWaiters.load(ordering: .sequentiallyConsistent) { handOverWake() }
        if buffer.published.load(ordering: .relaxed) % RecordChunks.records == 0 { requestMerge() }
        if buffer.shouldSample() { buffer.recordCost(interleave_clock_ns() &- entered) }
    }

    @inline(never)
    private func handOverWake() {
        guard hasWaiters.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged
        else { return }
        if let deliverWake { deliverWake { [self] in wakeWaiters() } } else { wakeWaiters() }
    }

    /// A writer filled a chunk: merge soon, off this thread, so chunks are recycled even
    /// while nobody reads.
    @inline(never)
    private func requestMerge() {
        guard let deliverWake, !mergePending.exchange(true, ordering: .relaxed) else { return }
        deliverWake { [self] in
            mergePending.store(false, ordering: .relaxed)
            RecordChunks.refill()
            state.withLock { mergeLocked(&$0) }
        }
    }

    private func wakeWaiters() {
        let wake = state.withLock { state in
            let wake = state.waiters
            state.waiters.removeAll(keepingCapacity: true)
            return wake
        }
        for waiter in wake { waiter() }
    }

    // MARK: merging

    /// Moves every record that is next in seq order from the thread buffers into the
    /// encoded log. Stops at a ticket whose record is not published yet.
    private func mergeLocked(_ state: inout State) {
        let active = state.active
        guard !active.isEmpty else { return }
        var available = active.map { $0.published.load(ordering: .acquiring) }
        var next = state.log.count
        var last = 0
        var log = EncodedLog()
        swap(&log, &state.log)
        defer { swap(&log, &state.log) }
        var encoder = RecordEncoder(processID: processID, lastTs: state.lastTs, names: state.names, local: state.local.json)
        let stored = state.stored
        defer { (state.lastTs, state.names) = (encoder.lastTs, encoder.names) }
        log.appendLines { line, raw in
            while true {
                // Usually the same thread emitted the next event too.
                var found: (ThreadBuffer, UnsafeMutablePointer<Record>)?
                if let head = active[last].head(available: available[last]), Int(head.pointee.seq) == next {
                    found = (active[last], head)
                } else {
                    for index in active.indices {
                        if let head = active[index].head(available: available[index]), Int(head.pointee.seq) == next {
                            found = (active[index], head)
                            last = index
                            break
                        }
                    }
                }
                guard let (buffer, record) = found else {
                    // Maybe more was published meanwhile: look once more before stopping.
                    let fresh = active.map { $0.published.load(ordering: .acquiring) }
                    if fresh == available { break }
                    available = fresh
                    continue
                }
                if record.pointee.type == Record.batch {
                    // Another process's events: one record, as many seqs as events.
                    let batch = Unmanaged<MergeBatch>.fromOpaque(UnsafeRawPointer(bitPattern: record.pointee.v0)!)
                        .takeRetainedValue()
                    let count = record.pointee.v1
                    for index in 0..<count {
                        let event = batch.events[index]
                        raw(encoder.capacity(event)) { at in
                            var line = RawLineWriter(at)
                            stored.append(encoder.write(event, seq: next + index, text: batch.text, to: &line))
                            return line.count(from: at)
                        }
                    }
                    buffer.advance()
                    next += count
                    continue
                }
                if record.pointee.type == Record.slow {
                    line { writer in stored.append(encoder.write(record.pointee, tid: buffer.tid, to: &writer)) }
                } else {
                    // Typed: written in place, straight into the log's memory.
                    raw(encoder.capacity(record.pointee)) { at in
                        var line = RawLineWriter(at)
                        stored.append(encoder.write(typed: record.pointee, tid: buffer.tid, to: &line))
                        return line.count(from: at)
                    }
                }
                buffer.advance()
                next += 1
            }
        }
    }

    /// Tickets whose records will be merged: issued, below capacity.
    private func issued(_ state: State) -> Int {
        let raw = state.finished ? state.issuedAtFinish : tickets.load(ordering: .sequentiallyConsistent)
        return min(raw & (Self.closed - 1), capacity)
    }

    /// Merges until every ticket issued before `target` is in the log (their writers
    /// are at most preempted between ticket and publish).
    private func mergeThrough(_ target: Int) {
        var spins = 0
        while true {
            let merged = state.withLock { state in
                mergeLocked(&state)
                return state.log.count
            }
            if merged >= target { return }
            spins += 1
            if spins > 100 { usleep(100) } else { sched_yield() }
        }
    }

    // MARK: ending

    /// No more events will be accepted; every subscriber is woken to see the end.
    public func finish() {
        let target = state.withLock { state -> Int in
            guard !state.finished else { return 0 }
            state.issuedAtFinish = tickets.bitwiseOr(Self.closed, ordering: .sequentiallyConsistent).oldValue
            state.finished = true
            return issued(state)
        }
        mergeThrough(target)
        let wake = state.withLock { state in
            for buffer in state.buffers.values { buffer.release() }
            let wake = state.waiters
            state.waiters.removeAll()
            return wake
        }
        for waiter in wake { waiter() }
    }

    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Events merged so far (each in the encoded log).
    public var count: Int {
        state.withLock { state in
            mergeLocked(&state)
            return state.log.count
        }
    }

    public var dropped: Int {
        state.withLock { state in
            let raw = state.finished ? state.issuedAtFinish : tickets.load(ordering: .relaxed)
            return max(0, (raw & (Self.closed - 1)) - capacity)
        }
    }

    /// Every event so far, as values: decoded from the stored records the first time they
    /// are asked for, then kept.
    /// That is every event whose `seq` was taken before the call, not only those merged so
    /// far: a record published by one thread can wait behind an earlier ticket another
    /// thread has not published yet, and a run that reads its own trace after its workers
    /// are done (to count which threads ran its tasks) must see all their events.
    public var events: [TraceEvent] {
        mergeThrough(state.withLock { issued($0) })
        return state.withLock { state in
            mergeLocked(&state)
            let stored = state.stored
            if state.decoded.count < stored.count {
                state.decoded.reserveCapacity(stored.count)
                for index in state.decoded.count..<stored.count {
                    state.decoded.append(stored.decode(index, processID: processID, names: &state.nameStrings,
                                                       lanes: state.local.strings, log: state.log))
                }
            }
            return state.decoded
        }
    }

    /// Microseconds since the run started, for summaries.
    public var elapsedMicros: Int64 { Int64(interleave_monotonic_ns() &- startNs) / 1000 }

    /// What the tracer cost the run: `{events, dropped, nsPerEvent}`. nsPerEvent is the
    /// median cost of one emit as measured on the emitting threads: one emit in 64 (not a
    /// thread's first, which maps its buffer) times itself from its own clock read to a
    /// clock read after its record is published. That span misses part of the emit's own
    /// clock read, which `unmeasuredClockNs` (calibrated once per process) adds back, so
    /// the figure is what an emit costs its thread — the same as `interleave bench`'s
    /// per-event median. See `CostHistogram.median`.
    public var cost: JSONValue {
        let (buffers, stored) = state.withLock { state in (Array(state.buffers.values), issued(state)) }
        var histogram = [Int](repeating: 0, count: CostHistogram.buckets)
        for buffer in buffers {
            for bucket in 0..<CostHistogram.buckets {
                histogram[bucket] += Int(interleave_load_relaxed32(buffer.costs + bucket))
            }
        }
        let samples = histogram.reduce(0, +)
        let median = samples == 0 ? 0 : CostHistogram.median(histogram) + Self.unmeasuredClockNs
        return ["events": .int(stored), "dropped": .int(dropped), "nsPerEvent": .double((median * 10).rounded() / 10)]
    }

    /// The part of one clock read that a span between two clock reads does not cover:
    /// (a span around one clock read) − 2 × (an empty span), by their medians. 0 where a
    /// clock read's cost splits evenly around its reading; about 9 ns on a VM whose clock
    /// ticks in 10 ns steps.
    static let unmeasuredClockNs: Double = {
        var around = [Int](repeating: 0, count: CostHistogram.buckets), empty = around
        var sink: UInt64 = 0
        for _ in 0..<4000 {
            let start = interleave_clock_ns()
            empty[CostHistogram.bucket(interleave_clock_ns() &- start)] += 1
            let before = interleave_clock_ns()
            sink &+= interleave_clock_ns()
            around[CostHistogram.bucket(interleave_clock_ns() &- before)] += 1
        }
        return sink == 0 ? 0 : max(0, CostHistogram.median(around) - 2 * CostHistogram.median(empty))
    }()

    // MARK: reading

    /// Up to `limit` events from `seq` on as their canonical NDJSON lines (and about
    /// `maxBytes` of them, at least one line), and whether the trace has ended after
    /// them. Each event is encoded once per run; every reader gets copies of the same
    /// bytes. If there are none yet and the trace has not ended, `onMore` (when given)
    /// is called once as soon as there are — possibly right away, from this thread.
    public func readEncoded(from seq: Int, limit: Int, maxBytes: Int = 1 << 18,
                            onMore: (@Sendable () -> Void)? = nil) -> EncodedEvents {
        let from = max(seq, 0)
        let (batch, waiting): (EncodedEvents, Bool) = state.withLock { state in
            mergeLocked(&state)
            let (bytes, ends) = state.log.read(from: from, limit: limit, maxBytes: maxBytes)
            let total = state.log.count
            let finished = state.finished && issued(state) == total
            var waiting = false
            if ends.isEmpty, !finished, let onMore {
                state.waiters.append(onMore)
                hasWaiters.store(true, ordering: .sequentiallyConsistent)
                waiting = true
            }
            return (EncodedEvents(from: from, bytes: bytes, lineEnds: ends,
                                  finished: finished && from + ends.count >= total), waiting)
        }
        if waiting { catchUp() }
        return batch
    }

    /// A reader just started waiting. Any ticket taken from now on is seen by its writer's
    /// check of `hasWaiters`; one taken before may have missed it. So while tickets are
    /// outstanding, look again (every couple of ms through `deliverWake`, or a few yields
    /// inline without it), and wake the waiters once more was merged.
    private func catchUp(spinsLeft: Int = 64) {
        let (behind, progressed) = state.withLock { state -> (Bool, Bool) in
            let before = state.log.count
            mergeLocked(&state)
            return (issued(state) > state.log.count, state.log.count > before)
        }
        if progressed {
            if hasWaiters.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged {
                wakeWaiters()
            }
            return
        }
        guard behind, hasWaiters.load(ordering: .sequentiallyConsistent) else { return }
        if let deliverWake {
            deliverWake { [self] in catchUp() }
        } else if spinsLeft > 0 {
            sched_yield()
            catchUp(spinsLeft: spinsLeft - 1)
        }
    }

    /// Up to `limit` events from `seq` on, and whether the trace has ended after them.
    /// If there are none yet and it has not ended, `onMore` (when given) is called
    /// once as soon as there are — possibly right away, from this thread.
    public func read(from seq: Int, limit: Int, onMore: (@Sendable () -> Void)? = nil)
        -> (events: ArraySlice<TraceEvent>, finished: Bool)
    {
        let batch = readEncoded(from: seq, limit: limit, maxBytes: Int.max, onMore: onMore)
        guard !batch.isEmpty else { return ([], batch.finished) }
        let range = batch.from..<(batch.from + batch.count)
        typealias Copied = (stored: StoredEvent, line: EncodedBytes?)
        let (cached, copied, lanes): ([TraceEvent]?, [Copied], [String]) = state.withLock { state in
            if range.upperBound <= state.decoded.count { return (Array(state.decoded[range]), [], []) }
            // Decoded for this reader only, and outside the lock: a reader that follows the
            // run (the sched sampler) neither holds up the merge nor makes the recorder keep
            // a value per event.
            let copied = range.map { index -> Copied in
                let stored = state.stored[index]
                return (stored, stored.text == 0 ? nil : state.log.read(from: index, limit: 1, maxBytes: .max).bytes)
            }
            return (nil, copied, state.local.strings)
        }
        if let cached { return (ArraySlice(cached), batch.finished) }
        var names = NameTable.shared.strings
        let events = zip(range, copied).map { index, item in
            StoredEvents.decode(item.stored, seq: index, processID: processID, names: &names, lanes: lanes, line: item.line)
        }
        return (ArraySlice(events), batch.finished)
    }

}

/// Writes records as their canonical NDJSON lines — the same bytes `TraceEvent.write`
/// gives for the event — clamping `ts` so it never decreases. Typed records and merged
/// events are written in place into the log (`RawLineWriter`, `capacity` bounds the line);
/// `JSONObject` events (`SlowEvent`) through a `JSONWriter`.
struct RecordEncoder {
    let processID: Int32
    var lastTs: Int64
    /// Interned names' JSON bytes; refreshed when a record uses a newer name.
    var names: [[UInt8]]
    /// The recorder's own names' JSON bytes (`TraceRecorder.localName`).
    let local: [[UInt8]]

    /// The envelope's and fields' fixed text, 8 integers of up to 20 characters, 3 keys'
    /// colons and commas: a bound on a typed line besides its names.
    private static let fixedBytes = 100 + 8 * 20 + 3 * 2

    /// The longest line `record` (typed) can make; refreshes the names it needs.
    mutating func capacity(_ record: Record) -> Int {
        let fields = record.fields
        if Int(fields.highestName(type: record.type, lane: record.lane)) >= names.count { names = NameTable.shared.json }
        return Self.fixedBytes + names[Int(record.type)].count + names[Int(record.lane)].count + fieldBytes(fields)
    }

    /// The longest line `event` can make; refreshes the names it needs.
    mutating func capacity(_ event: MergedEvent) -> Int {
        let fields = event.fields
        let local = event.lane & Record.localName != 0
        if Int(fields.highestName(type: event.type.id, lane: local ? 0 : event.lane)) >= names.count {
            names = NameTable.shared.json
        }
        let lane = local ? self.local[Int(event.lane & ~Record.localName)].count : names[Int(event.lane)].count
        return Self.fixedBytes + names[Int(event.type.id)].count + lane + fieldBytes(fields) + event.text.count
    }

    private func fieldBytes(_ fields: TraceFields) -> Int {
        var bytes = 0
        for (key, value) in [(fields.k0, fields.v0), (fields.k1, fields.v1), (fields.k2, fields.v2)] where key != 0 {
            bytes += names[Int(key >> 2)].count + (key & 3 == TraceFields.kindName ? names[value].count : 0)
        }
        return bytes
    }

    /// A slow record (a `JSONObject` event): returns the event as it is to be stored (its
    /// ts clamped; the record keeps its box).
    mutating func write(_ record: Record, tid: Int32, to writer: inout JSONWriter) -> StoredEvent {
        let ts = max(record.ns / 1000, lastTs)
        lastTs = ts
        var kept = record
        kept.nsAndCPU = ts << 16 | (record.nsAndCPU & 0xFFFF)
        let slow = Unmanaged<SlowEvent>.fromOpaque(UnsafeRawPointer(bitPattern: record.v0)!).takeUnretainedValue()
        let event = TraceEvent(seq: Int(record.seq), ts: ts, type: slow.type, lane: slow.lane, pid: slow.pid ?? processID,
                               tid: slow.tid, cpu: record.cpu >= 0 ? record.cpu : nil,
                               flow: record.flow == Record.noFlow ? nil : record.flow, fields: slow.fields)
        event.write(to: &writer)
        writer.bytes.append(0x0A)
        return StoredEvent(record: kept, tid: slow.tid, pid: slow.pid ?? 0)
    }

    /// A typed record, after `capacity(record)`: returns it as it is to be stored (ts clamped).
    mutating func write(typed record: Record, tid: Int32, to line: inout RawLineWriter) -> StoredEvent {
        let ts = max(record.ns / 1000, lastTs)
        lastTs = ts
        var kept = record
        kept.nsAndCPU = ts << 16 | (record.nsAndCPU & 0xFFFF)
        let fields = record.fields
        writeEnvelope(seq: Int(record.seq), ts: ts, type: names[Int(record.type)], lane: names[Int(record.lane)],
                      pid: processID, tid: tid, cpu: record.cpu, flow: record.flow, to: &line)
        writeField(fields.k0, fields.v0, to: &line)
        writeField(fields.k1, fields.v1, to: &line)
        writeField(fields.k2, fields.v2, to: &line)
        line.put("}\n")
        return StoredEvent(record: kept, tid: tid, pid: 0)
    }

    /// Another process's event with `seq` (its ts clamped), after `capacity(event)`, as
    /// `TraceEvent.write` would write it.
    mutating func write(_ event: MergedEvent, seq: Int, text: [UInt8], to line: inout RawLineWriter) -> StoredEvent {
        let ts = max(event.ts, lastTs)
        lastTs = ts
        let fields = event.fields
        let local = event.lane & Record.localName != 0
        let start = line.at
        writeEnvelope(seq: seq, ts: ts, type: names[Int(event.type.id)],
                      lane: local ? self.local[Int(event.lane & ~Record.localName)] : names[Int(event.lane)],
                      pid: event.pid, tid: event.tid, cpu: event.cpu, flow: event.flow ?? Record.noFlow, to: &line)
        var textStart: UInt32 = 0
        if event.text.isEmpty {
            writeField(fields.k0, fields.v0, to: &line)
            writeField(fields.k1, fields.v1, to: &line)
            writeField(fields.k2, fields.v2, to: &line)
        } else {
            textStart = UInt32(line.at - start)
            text.withUnsafeBufferPointer { line.put(UnsafeBufferPointer(rebasing: $0[event.text])) }
        }
        line.put("}\n")
        // Kept with its ts (microseconds) where a record holds nanoseconds.
        let record = Record(seq: seq, ns: ts, cpu: event.cpu, type: event.type.id, lane: event.lane,
                            flow: event.flow ?? Record.noFlow, fields: event.text.isEmpty ? fields : TraceFields())
        return StoredEvent(record: record, tid: event.tid, pid: event.pid, text: textStart)
    }

    @inline(__always)
    private func writeEnvelope(seq: Int, ts: Int64, type: [UInt8], lane: [UInt8], pid: Int32, tid: Int32, cpu: Int32,
                               flow: Int, to line: inout RawLineWriter) {
        line.put("{\"seq\":")
        line.put(seq)
        line.put(",\"ts\":")
        line.put(Int(ts))
        line.put(",\"type\":")
        line.put(type)
        line.put(",\"lane\":")
        line.put(lane)
        line.put(",\"pid\":")
        line.put(Int(pid))
        line.put(",\"tid\":")
        line.put(Int(tid))
        if cpu >= 0 {
            line.put(",\"cpu\":")
            line.put(Int(cpu))
        }
        if flow != Record.noFlow {
            line.put(",\"flow\":")
            line.put(flow)
        }
    }

    @inline(__always)
    private func writeField(_ key: UInt32, _ value: Int, to line: inout RawLineWriter) {
        guard key != 0 else { return }
        line.put(UInt8(ascii: ","))
        line.put(names[Int(key >> 2)])
        line.put(UInt8(ascii: ":"))
        switch key & 3 {
        case TraceFields.kindInt: line.put(value)
        case TraceFields.kindBool: line.put(value != 0 ? "true" : "false")
        case TraceFields.kindName: line.put(names[value])
        default: line.put("null")
        }
    }
}

/// Writes a line's bytes straight into memory the caller has reserved (the encoded
/// log's segment): plain stores, no capacity checks — `RecordEncoder.capacity` bounds it.
struct RawLineWriter {
    private(set) var at: UnsafeMutablePointer<UInt8>

    @inline(__always) init(_ at: UnsafeMutablePointer<UInt8>) { self.at = at }

    func count(from start: UnsafeMutablePointer<UInt8>) -> Int { at - start }

    @inline(__always) mutating func put(_ byte: UInt8) {
        at.pointee = byte
        at += 1
    }

    @inline(__always) mutating func put(_ text: StaticString) {
        at.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        at += text.utf8CodeUnitCount
    }

    @inline(__always) mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        at.update(from: base, count: bytes.count)
        at += bytes.count
    }

    @inline(__always) mutating func put(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { put($0) }
    }

    /// Decimal digits (and a sign), as `JSONWriter.writeInt` writes them.
    @inline(__always) mutating func put(_ value: Int) {
        JSONWriter.withDecimal(value) { put($0) }
    }
}
