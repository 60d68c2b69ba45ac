import CSystem
import Glibc
import JSON
import Synchronization
import Tracing

/// Watches what the kernel does with a run's threads, and its children's, while the run
/// is live: about every millisecond it reads each thread's `/proc/<pid>/task/<tid>/stat`
/// (state letter, last CPU) and CPU clock, and records `sched.state {state, cpu, reason?}`
/// on the thread's own lane whenever that changes — running, runnable (ready, waiting for
/// a CPU), blocked or disk. The reason of a block is what the lane's own trace says it is
/// waiting for (a lock, an event, a queue, a sleep, IO, the GIL).
///
/// Which thread is which lane comes from the trace itself: every `lane.start` carries the
/// real pid and tid of its thread, and `process.spawn` names a child's pid before the
/// child's first event arrives. A lane is watched from then until its `lane.end` (or its
/// process's `process.exit`); the sampler's own thread never emits as itself, so it never
/// becomes a lane.
///
/// Exact figures come from `/proc/<pid>/task/<tid>/schedstat`: time on a CPU, time waiting
/// on a run queue and the number of times the thread got a CPU, as deltas between the
/// first and the last look at each thread.
///
/// One sampler per run: `start` creates its thread, `stop` joins it and closes every file
/// it opened. No run, no sampling thread.
public final class SchedSampler: Sendable {
    public let recorder: TraceRecorder
    public let periodNs: UInt64

    private let core: Mutex<Core>
    private let stopFlag = Atomic<Bool>(false)
    private let passes = Atomic<Int>(0)
    private let thread = Mutex<TracedThread?>(nil)
    private let finished = Mutex<JSONObject?>(nil)
    private let samplerTid = Atomic<Int32>(0)

    /// The kernel tid of the sampling thread once it has run (0 before), for tests that
    /// check it never shows up in the trace and is gone after the run.
    public var threadID: Int32 { samplerTid.load(ordering: .acquiring) }

    public init(recorder: TraceRecorder, periodUs: Int = 1000) {
        self.recorder = recorder
        self.periodNs = UInt64(max(periodUs, 100)) * 1000
        self.core = Mutex(Core(serverPid: getpid()))
    }

    /// Starts the sampling thread (once).
    public func start() {
        thread.withLock { thread in
            guard thread == nil, !stopFlag.load(ordering: .acquiring) else { return }
            thread = TracedThread(name: "sched-sampler") { [self] in loop() }
        }
    }

    /// Stops sampling: one last pass, every watched thread's figures taken, the thread
    /// joined and every /proc file closed. Returns `summary.sched`. Safe to call twice.
    @discardableResult
    public func stop() -> JSONObject {
        stopFlag.store(true, ordering: .releasing)
        let running = thread.withLock { thread -> TracedThread? in
            let current = thread
            thread = nil
            return current
        }
        running?.join()
        return finished.withLock { finished in
            if let finished { return finished }
            let summary = core.withLock { core in
                core.ingest(recorder)
                core.pass(recorder, final: true)
                core.closeAll()
                return core.summary(periodNs: periodNs)
            }
            finished = summary
            return summary
        }
    }

    /// Waits (at most `timeoutMs`) until the sampler has taken two more passes, so that
    /// threads that have just ended are accounted for. Returns at once if it is not running.
    public func settle(timeoutMs: Int = 200) {
        let target = passes.load(ordering: .acquiring) + 2
        let deadline = interleave_monotonic_ns() + UInt64(timeoutMs) * 1_000_000
        while passes.load(ordering: .acquiring) < target, thread.withLock({ $0 != nil }),
              interleave_monotonic_ns() < deadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 500_000)
            nanosleep(&pause, nil)
        }
    }

    /// The figures of one lane so far (nil if it was never seen).
    public func figures(of lane: String) -> LaneSchedFigures? {
        core.withLock { core in core.figures(of: lane) }
    }

    /// What the samples prove about `lanes` running at the same time.
    public func parallelism(of lanes: Set<String>, sinceNs: UInt64 = 0) -> Parallelism {
        core.withLock { core in core.parallelism(of: lanes, sinceNs: sinceNs) }
    }

    private func loop() {
        samplerTid.store(interleave_tid(), ordering: .releasing)
        var next = interleave_monotonic_ns()
        while !stopFlag.load(ordering: .acquiring) {
            core.withLock { core in
                core.ingest(recorder)
                core.pass(recorder, final: false)
            }
            passes.add(1, ordering: .releasing)
            next += periodNs
            let now = interleave_monotonic_ns()
            // Fell behind (the machine is busy): start again from now, do not catch up.
            if next <= now { next = now + periodNs / 2 }
            var until = timespec(tv_sec: Int(next / 1_000_000_000), tv_nsec: Int(next % 1_000_000_000))
            while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nil) == EINTR {}
        }
    }
}

/// Exact per-lane figures from schedstat deltas.
public struct LaneSchedFigures: Sendable {
    public var onCpuNs: Int64 = 0
    public var waitNs: Int64 = 0
    public var blockedNs: Int64 = 0
    /// Times the thread was given a CPU (schedstat's third field).
    public var slices: Int64 = 0
    /// CPUs it was seen running on.
    public var cpus: Set<Int> = []

    public var json: JSONValue {
        [
            "onCpuMs": .double(ms(onCpuNs)), "waitMs": .double(ms(waitNs)), "blockedMs": .double(ms(blockedNs)),
            "slices": .int(Int(slices)), "cpus": .array(cpus.sorted().map(JSONValue.int)),
        ]
    }
}

/// What the samples prove about some lanes running at once. In a window between two
/// looks, the lanes' CPU clocks together can advance by more than the window's length
/// only if at least two of them ran at the same time on different CPUs, so
/// `provenOverlapNs` (the sum of those excesses) is a lower bound of their parallel time.
/// Only threads of the server count there: their CPU clocks are read live. Children's
/// lanes (a process clock that lags by up to a tick) count in `windowsRunningOnTwoCpus`.
public struct Parallelism: Sendable {
    public var provenOverlapNs: Int64 = 0
    /// Windows in which two or more of the lanes were sampled `running` on different CPUs.
    public var windowsRunningOnTwoCpus = 0
    /// Seq of a `sched.state` in the first window that proves overlap.
    public var firstOverlapSeq: Int?
    /// Seq of a `sched.state` in the first window with two lanes running on two CPUs.
    public var firstTwoCpuSeq: Int?
    public var windows = 0
}

private func ms(_ ns: Int64) -> Double { (Double(ns) / 100_000).rounded() / 10 }

/// The sampler's state; touched only under its mutex.
private struct Core {
    struct Sched { var exec: Int64; var wait: Int64; var slices: Int64 }

    struct Watched {
        var lane: String
        let pid: Int32
        let tid: Int32
        var statFd: Int32 = -1
        var schedFd: Int32 = -1
        var firstSched: Sched?
        var lastSched: Sched?
        var firstNs: UInt64 = 0
        var lastNs: UInt64 = 0
        var lastCpuNs: Int64 = -1
        var letter: UInt8 = 0
        var emitted: (state: String, cpu: Int, reason: String?)?
        var cpus: Set<Int> = []
        var done = false
        var gone = false
    }

    /// One sampling window: CPU ns each watched thread used between two passes.
    struct Window {
        let startNs: UInt64
        var endNs: UInt64
        var deltas: [(index: Int, ns: Int64, running: Bool, seq: Int?, cpu: Int, precise: Bool)]
    }

    let serverPid: Int32
    var nextSeq = 0
    var watched: [Watched] = []
    var byThread: [Int64: Int] = [:]
    var reasons: [String: String] = [:]
    /// The lane whose reason was last cleared (none since): its next non-wait event
    /// needs no lookup.
    var clearedLane: String?
    var windows: [Window] = []
    var previousPassStartNs: UInt64 = 0
    var passCount = 0
    var firstPassNs: UInt64 = 0
    var lastPassNs: UInt64 = 0
    var selfTid: Int32 = 0
    var selfCpuStartNs: Int64 = -1
    var selfCpuNs: Int64 = 0
    var finalFigures: [String: LaneSchedFigures] = [:]
    static let maxWindows = 120_000

    init(serverPid: Int32) { self.serverPid = serverPid }

    static func key(_ pid: Int32, _ tid: Int32) -> Int64 { Int64(pid) << 32 | Int64(UInt32(bitPattern: tid)) }

    // MARK: Reading the trace

    /// Reads what the run traced since the last look, from the recorder's encoded lines
    /// (shared with every stream, not copied): of most events only the type and the lane,
    /// which every canonical line starts with (after seq and ts), are looked at; a wait's
    /// few fields are found in its line; only a lane starting or ending (a handful per
    /// run) is parsed whole. No event is decoded into a value here.
    mutating func ingest(_ recorder: TraceRecorder) {
        while true {
            let batch = recorder.readEncoded(from: nextSeq, limit: 4096)
            if batch.isEmpty { return }
            batch.shared.withUnsafeBytes { bytes in
                var start = 0
                for end in batch.lineEnds {
                    look(line: UnsafeRawBufferPointer(rebasing: bytes[start..<(end - 1)]))
                    start = end
                }
            }
            nextSeq = batch.from + batch.count
        }
    }

    /// One event's line (without its newline).
    mutating func look(line: UnsafeRawBufferPointer) {
        guard let (type, lane) = EventLine.typeAndLane(line) else { return lookParsed(line) }
        switch Self.kind(first: type.first, count: type.count) {
        case .other:
            if !reasons.isEmpty { clearReason(of: String(decoding: lane, as: UTF8.self)) }
        case .lane:
            switch String(decoding: type, as: UTF8.self) {
            case "sched.state": return
            case "lane.start", "lane.end", "process.spawn", "process.exit": lookParsed(line)
            default: if !reasons.isEmpty { clearReason(of: String(decoding: lane, as: UTF8.self)) }
            }
        case .wait:
            let name = String(decoding: lane, as: UTF8.self)
            if let reason = Self.waitReason(type: String(decoding: type, as: UTF8.self), line: line) {
                reasons[name] = reason
                if clearedLane == name { clearedLane = nil }
            } else {
                clearReason(of: name)
            }
        }
    }

    /// The whole line parsed: a lane starting or ending, or a line not in the canonical shape.
    mutating func lookParsed(_ line: UnsafeRawBufferPointer) {
        guard let value = try? JSONParser.parse(Array(line)), let event = TraceEvent(json: value) else { return }
        look(at: event)
    }

    /// `waitReason` from a wait's line: its type, and the one field some waits depend on.
    static func waitReason(type: String, line: UnsafeRawBufferPointer) -> String? {
        switch type {
        case "barrier.wait": EventLine.contains(line, #","last":true"#) ? nil : "barrier"
        case "queue.full", "queue.empty": EventLine.contains(line, #","waiting":true"#) ? "queue" : nil
        case "io.begin":
            switch EventLine.string(line, after: #","op":""#) {
            case "sleep"?: "sleep"
            case "join"?: "join"
            default: "IO"
            }
        default: waitReason(type: type)
        }
    }

    mutating func look(at event: TraceEvent) {
        let kind = Self.kind(first: event.type.utf8.first, count: event.type.utf8.count)
        if kind == .other {
            // Most events (task.*, log, …) neither start nor end a lane nor wait: only
            // whatever reason their lane had ends.
            clearReason(of: event.lane)
            return
        }
        switch event.type {
        case "sched.state":
            return
        case "lane.start":
            let laneKind = event.fields["kind"]?.stringValue ?? "thread"
            if laneKind == "main" || laneKind == "thread" || laneKind == "process" {
                watch(lane: event.lane, pid: event.pid, tid: event.tid)
            }
        case "process.spawn":
            if let pid = event.fields["childPid"]?.intValue, let child = event.fields["child"]?.stringValue {
                watch(lane: child, pid: Int32(pid), tid: Int32(pid))
            }
        case "lane.end":
            if let index = byThread[Self.key(event.pid, event.tid)], watched[index].lane == event.lane {
                watched[index].done = true
            }
        case "process.exit":
            if let pid = event.fields["childPid"]?.intValue {
                for index in watched.indices where watched[index].pid == Int32(pid) { watched[index].done = true }
            }
        default:
            break
        }
        // The lane's own trace says what it waits for; the thread emits nothing while it
        // waits, so its next event ends the wait.
        if kind == .wait, let reason = Self.waitReason(event) {
            reasons[event.lane] = reason
            if clearedLane == event.lane { clearedLane = nil }
        } else {
            clearReason(of: event.lane)
        }
    }

    /// The lane's last event waits for nothing.
    mutating func clearReason(of lane: String) {
        // Most events wait for nothing, and often follow one of the same lane that did
        // not either: then there is nothing to clear and no lookup to make.
        guard !reasons.isEmpty, clearedLane != lane else { return }
        reasons[lane] = nil
        clearedLane = lane
    }

    enum Kind { case other, lane, wait }

    /// Which of `look`'s cases an event type can be, from its first byte and length
    /// alone (no string comparison for the common types), so most events skip them.
    static func kind(first: UInt8?, count: Int) -> Kind {
        switch (first, count) {
        case (UInt8(ascii: "l"), 9), (UInt8(ascii: "e"), 10), (UInt8(ascii: "s"), 8), (UInt8(ascii: "c"), 9),
             (UInt8(ascii: "b"), 12), (UInt8(ascii: "q"), 10), (UInt8(ascii: "q"), 11), (UInt8(ascii: "g"), 8),
             (UInt8(ascii: "i"), 8):
            return .wait  // lock.wait, event.wait, sem.wait, cond.wait, barrier.wait, queue.full/empty, gil.wait, io.begin
        case (UInt8(ascii: "s"), 11), (UInt8(ascii: "l"), 10), (UInt8(ascii: "l"), 8), (UInt8(ascii: "p"), 13),
             (UInt8(ascii: "p"), 12):
            return .lane  // sched.state, lane.start, lane.end, process.spawn, process.exit
        default:
            return .other
        }
    }

    static func waitReason(_ event: TraceEvent) -> String? {
        switch event.type {
        case "barrier.wait": event.fields["last"]?.boolValue == true ? nil : "barrier"
        case "queue.full", "queue.empty": event.fields["waiting"]?.boolValue == true ? "queue" : nil
        case "io.begin":
            switch event.fields["op"]?.stringValue {
            case "sleep"?: "sleep"
            case "join"?: "join"
            default: "IO"
            }
        default: waitReason(type: event.type)
        }
    }

    /// The reason of the waits whose type alone says it.
    static func waitReason(type: String) -> String? {
        switch type {
        case "lock.wait": "lock"
        case "event.wait": "event"
        case "sem.wait": "semaphore"
        case "cond.wait": "condition"
        case "gil.wait": "GIL"
        default: nil
        }
    }

    mutating func watch(lane: String, pid: Int32, tid: Int32) {
        guard pid > 0, tid > 0 else { return }
        let key = Self.key(pid, tid)
        if let index = byThread[key] {
            watched[index].lane = lane
            return
        }
        var entry = Watched(lane: lane, pid: pid, tid: tid)
        entry.statFd = open("/proc/\(pid)/task/\(tid)/stat", O_RDONLY | O_CLOEXEC)
        entry.schedFd = open("/proc/\(pid)/task/\(tid)/schedstat", O_RDONLY | O_CLOEXEC)
        if entry.statFd < 0 { entry.gone = true }
        byThread[key] = watched.count
        watched.append(entry)
    }

    // MARK: Sampling

    /// One look at every watched thread. First every thread is read (state letter, CPU,
    /// CPU clock); then each is classified against the same window — from the start of the
    /// previous pass to the end of this one — and its changes are recorded with this pass's
    /// one timestamp. R means "running or ready": a thread counts as running when its CPU
    /// clock advanced for more than half of the window, else it was ready and waiting for a
    /// CPU. Two threads sharing one CPU cannot both use more than half of the same window,
    /// so on one CPU no two lanes are ever `running` at once.
    mutating func pass(_ recorder: TraceRecorder, final: Bool) {
        let startNs = interleave_monotonic_ns()
        if selfTid == 0 && !final {
            selfTid = interleave_tid()
            selfCpuStartNs = interleave_os_thread_cpu_ns(selfTid)
        }
        var looks: [(index: Int, letter: UInt8, cpu: Int, cpuNs: Int64)] = []
        for index in watched.indices where !watched[index].gone {
            if let look = read(index, final: final) { looks.append((index, look.letter, look.cpu, look.cpuNs)) }
        }
        let endNs = interleave_monotonic_ns()
        let windowStart = previousPassStartNs == 0 ? startNs : previousPassStartNs
        let windowNs = Int64(endNs &- windowStart)
        let ts = Int64(endNs &- recorder.startNs) / 1000
        var window = Window(startNs: windowStart, endNs: endNs, deltas: [])
        for look in looks {
            var entry = watched[look.index]
            let usedNs: Int64 = look.cpuNs >= 0 && entry.lastCpuNs >= 0 ? max(0, look.cpuNs - entry.lastCpuNs) : 0
            let state: String
            switch look.letter {
            case UInt8(ascii: "R"):
                if look.cpuNs < 0 {
                    state = "running"  // no precise clock for this thread: R is all we know
                } else if entry.lastCpuNs < 0 {
                    state = "runnable"  // first look: not yet known whether it ran
                } else {
                    state = usedNs * 2 > windowNs ? "running" : "runnable"
                }
            case UInt8(ascii: "D"): state = "disk"
            default: state = "blocked"
            }
            let reason = state == "blocked" || state == "disk" ? reasons[entry.lane] : nil
            var seq: Int?
            if !entry.done {
                let changed: Bool = if let last = entry.emitted {
                    last.state != state || last.reason != reason || (state == "running" && last.cpu != look.cpu)
                } else {
                    true
                }
                if changed {
                    var fields: JSONObject = ["state": .string(state)]
                    if let reason { fields["reason"] = .string(reason) }
                    // `cpu` is the envelope's: the CPU the lane's thread was on (not the sampler's).
                    seq = recorder.merge(TraceEvent(seq: 0, ts: ts, type: "sched.state", lane: entry.lane,
                                                    pid: entry.pid, tid: entry.tid,
                                                    cpu: look.cpu >= 0 ? Int32(look.cpu) : nil, fields: fields))
                    entry.emitted = (state, look.cpu, reason)
                }
            }
            if state == "running" { entry.cpus.insert(look.cpu) }
            if usedNs > 0 || state == "running" {
                window.deltas.append((look.index, usedNs, state == "running", seq, look.cpu, entry.pid == serverPid))
            }
            entry.letter = look.letter
            entry.lastCpuNs = look.cpuNs
            if entry.done {
                entry.gone = true
                closeFiles(&entry)
            }
            watched[look.index] = entry
        }
        if previousPassStartNs != 0, !window.deltas.isEmpty, windows.count < Self.maxWindows { windows.append(window) }
        previousPassStartNs = startNs
        if firstPassNs == 0 { firstPassNs = startNs }
        lastPassNs = endNs
        passCount += 1
        if !final, selfCpuStartNs >= 0 {
            selfCpuNs = max(0, interleave_os_thread_cpu_ns(selfTid) - selfCpuStartNs)
        }
    }

    /// Reads one thread: its state letter and CPU from stat, its CPU clock, and (when it
    /// may have changed) its schedstat. Nil when the thread is gone.
    mutating func read(_ index: Int, final: Bool) -> (letter: UInt8, cpu: Int, cpuNs: Int64)? {
        let now = interleave_monotonic_ns()
        guard let (letter, cpu) = readStat(watched[index].statFd) else {
            watched[index].gone = true
            closeFiles(&watched[index])
            return nil
        }
        let entry = watched[index]
        let cpuNs: Int64 = if entry.pid == serverPid {
            interleave_os_thread_cpu_ns(entry.tid)
        } else if entry.pid == entry.tid {
            interleave_os_process_cpu_ns(entry.pid)
        } else {
            -1
        }
        // A blocked thread's schedstat does not move: read it only when it may have.
        if letter == UInt8(ascii: "R") || letter != entry.letter || entry.firstSched == nil || entry.done || final,
           let sched = readSchedstat(entry.schedFd) {
            if entry.firstSched == nil {
                watched[index].firstSched = sched
                watched[index].firstNs = now
            }
            watched[index].lastSched = sched
            watched[index].lastNs = now
        }
        return (letter, cpu, cpuNs)
    }

    func readStat(_ fd: Int32) -> (UInt8, Int)? {
        guard fd >= 0 else { return nil }
        return withUnsafeTemporaryAllocation(byteCount: 1024, alignment: 8) { raw -> (UInt8, Int)? in
            let count = pread(fd, raw.baseAddress, raw.count, 0)
            guard count > 0 else { return nil }
            let bytes = UnsafeRawBufferPointer(rebasing: raw[..<count])
            // "pid (comm) S ppid …": comm may hold spaces and parentheses; the state is
            // after the last ')'; the CPU it last ran on is field 39.
            guard let close = bytes.lastIndex(of: UInt8(ascii: ")")), close + 2 < count else { return nil }
            let letter = bytes[close + 2]
            var field = 3
            var index = close + 2
            var cpu = -1
            while index < count {
                if bytes[index] == UInt8(ascii: " ") {
                    field += 1
                    if field == 39 {
                        var value = 0
                        var digit = index + 1
                        while digit < count, bytes[digit] >= 48, bytes[digit] <= 57 {
                            guard value < 1 << 20 else { return nil }  // no CPU number is this long
                            value = value * 10 + Int(bytes[digit] - 48)
                            digit += 1
                        }
                        cpu = value
                        break
                    }
                }
                index += 1
            }
            return (letter, cpu)
        }
    }

    func readSchedstat(_ fd: Int32) -> Sched? {
        guard fd >= 0 else { return nil }
        return withUnsafeTemporaryAllocation(byteCount: 256, alignment: 8) { raw -> Sched? in
            let count = pread(fd, raw.baseAddress, raw.count, 0)
            guard count > 0 else { return nil }
            var values: [Int64] = []
            var current: Int64 = 0
            var inNumber = false
            for byte in UnsafeRawBufferPointer(rebasing: raw[..<count]) {
                if byte >= 48 && byte <= 57 {
                    // Never trust the bytes to be schedstat's (a stray close elsewhere once
                    // left this fd naming another file): a number too long is no reading.
                    guard current < Int64.max / 10 - 9 else { return nil }
                    current = current * 10 + Int64(byte - 48)
                    inNumber = true
                } else if inNumber {
                    values.append(current)
                    current = 0
                    inNumber = false
                }
            }
            if inNumber { values.append(current) }
            guard values.count >= 3 else { return nil }
            return Sched(exec: values[0], wait: values[1], slices: values[2])
        }
    }

    func closeFiles(_ entry: inout Watched) {
        if entry.statFd >= 0 { close(entry.statFd) }
        if entry.schedFd >= 0 { close(entry.schedFd) }
        entry.statFd = -1
        entry.schedFd = -1
    }

    mutating func closeAll() {
        for index in watched.indices {
            closeFiles(&watched[index])
            watched[index].gone = true
        }
    }

    // MARK: Figures

    func laneFigures(_ entry: Watched) -> LaneSchedFigures? {
        guard let first = entry.firstSched, let last = entry.lastSched else { return nil }
        var figures = LaneSchedFigures()
        figures.onCpuNs = max(0, last.exec - first.exec)
        figures.waitNs = max(0, last.wait - first.wait)
        figures.slices = max(0, last.slices - first.slices)
        let lifetime = Int64(entry.lastNs &- entry.firstNs)
        figures.blockedNs = max(0, lifetime - figures.onCpuNs - figures.waitNs)
        figures.cpus = entry.cpus
        return figures
    }

    func figures(of lane: String) -> LaneSchedFigures? {
        var total: LaneSchedFigures?
        for entry in watched where entry.lane == lane {
            guard let figures = laneFigures(entry) else { continue }
            var sum = total ?? LaneSchedFigures()
            sum.onCpuNs += figures.onCpuNs
            sum.waitNs += figures.waitNs
            sum.blockedNs += figures.blockedNs
            sum.slices += figures.slices
            sum.cpus.formUnion(figures.cpus)
            total = sum
        }
        return total
    }

    func parallelism(of lanes: Set<String>, sinceNs: UInt64) -> Parallelism {
        let members = Set(watched.indices.filter { lanes.contains(watched[$0].lane) })
        var result = Parallelism()
        for window in windows where window.startNs >= sinceNs {
            let mine = window.deltas.filter { members.contains($0.index) }
            guard !mine.isEmpty else { continue }
            result.windows += 1
            // Only clocks read live count as proof: a child's process clock lags by up to a
            // scheduler tick while it runs, then catches up in one window.
            let used = mine.filter(\.precise).reduce(Int64(0)) { $0 + $1.ns }
            // 20 µs of slack for the clocks' own granularity.
            let excess = used - Int64(window.endNs &- window.startNs) - 20_000
            if excess > 0 {
                result.provenOverlapNs += excess
                if result.firstOverlapSeq == nil { result.firstOverlapSeq = mine.compactMap(\.seq).last }
            }
            let running = mine.filter(\.running)
            if running.count >= 2, Set(running.map(\.cpu)).count >= 2 {
                result.windowsRunningOnTwoCpus += 1
                if result.firstTwoCpuSeq == nil { result.firstTwoCpuSeq = running.compactMap(\.seq).last }
            }
        }
        return result
    }

    func summary(periodNs: UInt64) -> JSONObject {
        var lanes = JSONObject()
        for entry in watched {
            guard let figures = figures(of: entry.lane), lanes[entry.lane] == nil else { continue }
            lanes[entry.lane] = figures.json
        }
        let spanNs = lastPassNs &- firstPassNs
        let meanPeriodUs = passCount > 1 ? Double(spanNs) / Double(passCount - 1) / 1000 : 0
        let percent = spanNs > 0 ? Double(selfCpuNs) / Double(spanNs) * 100 : 0
        return [
            "lanes": .object(lanes),
            "sampler": [
                "passes": .int(passCount), "periodUs": .int(Int(periodNs / 1000)),
                "meanPeriodUs": .double((meanPeriodUs * 10).rounded() / 10),
                "cpuMs": .double(ms(selfCpuNs)), "cpuPercent": .double((percent * 100).rounded() / 100),
            ],
        ]
    }
}

/// Reading a canonical event line (`{"seq":…,"ts":…,"type":"…","lane":"…",…}`) without
/// parsing it: where its type and lane are, and whether it holds a field.
enum EventLine {
    /// The type's and the lane's bytes; nil if the line does not start the canonical way
    /// or either string holds an escape (then it is parsed instead).
    static func typeAndLane(_ line: UnsafeRawBufferPointer) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer)? {
        var index = 0
        guard expect(#"{"seq":"#, in: line, at: &index) else { return nil }
        skipNumber(line, &index)
        guard expect(#","ts":"#, in: line, at: &index) else { return nil }
        skipNumber(line, &index)
        guard expect(#","type":""#, in: line, at: &index), let type = stringBody(line, &index),
              expect(#","lane":""#, in: line, at: &index), let lane = stringBody(line, &index)
        else { return nil }
        return (type, lane)
    }

    /// Whether `pattern` occurs in the line (a field pattern starts with `,"`, which no
    /// string value can hold unescaped).
    static func contains(_ line: UnsafeRawBufferPointer, _ pattern: StaticString) -> Bool {
        find(pattern, in: line) != nil
    }

    /// The string that follows `prefix` (which ends with its opening quote), if it has no escapes.
    static func string(_ line: UnsafeRawBufferPointer, after prefix: StaticString) -> String? {
        guard let found = find(prefix, in: line) else { return nil }
        var index = found + prefix.utf8CodeUnitCount
        return stringBody(line, &index).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Where `pattern` first occurs in the line (the lines are short: a plain scan).
    private static func find(_ pattern: StaticString, in line: UnsafeRawBufferPointer) -> Int? {
        let count = pattern.utf8CodeUnitCount
        guard count > 0, line.count >= count else { return nil }
        let first = pattern.utf8Start[0]
        var start = 0
        while start + count <= line.count {
            if line[start] == first {
                var offset = 1
                while offset < count, line[start + offset] == pattern.utf8Start[offset] { offset += 1 }
                if offset == count { return start }
            }
            start += 1
        }
        return nil
    }

    private static func expect(_ literal: StaticString, in line: UnsafeRawBufferPointer, at index: inout Int) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= line.count else { return false }
        for offset in 0..<count where line[index + offset] != literal.utf8Start[offset] { return false }
        index += count
        return true
    }

    private static func skipNumber(_ line: UnsafeRawBufferPointer, _ index: inout Int) {
        if index < line.count, line[index] == UInt8(ascii: "-") { index += 1 }
        while index < line.count, line[index] >= UInt8(ascii: "0"), line[index] <= UInt8(ascii: "9") { index += 1 }
    }

    /// A string's bytes up to its closing quote (the index moves past it); nil at an escape.
    private static func stringBody(_ line: UnsafeRawBufferPointer, _ index: inout Int) -> UnsafeRawBufferPointer? {
        let start = index
        while index < line.count {
            switch line[index] {
            case UInt8(ascii: "\""):
                defer { index += 1 }
                return UnsafeRawBufferPointer(rebasing: line[start..<index])
            case UInt8(ascii: "\\"):
                return nil
            default:
                index += 1
            }
        }
        return nil
    }
}
