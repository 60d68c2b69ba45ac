import CSystem
import Experiments
import HTTPServer
import JSON
import Primitives
import Synchronization

/// Controlled schedules over HTTP: stepping a `schedule=step` run, and exploring seeded
/// schedules of one experiment.
extension API {
    static func addScheduleRoutes(to router: inout Router, playground: Playground) {
        router.add("POST", "/api/runs/{id}/step") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            let object = try Body.object(request, allowed: ["lane", "steps"])
            _ = try playground.snapshot(id)
            guard let schedule = playground.liveRun(id)?.execution.control.schedule, schedule.mode == .step else {
                throw Problem(status: 409, title: "Not a stepped run",
                              detail: "run \(id.prefix(80)) is not a live run with schedule \"step\"; start one with "
                                  + "{\"params\":{\"schedule\":\"step\"}}", slug: "not-stepped")
            }
            let lane = object["lane"]
            if let lane, lane.stringValue == nil {
                throw Body.invalid("lane must be the name of a lane that can go (a string)", field: "lane")
            }
            var steps = 1
            if let value = object["steps"] {
                guard let count = value.intValue, (1...10_000).contains(count) else {
                    throw Body.invalid("steps must be an integer between 1 and 10000 (got \(value.jsonString.prefix(40)))", field: "steps")
                }
                guard lane == nil else { throw Body.invalid("give either lane or steps, not both", field: "steps") }
                steps = count
            }
            // The run may still be getting to its next point (a step just taken elsewhere).
            schedule.waitUntilPaused(timeoutMs: 2_000)
            let taken: Int
            do throws(ScheduleController.StepError) {
                taken = try schedule.step(lane: lane?.stringValue, steps: steps)
            } catch {
                throw Problem(status: 409, title: "Cannot step", detail: error.detail, slug: "cannot-step",
                              extra: lane == nil ? [:] : ["field": "lane"])
            }
            schedule.waitUntilPaused(timeoutMs: 2_000)
            return .json([
                "steps": .int(taken), "choices": JSONValue(schedule.choices),
                "pending": .array(schedule.pending.map(\.json)),
                "status": .string((try? playground.snapshot(id))?.status.rawValue ?? "unknown"),
            ])
        }

        router.add("POST", "/api/explore") { request throws(Problem) in
            let object = try Body.object(request, allowed: ["experiment", "params", "seeds", "firstSeed"])
            guard let experimentID = object["experiment"]?.stringValue else {
                throw Body.invalid("experiment must name a thread experiment, e.g. \"race-condition\"", field: "experiment")
            }
            guard let experiment = Catalog.experiment(experimentID) else {
                throw Problem.unknownExperiment(experimentID, field: "experiment")
            }
            guard ScheduleParameters.controllable.contains(experiment.id) else {
                let known = ScheduleParameters.controllable.sorted().joined(separator: ", ")
                throw Body.invalid("\(experiment.id) cannot run under a controlled schedule; these can: \(known)", field: "experiment")
            }
            var supplied = object["params"]?.objectValue ?? [:]
            if let params = object["params"], params.objectValue == nil, params != .null {
                throw Body.invalid("params must be an object (got \(params.typeName))", field: "params")
            }
            // Each explored run gets its own seeded schedule: the schedule is not the caller's to give.
            for key in ["schedule", "seed", "choices"] where supplied[key] != nil {
                throw Body.invalid("an exploration gives each run its own seeded schedule; leave out params.\(key)",
                                   field: "params.\(key)")
            }
            supplied["schedule"] = "free"
            let params: Parameters
            do throws(ParameterError) {
                params = try experiment.resolve(.object(supplied))
            } catch {
                throw Body.invalid(error.detail, field: error.parameter.map { "params.\($0)" } ?? "params")
            }
            let seeds = try integer(object["seeds"], "seeds", 1...1000, default: 100)
            let firstSeed = try integer(object["firstSeed"], "firstSeed", 0...2_000_000_000, default: 1)
            guard explorations.withLock({ count in
                guard count < 1 else { return false }
                count += 1
                return true
            }) else {
                throw Problem(status: 429, title: "Too many explorations",
                              detail: "one exploration runs at a time; wait for it to finish", slug: "too-many-explorations",
                              headers: [("Retry-After", "5")])
            }
            let answer = DeferredBody()
            let explore = Explore.Request(experiment: experiment, params: params, seeds: seeds, firstSeed: firstSeed)
            // The whole exploration has the run deadline too (each of its runs has it as well):
            // past it, the report covers the seeds that ran and says the rest did not.
            let deadlineMs = playground.configuration.runDeadlineMs
            let deadlineNs = interleave_monotonic_ns() + UInt64(deadlineMs) * 1_000_000
            _ = TracedThread(name: "explore", detached: true) {
                defer { explorations.withLock { $0 -= 1 } }
                var report = Explore.run(explore, deadlineMs: deadlineMs) {
                    answer.isAbandoned || playground.isShuttingDown || interleave_monotonic_ns() >= deadlineNs
                }
                report["seedsRequested"] = .int(seeds)
                let runs = report["runs"]?.intValue ?? 0
                if runs < seeds, let verdict = report["verdict"]?.stringValue {
                    report["stoppedEarly"] = true
                    let why = playground.isShuttingDown ? "the server is stopping" : "the exploration deadline of \(deadlineMs) ms"
                    report["verdict"] = .string("Stopped by \(why) after \(runs) of \(seeds) seeds: " + verdict)
                }
                answer.fulfil(Array(JSONValue.object(report).jsonString.utf8))
            }
            return .stream(answer, contentType: "application/json")
        }
    }

    private static let explorations = Mutex(0)

    private static func integer(_ value: JSONValue?, _ name: String, _ range: ClosedRange<Int>, default fallback: Int) throws(Problem) -> Int {
        guard let value else { return fallback }
        guard let int = value.intValue, range.contains(int) else {
            throw Body.invalid("\(name) must be an integer between \(range.lowerBound) and \(range.upperBound) (got \(value.jsonString.prefix(40)))",
                          field: name)
        }
        return int
    }
}

/// A response body that is ready later: the connection waits (suspended, holding no
/// thread) until `fulfil`, then sends the bytes and ends.
final class DeferredBody: StreamSource {
    private struct State {
        var bytes: [UInt8]?
        var sent = false
        var wake: (@Sendable () -> Void)?
        var closed = false
    }

    private let state = Mutex(State())

    var isAbandoned: Bool { state.withLock { $0.closed } }

    func fulfil(_ bytes: [UInt8]) {
        let wake = state.withLock { state in
            state.bytes = bytes
            defer { state.wake = nil }
            return state.wake
        }
        wake?()
    }

    func next(wake: @escaping @Sendable () -> Void) -> StreamChunk {
        state.withLock { state in
            if state.sent { return .end }
            if let bytes = state.bytes {
                state.sent = true
                return .data(bytes)
            }
            state.wake = wake
            return .wait
        }
    }

    func close() { state.withLock { $0.closed = true } }
}
