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

/// Tests that count children and threads of this process must not overlap each other.
let processTestLock = NSLock()
