import Experiments
import JSON
import Testing
import Tracing

/// One run of an experiment at the edge of its ranges, and what its verdict must agree with.
struct VerdictCase: Sendable, CustomTestStringConvertible {
    let id: String
    let params: JSONValue
    var deadlineMs = 20_000
    /// Checks the verdict against the summary's own figures and the trace.
    let check: @Sendable (_ outcome: RunOutcome, _ events: [TraceEvent], _ verdict: String) -> Void

    var testDescription: String { "\(id) \(params.jsonString)" }
}

/// Every verdict states what its run did (issue #8, "Verdicts from facts"): each case runs
/// an experiment at the minimum or maximum of the parameters that matter, scaled down to
/// stay fast, and checks each claim of the verdict against the summary's figures — "faster"
/// only with a measured speedup above 1, "N exited with code 0" only with N zeros among
/// the exits, a callback count only where callbacks ran.
extension ProcessExperimentTests {
    @Suite struct VerdictEdgeTests {
        @Test(arguments: VerdictEdgeTests.cases)
        func verdictAgreesWithTheRunsOwnFigures(_ c: VerdictCase) throws {
            let (outcome, events) = try ProcessRuns.run(c.id, c.params, deadlineMs: c.deadlineMs)
            let verdict = try #require(outcome.summary["verdict"]?.stringValue)
            c.check(outcome, events, verdict)
            // The tracer cost run.end reports is the final summary's, and counts every event
            // of the trace, run.end included (what GET /api/runs/{id} serves).
            let runEnd = try #require(events.last)
            #expect(runEnd.type == "run.end")
            #expect(runEnd.fields["summary"]?["tracer"] == outcome.summary["tracer"])
            #expect(outcome.summary["tracer"]?["events"]?.intValue == events.count)
        }

        static let cases: [VerdictCase] = sequentialVsConcurrent + processes + threadPool + processPool
            + timedOut + threads + deadlock + manager

        // MARK: sequential-vs-concurrent: the words follow the measured speedups

        static func speedupWords(_ speedup: Double) -> String {
            speedup >= 1.8 ? "about halved the time" : speedup >= 1.1 ? "cut the time by only"
                : speedup > 0.9 ? "saved nothing" : "was slower"
        }

        static let sequentialVsConcurrent = [
            ["taskMs": 10, "steps": 1], ["taskMs": 10, "steps": 3],
        ].map { (params: JSONValue) in
            VerdictCase(id: "sequential-vs-concurrent", params: params) { outcome, _, verdict in
                #expect(outcome.status == .completed)
                for (who, key) in [("two threads", "speedupThreads"), ("two processes", "speedupProcesses")] {
                    let speedup = outcome.summary[key]?.doubleValue ?? -1
                    #expect(verdict.contains("\(who) \(speedupWords(speedup))"), "\(key) \(speedup): \(verdict)")
                    #expect(verdict.contains("(\(speedup)×)") || verdict.contains("only \(speedup)×"), "\(verdict)")
                }
            }
        }

        // MARK: processes: signals and exit codes as the exits list has them

        static func exitFigures(_ summary: JSONObject) -> (zeros: Int, signalled: Int, unfinishedSignalled: Int) {
            let children = summary["children"]?.arrayValue ?? []
            let zeros = children.filter { $0["exitCode"] == 0 }.count
            let signalled = children.filter { $0["signal"] != nil }
            return (zeros, signalled.count, signalled.filter { ($0["steps"]?.intValue ?? 0) < 3 }.count)
        }

        static let processes: [VerdictCase] = [
            ("kill", 3), ("terminate", 16), ("kill", 1), ("daemon", 3), ("daemon", 1),
        ].map { action, count in
            VerdictCase(id: "processes", params: ["count": .int(count), "action": .string(action), "workMs": 0]) { outcome, _, verdict in
                #expect(outcome.status == .completed)
                let (zeros, signalled, cutShort) = exitFigures(outcome.summary)
                #expect(zeros + signalled == count, "every child exited or was signalled: \(verdict)")
                #expect(outcome.summary["exitedZero"]?.intValue == zeros)
                #expect(outcome.summary["signalled"]?.intValue == signalled)
                if action == "daemon" {
                    #expect(verdict.contains("\(zeros) had already exited with code 0"), "\(verdict)")
                    if signalled == 0 {
                        #expect(verdict.contains("none was terminated"), "\(verdict)")
                    } else if signalled == cutShort {
                        #expect(verdict.contains("\(signalled) \(signalled == 1 ? "was" : "were") terminated with"), "\(verdict)")
                    } else {
                        #expect(verdict.contains("(\(cutShort) with"), "\(verdict)")
                    }
                } else {
                    #expect(verdict.contains("\(signalled) ended by the signal, \(zeros) had already exited with code 0"), "\(verdict)")
                }
            }
        } + [("serial", 1), ("join", 1), ("kill-one", 1), ("kill-one", 3)].map { action, count in
            VerdictCase(id: "processes", params: ["count": .int(count), "action": .string(action), "workMs": 0]) { outcome, _, verdict in
                #expect(outcome.status == .completed)
                let (zeros, signalled, _) = exitFigures(outcome.summary)
                #expect(zeros + signalled == count)
                // "exits: 2 × exit code 0, 1 × SIGKILL" — each group as the exits list has it.
                if zeros > 0 { #expect(verdict.contains("\(zeros) × exit code 0"), "\(verdict)") }
                if signalled > 0 { #expect(verdict.contains("\(signalled) × SIG"), "\(verdict)") }
            }
        }

        // MARK: thread-pool: "faster" only with a speedup above 1

        static let threadPool: [VerdictCase] = [
            ["tasks": 0], ["tasks": 12, "taskMs": 0], ["workers": 1, "tasks": 3, "taskMs": 5, "jitterPct": 0],
            ["workers": 64, "tasks": 4, "taskMs": 5], ["workers": 4, "tasks": 8, "taskMs": 5, "mode": "sync"],
            ["workers": 4, "tasks": 6, "taskMs": 4, "lock": true], ["workers": 64, "tasks": 5, "taskMs": 0, "lock": true],
            ["workers": 1, "tasks": 3, "taskMs": 2, "lock": true, "mode": "map"],
        ].map { (params: JSONValue) in
            VerdictCase(id: "thread-pool", params: params) { outcome, events, verdict in
                #expect(outcome.status == .completed)
                let tasks = outcome.summary["tasks"]?.intValue ?? -1
                let speedup = outcome.summary["speedup"]?.doubleValue ?? -1
                #expect(!verdict.contains("0.0×"), "\(verdict)")
                #expect(verdict.contains("× faster") == (speedup > 1 && (outcome.summary["workMs"]?.intValue ?? 0) > 0), "speedup \(speedup): \(verdict)")
                if tasks == 0 { #expect(verdict.hasPrefix("No tasks were submitted")) }
                #expect(events.of("task.start").count == tasks)
                if params["lock"] == true, tasks > 0 {
                    let most = outcome.summary["insideLockAtOnce"]?.intValue ?? -1
                    #expect(most == 1 && verdict.contains("at most 1 task at a time was inside it"), "\(verdict)")
                    let waits = events.of("lock.wait").count
                    #expect(verdict.contains("(\(waits) wait\(waits == 1 ? "" : "s") for it)"), "\(verdict)")
                    let order = outcome.summary["printOrder"]?.arrayValue?.compactMap(\.intValue) ?? []
                    #expect(order.sorted() == Array(0..<tasks))
                    #expect(verdict.contains(order == order.sorted() ? "in submit order this time" : "not in submit order"))
                }
            }
        }

        // MARK: process-pool: callbacks only where the call takes one

        static let processPool: [VerdictCase] = [
            ("apply_async", 2, 1), ("apply", 2, 1), ("map", 3, 2), ("submit", 2, 4), ("sync", 1, 1), ("apply_async", 0, 1),
        ].map { mode, tasks, workers in
            VerdictCase(id: "process-pool", params: ["mode": .string(mode), "tasks": .int(tasks), "workers": .int(workers), "taskMs": 0]) { outcome, events, verdict in
                #expect(outcome.status == .completed)
                let callbacks = events.of("task.callback").count
                #expect(outcome.summary["callbacks"]?.intValue == callbacks)
                if mode == "apply_async" {
                    #expect(callbacks == tasks)
                    if tasks > 0 { #expect(verdict.contains("\(callbacks) callback\(callbacks == 1 ? "" : "s") ran in the parent"), "\(verdict)") }
                } else {
                    #expect(callbacks == 0, "\(mode) takes no callback")
                    #expect(!verdict.contains("callbacks ran") && !verdict.contains("callback ran"), "\(verdict)")
                }
                #expect(events.of("task.start").count == tasks)
            }
        }

        // MARK: a timed-out process run says its children were ended, as many as it started

        static let timedOut = [
            VerdictCase(id: "processes", params: ["count": 2, "workMs": 10_000], deadlineMs: 300) { outcome, events, verdict in
                #expect(outcome.status == .timedOut)
                // How many children were up by the deadline is the machine's doing; the verdict names that many.
                let spawned = events.of("process.spawn").count
                if spawned == 0 {
                    #expect(verdict.hasSuffix("every thread was stopped and joined."), "\(verdict)")
                } else {
                    #expect(verdict.contains("the \(spawned) child process\(spawned == 1 ? " it started was" : "es it started were") ended and reaped"), "\(verdict)")
                }
            },
        ]

        // MARK: threads: daemons cut off, as many as the lanes say

        static let threads: [VerdictCase] = [
            ["count": 1, "workMs": 0, "daemons": 64, "daemonWorkMs": 10_000],
            ["count": 64, "workMs": 0, "daemons": 1, "daemonWorkMs": 0],
            ["count": 2, "workMs": 0, "daemons": 0],
            ["count": 1, "workMs": 0, "daemon": true, "daemons": 2, "daemonWorkMs": 0],
        ].map { (params: JSONValue) in
            VerdictCase(id: "threads", params: params) { outcome, events, verdict in
                #expect(outcome.status == .completed)
                let cutOff = events.of("lane.end").filter { $0.fields["cutOff"] == true }.map(\.lane)
                let daemons = outcome.summary["daemons"]?.intValue ?? -1
                #expect(daemons == (params["daemon"] == true ? params["count"]!.intValue! : 0) + params["daemons"]!.intValue!)
                if daemons == 0 {
                    #expect(cutOff.isEmpty && verdict.contains("joined them all"))
                } else {
                    #expect(outcome.summary["stillRunningAtMainEnd"]?.intValue == cutOff.count)
                    #expect(verdict.contains("\(cutOff.count) of \(daemons) daemon threads"), "\(verdict)")
                }
                #expect(events.everyLaneEnded)
            }
        }

        // MARK: deadlock with Locks and RLocks at the edges of the table

        static let deadlock: [VerdictCase] = [
            ["philosophers": 16, "strategy": "naive", "holdMs": 0, "lockKind": "rlock"],
            ["philosophers": 2, "strategy": "naive", "holdMs": 0, "lockKind": "lock"],
            ["philosophers": 2, "strategy": "trylock", "holdMs": 0, "lockKind": "rlock"],
            ["philosophers": 16, "strategy": "ordered", "holdMs": 0, "lockKind": "rlock", "meals": 1],
            ["philosophers": 2, "strategy": "naive", "holdMs": 0, "lockKind": "rlock", "schedule": "seeded", "seed": 3],
        ].map { (params: JSONValue) in
            VerdictCase(id: "deadlock", params: params) { outcome, events, verdict in
                let count = params["philosophers"]!.intValue!
                let kind = params["lockKind"] == "rlock" ? "RLock" : "Lock"
                if let cycle = events.of("deadlock.detected").first?.fields["cycle"]?.arrayValue {
                    #expect(outcome.status == .deadlocked)
                    #expect(verdict.contains("\(cycle.count)-edge wait-for cycle") && verdict.contains(kind), "\(verdict)")
                    let holders = Set(events.of("lock.acquire").map(\.lane)).count
                    #expect(verdict.contains("\(holders) of \(count) philosophers held a fork"), "\(verdict)")
                } else {
                    #expect(outcome.status == .completed)
                    let eaten = outcome.summary["mealsEaten"]?.intValue ?? -1
                    #expect(verdict.contains("\(eaten) of \(outcome.summary["mealsPlanned"]?.intValue ?? -1) meals"), "\(verdict)")
                    #expect(verdict.contains("\(kind)s"), "\(verdict)")
                }
            }
        }

        // MARK: manager: the loss is the final count, with and without the lock

        static let manager: [VerdictCase] = [
            ["processes": 1, "lock": false], ["processes": 3, "lock": true], ["processes": 4, "lock": false, "start": "together"],
        ].map { (params: JSONValue) in
            VerdictCase(id: "manager", params: params) { outcome, events, verdict in
                #expect(outcome.status == .completed)
                let lost = outcome.summary["lost"]?.intValue ?? -1
                let lostWrites = events.of("var.write").filter { $0.fields["lost"] == true }.count
                #expect(outcome.summary["final"]?.intValue == lost)
                #expect(outcome.summary["overwrites"]?.intValue == lostWrites)
                if lost == 0 {
                    #expect(verdict.contains("lost none") || verdict.contains("count ended at 0"), "\(verdict)")
                } else {
                    #expect(verdict.contains("lost \(lost) of"), "\(verdict)")
                }
                if params["lock"] == true { #expect(lost == 0) }
            }
        }
    }
}
