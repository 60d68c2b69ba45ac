import CSystem
import Glibc
import JSON
import Synchronization
import Tracing

/// How a child process ended.
public struct ExitStatus: Sendable, Equatable {
    /// The exit code, when it exited by itself.
    public let code: Int32?
    /// The signal that ended it, when one did.
    public let signal: Int32?

    public var signalName: String? { signal.map { Primitives.signalName(of: $0) } }

    /// "SIGKILL", "exit code 3".
    public var description: String {
        if let signalName { return signalName }
        if let code { return "exit code \(code)" }
        return "an unknown status (reaped elsewhere)"
    }

    /// `exitCode` or `signal` for `process.exit`.
    public var fields: JSONObject {
        if let signalName { return ["signal": .string(signalName)] }
        return ["exitCode": .int(Int(code ?? -1))]
    }
}

public func signalName(of signal: Int32) -> String {
    switch signal {
    case SIGKILL: "SIGKILL"
    case SIGTERM: "SIGTERM"
    case SIGINT: "SIGINT"
    case SIGHUP: "SIGHUP"
    case SIGSEGV: "SIGSEGV"
    case SIGABRT: "SIGABRT"
    case SIGPIPE: "SIGPIPE"
    case SIGBUS: "SIGBUS"
    case SIGILL: "SIGILL"
    case SIGTRAP: "SIGTRAP"
    default: "SIG\(signal)"
    }
}

/// A worker process started by a `ProcessSupervisor`.
public final class ChildProcess: Sendable {
    public let pid: Int32
    /// Its lane: `process-1 (pid 4312)`. The child names its own lane the same way.
    public let lane: String
    public let kind: String
    public let daemon: Bool
    /// The parent's end of the child's stdin (a socket, so writing to a child that
    /// died gives an error instead of SIGPIPE); -1 once closed or if it has none.
    private let input: Mutex<Int32>

    init(pid: Int32, lane: String, kind: String, daemon: Bool, input: Int32) {
        self.pid = pid
        self.lane = lane
        self.kind = kind
        self.daemon = daemon
        self.input = Mutex(input)
    }

    /// Sends one NDJSON line to the child's stdin; false if the child is gone.
    @discardableResult
    public func send(_ message: JSONObject) -> Bool {
        input.withLock { fd in fd >= 0 && sendJSONLine(fd, message) }
    }

    /// Closes the child's stdin: it reads EOF (a pool worker then exits).
    public func closeInput() {
        input.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }
}

/// Starts, watches, signals and reaps the worker processes of one run.
///
/// Children are the server's own executable started again (`interleave worker KIND
/// …`) with posix_spawn, each in its own process group. A child writes its trace
/// events as binary frames on fd 3 (`TraceWire`); one supervisor thread polls every
/// child's pipe and merges the events into the run's recorder in batches (keeping the
/// child's pid, tid, cpu and monotonic ts), hands `{"ctl": …}` messages to the spawner's callback, and reaps each
/// child once its pipe closes. When the run stops (cancel, deadline, deadlock,
/// shutdown) every live process group is sent SIGKILL at once; `shutdown` always
/// reaps every child and joins the supervisor thread, so a run leaves no zombie,
/// no process and no thread behind.
public final class ProcessSupervisor: Sendable {
    public typealias MessageHandler = @Sendable (ChildProcess, JSONObject) -> Void

    private struct Entry {
        let child: ChildProcess
        var eventFd: Int32
        var onMessage: MessageHandler?
        var status: ExitStatus?
        var exitReported = false
        /// The seq of its `process.exit`, once traced.
        var exitSeq: Int?
        /// The run sent it a signal (kill, terminate, daemon end, run stop): how it
        /// ends is the run's doing, not a surprise.
        var endedByRun = false
    }

    private struct State {
        var entries: [Int32: Entry] = [:]
        var order: [Int32] = []
        var stopping = false
        var hubStop = false
        /// Children that died while the run still needed them, in the order noticed.
        var unexpected: [Int32] = []
    }

    /// What the run wants to hear about its children.
    private struct Hooks {
        var onSpawn: (@Sendable (ChildProcess) -> Void)?
        var onUnexpectedExit: (@Sendable (ChildProcess, ExitStatus) -> Void)?
    }

    private let hooks = Mutex(Hooks())

    public let recorder: TraceRecorder
    public let control: RunControl
    public let binary: String
    /// For tests only: the child started on this lane holds still (before its work)
    /// until it is killed, so a test can kill it from outside at a known point.
    public let heldLane: String?
    private let state = Mutex(State())
    /// Wakes lanes blocked in `join`; its waits end when the run stops.
    private let monitor: Monitor
    /// Shutdown's own waits, which must not be cut short by the run's stop.
    private let shutdownMonitor = Monitor(control: RunControl())
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let hub: Mutex<TracedThread?> = Mutex(nil)
    private let stopToken: Mutex<Int?> = Mutex(nil)

    /// Throws `WorkerBinary.NotFound`, or `SpawnError` when out of descriptors.
    public init(recorder: TraceRecorder, control: RunControl, heldLane: String? = nil) throws {
        self.heldLane = heldLane
        var fds: [Int32] = [-1, -1]
        guard interleave_pipe(&fds, 1) == 0 else { throw SpawnError(description: "pipe2: \(String(cString: strerror(errno)))") }
        self.recorder = recorder
        self.control = control
        do {
            self.binary = try WorkerBinary.path()
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
        self.monitor = Monitor(control: control)
        wakeRead = fds[0]
        wakeWrite = fds[1]
        let token = control.onStop { [weak self] _ in self?.killAll(SIGKILL) }
        stopToken.withLock { $0 = token }
        hub.withLock { $0 = TracedThread(name: "proc-supervisor") { [self] in pollLoop() } }
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    public struct SpawnError: Error, Sendable, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Starts `interleave worker KIND` as a child on lane `name (pid N)`, traced as
    /// `process.spawn {child, childPid, kind}` on `lane`. `fds` are extra descriptors
    /// the child gets (child fd ← parent fd; use 4 and up). With `input`, the child's
    /// stdin is a channel for `ChildProcess.send`; else it is /dev/null.
    ///
    /// Call it from a thread that outlives the child — the run's main thread: the
    /// kernel's parent-death signal fires when the spawning *thread* exits, not
    /// only when the server does.
    @discardableResult
    public func spawn(name: String, kind: String, arguments: [String] = [], fds: [(child: Int32, parent: Int32)] = [],
                      input: Bool = false, daemon: Bool = false, from lane: Lane,
                      onMessage: MessageHandler? = nil) throws -> ChildProcess {
        try control.check()
        var events: [Int32] = [-1, -1]
        guard interleave_pipe(&events, 0) == 0 else { throw SpawnError(description: "pipe2: \(String(cString: strerror(errno)))") }
        var channel: [Int32] = [-1, -1]
        if input {
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &channel) == 0 else {
                close(events[0]); close(events[1])
                throw SpawnError(description: "socketpair: \(String(cString: strerror(errno)))")
            }
        }
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer {
            close(devNull)
            close(events[1])
            if input { close(channel[1]) }
        }
        var map: [Int32] = [0, input ? channel[1] : devNull, 1, devNull, 2, 2, 3, events[1]]
        for extra in fds { map += [extra.child, extra.parent] }
        let argv = [binary, "worker", kind, "--start-ns", String(recorder.startNs), "--parent", String(getpid()),
                    "--lane", name] + arguments + (name == heldLane ? ["--hold", "true"] : [])
        var pid: pid_t = 0
        let error = withCStrings(argv) { cArgv in
            interleave_spawn(binary, cArgv, map, Int32(map.count / 2), &pid)
        }
        guard error == 0 else {
            close(events[0])
            if input { close(channel[0]) }
            throw SpawnError(description: "posix_spawn \(binary): \(String(cString: strerror(error)))")
        }
        let child = ChildProcess(pid: pid, lane: "\(name) (pid \(pid))", kind: kind, daemon: daemon,
                                 input: input ? channel[0] : -1)
        let killNow = state.withLock { state in
            state.entries[pid] = Entry(child: child, eventFd: events[0], onMessage: onMessage)
            state.order.append(pid)
            return state.stopping || control.isStopped
        }
        lane.emit("process.spawn", ["child": .string(child.lane), "childPid": .int(Int(pid)), "kind": .string(kind)])
        hooks.withLock { $0.onSpawn }?(child)
        wakeHub()
        // A stop that raced with this spawn has already run its handler.
        if killNow { killAll(SIGKILL) }
        return child
    }

    /// Sends `signal` to the child's process group, traced as `process.kill
    /// {child, signal}` on `lane`. A child already reaped is left alone (its pid may
    /// belong to someone else by now).
    public func kill(_ child: ChildProcess, _ signal: Int32, from lane: Lane) {
        lane.emit("process.kill", ["child": .string(child.lane), "signal": .string(signalName(of: signal))])
        state.withLock { state in
            if state.entries[child.pid]?.status == nil {
                // A child that has already died (not yet reaped) was not ended by this signal.
                if interleave_child_dying(child.pid) != 1 { state.entries[child.pid]?.endedByRun = true }
                _ = Glibc.kill(-child.pid, signal)
            }
        }
    }

    /// Called for every child spawned from now on.
    public func onSpawn(_ handler: @escaping @Sendable (ChildProcess) -> Void) {
        hooks.withLock { $0.onSpawn = handler }
    }

    /// Called (on the supervisor thread) when a child ends in a way the run did not
    /// cause while the run still needs it: killed by a signal nobody in the run sent
    /// (`kill -9` from outside, a crash), or a non-zero exit code — before the run
    /// stopped or began shutting its children down.
    public func onUnexpectedExit(_ handler: @escaping @Sendable (ChildProcess, ExitStatus) -> Void) {
        hooks.withLock { $0.onUnexpectedExit = handler }
    }

    /// The child that died unexpectedly and how, if one did: the first killed by a
    /// signal (its death usually explains the others', e.g. a manager's clients that
    /// exit with an error when it is gone), else the first noticed.
    public var unexpectedExit: (child: ChildProcess, status: ExitStatus)? {
        state.withLock { state in
            let deaths = state.unexpected.compactMap { pid in
                state.entries[pid].flatMap { entry in entry.status.map { (child: entry.child, status: $0) } }
            }
            return deaths.first { $0.status.signal != nil } ?? deaths.first
        }
    }

    /// Traces the child's `process.exit` on `lane` now if it has been reaped and not yet
    /// reported; returns the seq of its `process.exit` (this one or the earlier one).
    @discardableResult
    public func reportExitIfEnded(_ child: ChildProcess, on lane: Lane) -> Int? {
        if let exit = status(of: child) { reportExit(child, exit, on: lane) }
        return state.withLock { $0.entries[child.pid]?.exitSeq }
    }

    /// Blocks `lane` until the child has exited and been reaped (`io.begin/io.end
    /// {op: "join"}`), then emits `process.exit {child, exitCode | signal}` once.
    @discardableResult
    public func join(_ child: ChildProcess, on lane: Lane) throws(RunInterrupted) -> ExitStatus {
        if status(of: child) == nil {
            lane.emit("io.begin", ["op": "join", "child": .string(child.lane)])
            try monitor.withLock { () throws(RunInterrupted) in
                _ = try monitor.wait(until: { status(of: child) != nil })
            }
            lane.emit("io.end", ["op": "join", "child": .string(child.lane)])
        }
        let exit = status(of: child)!
        reportExit(child, exit, on: lane)
        return exit
    }

    /// The exit status once reaped, else nil (`is_alive()` is `status == nil`).
    public func status(of child: ChildProcess) -> ExitStatus? {
        state.withLock { $0.entries[child.pid]?.status }
    }

    public var children: [ChildProcess] {
        state.withLock { state in state.order.compactMap { state.entries[$0]?.child } }
    }

    /// Children spawned and not yet reaped.
    public var liveCount: Int { state.withLock { $0.entries.values.filter { $0.status == nil }.count } }

    /// Ends every child and joins the supervisor thread; call it (in a `defer`)
    /// before the experiment's body returns. A run that is still going waits for its
    /// non-daemon children (their stdin closed first, so pool workers finish) and
    /// sends SIGTERM to daemon ones, as Python does at exit; a stopped run kills
    /// every process group with SIGKILL. Either way every child is reaped and gets
    /// its `process.exit` on `lane`.
    public func shutdown(on lane: Lane) {
        let alreadyStopping = state.withLock { state in
            let was = state.stopping
            state.stopping = true
            return was
        }
        guard !alreadyStopping else { return }
        for child in children { child.closeInput() }
        if !control.isStopped {
            let daemons = children.filter { $0.daemon && status(of: $0) == nil }
            if !daemons.isEmpty {
                lane.log("the main lane is ending: daemon children are terminated")
                for child in daemons { kill(child, SIGTERM, from: lane) }
            }
            do {
                try monitor.withLock { () throws(RunInterrupted) in
                    _ = try monitor.wait(until: { liveCount == 0 })
                }
            } catch {}
        }
        if liveCount > 0 {
            lane.log("run \(control.stopReason?.rawValue ?? "ended"): killing the process group of \(liveCount) live children")
            killAll(SIGKILL)
        }
        shutdownMonitor.withLock {
            while liveCount > 0 || openPipes > 0 {
                _ = try? shutdownMonitor.wait(deadlineNs: Monitor.deadline(afterMs: 100))
                if liveCount > 0 { killAll(SIGKILL) }
            }
        }
        for child in children { reportExit(child, status(of: child)!, on: lane) }
        state.withLock { $0.hubStop = true }
        wakeHub()
        hub.withLock { $0 }?.join()
        control.removeOnStop(stopToken.withLock { $0 })
    }

    private var openPipes: Int { state.withLock { $0.entries.values.filter { $0.eventFd >= 0 }.count } }

    private func reportExit(_ child: ChildProcess, _ status: ExitStatus, on lane: Lane) {
        let first = state.withLock { state in
            guard state.entries[child.pid]?.exitReported == false else { return false }
            state.entries[child.pid]?.exitReported = true
            return true
        }
        guard first else { return }
        var fields: JSONObject = ["child": .string(child.lane), "childPid": .int(Int(child.pid))]
        for (key, value) in status.fields { fields[key] = value }
        let seq = lane.emit("process.exit", fields)
        state.withLock { $0.entries[child.pid]?.exitSeq = seq }
    }

    /// SIGKILL (or `signal`) to the process group of every child not yet reaped.
    /// Reaping happens under the same lock, so a reaped pid is never signalled.
    private func killAll(_ signal: Int32) {
        state.withLock { state in
            for (pid, entry) in state.entries where entry.status == nil {
                if interleave_child_dying(pid) != 1 { state.entries[pid]?.endedByRun = true }
                _ = Glibc.kill(-entry.child.pid, signal)
            }
        }
    }

    private func wakeHub() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: The supervisor thread

    /// Child events wait this long before they are merged, so that events from
    /// different children (a put in one, its get in another) enter the run's single
    /// stream in timestamp order even when their pipes are read in the other order.
    /// (20 ms: on a loaded machine a child's pipe can be read that much later.)
    static let reorderWindowUs: Int64 = 20_000

    /// A control line waiting to be handed over, and how far the trace must be
    /// merged first: its sender's last event.
    private struct Control {
        let pid: Int32
        let message: JSONObject
        let limitUs: Int64
    }

    private func pollLoop() {
        var readers: [Int32: TraceWireReader] = [:]
        var pending: [PendingEvent] = []
        /// `pending[..<sortedCount]` is in timestamp order; what was read since follows.
        var sortedCount = 0
        var refs = RefKeys()
        var controls: [Control] = []
        var chunk = [UInt8](repeating: 0, count: 65536)

        /// Reads what is there on one child's pipe; at EOF closes it.
        func drain(_ pid: Int32, _ fd: Int32) {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && (errno == EINTR || errno == EAGAIN) { return }
            if count > 0 {
                var reader = readers.removeValue(forKey: fd) ?? TraceWireReader(pid: pid, recorder: recorder)
                chunk.withUnsafeBytes { bytes in
                    reader.read(UnsafeRawBufferPointer(rebasing: bytes[..<count])) { frame in
                        deliver(frame, pid: pid, pending: &pending, controls: &controls)
                    }
                }
                readers[fd] = reader
                return
            }
            // A frame cut short by the child's death is dropped.
            readers[fd] = nil
            close(fd)
            state.withLock { $0.entries[pid]?.eventFd = -1 }
            shutdownMonitor.lockAndBroadcast()
        }

        /// One poll over the open pipes and a read of each that is ready.
        func pollOnce(timeoutMs: Int32) {
            let watched = state.withLock { state in
                state.entries.values.filter { $0.eventFd >= 0 }.map { ($0.child.pid, $0.eventFd) }
            }
            var pollfds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            pollfds += watched.map { pollfd(fd: $0.1, events: Int16(POLLIN), revents: 0) }
            guard poll(&pollfds, nfds_t(pollfds.count), timeoutMs) > 0 else { return }
            if pollfds[0].revents != 0 { while read(wakeRead, &chunk, chunk.count) > 0 {} }
            for (index, (pid, fd)) in watched.enumerated() where pollfds[index + 1].revents != 0 { drain(pid, fd) }
        }

        while true {
            let (anyOpen, awaitingExit, stop) = state.withLock { state in
                (state.entries.values.contains { $0.eventFd >= 0 },
                 state.entries.values.filter { $0.eventFd < 0 && $0.status == nil }.map(\.child.pid),
                 state.hubStop)
            }
            if stop && !anyOpen && awaitingExit.isEmpty {
                sortByTimestamp(&pending, sortedCount: sortedCount)
                flush(&pending, upToUs: .max, &refs)
                return
            }
            pollOnce(timeoutMs: awaitingExit.isEmpty && pending.isEmpty ? 200 : 2)
            // Whatever any child wrote before the lines just read is in its pipe by
            // now: take it too, so an event is never merged ahead of an earlier one
            // from another child (a put read after its get).
            pollOnce(timeoutMs: 0)
            sortByTimestamp(&pending, sortedCount: sortedCount)
            // Messages read in one round are handed over in the order their senders
            // traced them, not in the order their pipes happened to be read.
            controls = controls.enumerated().sorted { ($0.element.limitUs, $0.offset) < ($1.element.limitUs, $1.offset) }
                .map(\.element)
            for control in controls {
                // What the sender traced before this message comes first in the trace,
                // as the parent's reaction to it (a callback, the next task) follows.
                flush(&pending, upToUs: control.limitUs, &refs)
                let handler = state.withLock { state in state.entries[control.pid].map { ($0.child, $0.onMessage) } }
                if let (child, onMessage) = handler, let onMessage { onMessage(child, control.message) }
            }
            controls.removeAll()
            flush(&pending, upToUs: recorder.elapsedMicros - Self.reorderWindowUs, &refs)
            sortedCount = pending.count
            // A child counts as exited only once everything it traced is in the trace,
            // so its process.exit can never come before its own last events.
            for pid in awaitingExit where !pending.contains(where: { $0.pid == pid }) && interleave_child_exited(pid) != 0 {
                reap(pid)
            }
        }
    }

    /// Stable: events of one child with the same microsecond keep their order. Only the
    /// events read since the last round (from `sortedCount` on) are sorted, then merged
    /// into the sorted rest from the first place they belong: each round costs what it
    /// read, not what is waiting in the reorder window.
    private func sortByTimestamp(_ pending: inout [PendingEvent], sortedCount: Int) {
        let split = min(sortedCount, pending.count)
        guard pending.count - split > 0 else { return }
        // Usually what was read is already in order and after everything waiting: then
        // there is nothing to move.
        var inOrder = true
        for index in max(split, 1)..<pending.count where pending[index - 1].ts > pending[index].ts {
            inOrder = false
            break
        }
        if inOrder { return }
        var fresh = Array(pending[split...])
        if zip(fresh, fresh.dropFirst()).contains(where: { $0.ts > $1.ts }) {
            fresh = fresh.enumerated().sorted { ($0.element.ts, $0.offset) < ($1.element.ts, $1.offset) }.map(\.element)
        }
        // Where the first new event goes: after every older event with ts <= its ts.
        var low = 0, high = split
        while low < high {
            let middle = (low + high) / 2
            if pending[middle].ts <= fresh[0].ts { low = middle + 1 } else { high = middle }
        }
        guard low < split else {
            pending.replaceSubrange(split..., with: fresh)
            return
        }
        var merged: [PendingEvent] = []
        merged.reserveCapacity(pending.count - low)
        var old = low, new = 0
        while old < split || new < fresh.count {
            // Ties keep the older event first, as the stable sort of the whole did.
            if new == fresh.count || (old < split && pending[old].ts <= fresh[new].ts) {
                merged.append(pending[old])
                old += 1
            } else {
                merged.append(fresh[new])
                new += 1
            }
        }
        pending.replaceSubrange(low..., with: merged)
    }

    /// Cross-process references. A child cannot know the seq its events will get, so
    /// it names them: an event with `refKey: "k"` is remembered under "k" once merged,
    /// and a later event's `overwroteKey: "k"` becomes `overwrote: <seq>` and its
    /// `refKeys: ["k", …]` become `refs: [seq, …]` (var.write and insight from a child).
    struct RefKeys {
        var seqs: [String: Int] = [:]

        mutating func resolve(_ event: TraceEvent) -> TraceEvent {
            guard event.fields["refKey"] != nil || event.fields["overwroteKey"] != nil || event.fields["refKeys"] != nil
            else { return event }
            var copy = event
            let overwrote = copy.fields["overwroteKey"]?.stringValue
            let keys = copy.fields["refKeys"]?.arrayValue
            copy.fields["overwroteKey"] = nil
            copy.fields["refKeys"] = nil
            if let overwrote, let seq = seqs[overwrote] { copy.fields["overwrote"] = .int(seq) }
            if let keys {
                copy.fields["refs"] = .array(keys.compactMap { $0.stringValue.flatMap { seqs[$0] } }.map(JSONValue.int))
            }
            return copy
        }

        mutating func remember(_ event: TraceEvent, seq: Int?) {
            if let key = event.fields["refKey"]?.stringValue, let seq { seqs[key] = seq }
        }
    }

    /// Merges the pending child events (sorted) stamped up to `limit`: runs of binary
    /// events as one batch each, an event that names others on its own.
    private func flush(_ pending: inout [PendingEvent], upToUs limit: Int64, _ refs: inout RefKeys) {
        guard !pending.isEmpty else { return }
        let count = pending.prefix { $0.ts <= limit }.count
        guard count > 0 else { return }
        var batch: [MergedEvent] = []
        var text: [UInt8] = []
        func mergeBatch() {
            guard !batch.isEmpty else { return }
            recorder.merge(MergeBatch(events: batch, text: text))
            batch.removeAll(keepingCapacity: true)
            text.removeAll()
        }
        batch.reserveCapacity(count)
        for item in pending.prefix(count) {
            if let json = item.json {
                mergeBatch()
                let resolved = refs.resolve(json.event)
                refs.remember(resolved, seq: recorder.merge(resolved))
                continue
            }
            var event = item.event
            if !item.text.isEmpty {
                let start = text.count
                text.append(contentsOf: item.text)
                event.text = start..<text.count
            }
            batch.append(event)
        }
        mergeBatch()
        pending.removeFirst(count)
    }

    private func reap(_ pid: Int32) {
        let (child, surprise): (ChildProcess?, ExitStatus?) = state.withLock { state in
            var code: Int32 = 0, signal: Int32 = 0
            guard let entry = state.entries[pid] else { return (nil, nil) }
            let status: ExitStatus
            if interleave_reap(pid, &code, &signal) == 0 {
                status = ExitStatus(code: signal == 0 ? code : nil, signal: signal == 0 ? nil : signal)
            } else {
                // Someone else reaped it (SIGCHLD ignored, a stray waitpid(-1)): it is
                // gone, how it ended is unknown.
                status = ExitStatus(code: nil, signal: nil)
            }
            state.entries[pid]?.status = status
            let failed = status.signal != nil || (status.code ?? 0) != 0
            // Died before the run stopped or signalled it: if the run was stopped meanwhile
            // (by another child's death), this death still counts — it came first.
            guard failed, !entry.endedByRun, !state.stopping || control.stopReason == .failed,
                  control.stopReason == nil || control.stopReason == .failed else { return (entry.child, nil) }
            state.unexpected.append(pid)
            return (entry.child, status)
        }
        if let child, let surprise { hooks.withLock { $0.onUnexpectedExit }?(child, surprise) }
        child?.closeInput()
        monitor.lockAndBroadcast()
        shutdownMonitor.lockAndBroadcast()
    }

    private func deliver(_ frame: TraceWireReader.Frame, pid: Int32, pending: inout [PendingEvent],
                         controls: inout [Control]) {
        switch frame {
        case .event(let event, let text):
            pending.append(PendingEvent(event: event, text: text))
        case .json(let event):
            pending.append(PendingEvent(json: event))
        case .control(let object):
            let limit = pending.last(where: { $0.pid == pid })?.ts ?? Int64.min
            controls.append(Control(pid: pid, message: object, limitUs: limit))
        }
    }
}

/// A child event waiting in the reorder window: a binary one (its text fields, if any,
/// a slice of the bytes it was read in), or one that came as JSON.
private struct PendingEvent {
    var event: MergedEvent
    var text: ArraySlice<UInt8> = []
    var json: JSONEvent?

    var ts: Int64 { event.ts }
    var pid: Int32 { event.pid }

    init(event: MergedEvent, text: ArraySlice<UInt8>) {
        self.event = event
        self.text = text
    }

    init(json: TraceEvent) {
        self.event = MergedEvent(ts: json.ts, pid: json.pid, tid: json.tid, cpu: -1, type: JSONEvent.placeholder, lane: 0,
                                 flow: nil)
        self.json = JSONEvent(event: json)
    }
}

private final class JSONEvent {
    let event: TraceEvent
    init(event: TraceEvent) { self.event = event }
    static let placeholder = TraceName("")
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) }
    defer { pointers.forEach { free($0) } }
    return (pointers + [nil]).withUnsafeBufferPointer { body($0.baseAddress!) }
}
