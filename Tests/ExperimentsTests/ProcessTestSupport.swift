import CSystem
import Primitives
import Experiments
import Foundation
import JSON
import Testing
import Tracing

/// Runs a process experiment in this test process and reads /proc around it.
enum ProcessRuns {
    static func run(_ id: String, _ params: JSONValue, deadlineMs: Int = 20_000) throws -> (RunOutcome, [TraceEvent]) {
        let experiment = Catalog.experiment(id)!
        let execution = ExperimentRun(id: "test-\(id)", experiment: experiment, params: try experiment.resolve(params),
                                      deadlineMs: deadlineMs)
        let outcome = execution.runToEnd()
        return (outcome, execution.recorder.events)
    }

    /// Starts a run, waits until `ready` holds for its trace, stops it with `reason`.
    static func stop(_ id: String, _ params: JSONValue, reason: StopReason, when ready: ([TraceEvent]) -> Bool)
        throws -> (RunOutcome, [TraceEvent])
    {
        let experiment = Catalog.experiment(id)!
        let execution = ExperimentRun(id: "stop-\(id)", experiment: experiment, params: try experiment.resolve(params))
        execution.start()
        let deadline = Date().addingTimeInterval(20)
        while !ready(execution.recorder.events) && Date() < deadline { usleep(1000) }
        execution.control.stop(reason)
        let outcome = execution.wait()
        return (outcome, execution.recorder.events)
    }

    /// Pids whose parent is this process, with their state letter (Z = zombie).
    static func children() -> [(pid: Int32, state: Character)] {
        let me = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { name -> (Int32, Character)? in
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            guard fields.count > 1, Int32(fields[1]) == me else { return nil }
            return (pid, fields[0].first!)
        }
    }

    static func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno == EPERM }

    static func events(_ events: [TraceEvent], _ type: String) -> [TraceEvent] { events.filter { $0.type == type } }
}


/// Every process experiment suite nests here, so they run one at a time: the
/// cleanup checks look at this process's children and threads.
@Suite(.serialized) struct ProcessExperimentTests {}

extension ProcessRuns {
    /// Names of this process's threads (from /proc/self/task/*/comm).
    static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// The child pids a run's trace names in its process.spawn events.
    static func spawnedPids(_ events: [TraceEvent]) -> [Int32] {
        events.filter { $0.type == "process.spawn" }.compactMap { $0.fields["childPid"]?.intValue }.map { Int32($0) }
    }

    /// Polls until `condition` holds or `seconds` pass; never a fixed sleep.
    static func eventually(within seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(2000)
        }
        return condition()
    }
}

extension ProcessRuns {
    /// Pids of live (non-zombie) processes whose parent is `parent`.
    static func processes(withParent parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { name -> Int32? in
            guard let pid = Int32(name), let (ppid, state) = status(pid), ppid == parent, state != "Z" else { return nil }
            return pid
        }
    }

    /// Running means present in /proc and not a zombie (an orphan zombie is dead;
    /// reaping it is init's business).
    static func isRunning(_ pid: Int32) -> Bool {
        guard let (_, state) = status(pid) else { return false }
        return state != "Z" && state != "X"
    }

    static func status(_ pid: Int32) -> (ppid: Int32, state: Character)? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard fields.count > 1, let ppid = Int32(fields[1]) else { return nil }
        return (ppid, fields[0].first!)
    }
}
