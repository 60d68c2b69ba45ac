import CSystem
import Glibc
import JSON
import Primitives
import Tracing

extension Experiment {
    /// Seed 003: generators, greenlet, gevent and the monkey patch.
    public static let coroutines = Experiment(
        id: "coroutines",
        title: "Coroutines: generator, greenlet, gevent",
        category: "Async",
        summary: "Coroutines take turns on ONE OS thread by real stack switching: a driver calling next(), greenlets switching by hand, or a gevent hub switching at every cooperative sleep.",
        lesson: """
            Every lane here is a coroutine, and every event on them carries the same tid: one OS \
            thread, switching stacks. The switch is real — each coroutine has its own stack, and a \
            small C shim saves one CPU context and restores another (makecontext/swapcontext, what \
            greenlet does for CPython) — but these are Swift functions, not Python generators or \
            greenlets: an emulation of the mechanisms, labelled as one. Arrows are hand-offs of the \
            thread. generator: main calls next() on work1, work2… in turn; each runs to its yield \
            and the arrow comes back (the notes' work1/work2). A bug in the notes' driver (003) not \
            to copy: `while True: try: next(g1); next(g2) except StopIteration: pass` never exits — \
            once the generators are spent every next() raises StopIteration, the except swallows it \
            and the loop spins forever at full CPU; `break` there (or iterate with zip), as this \
            driver stops once every generator has finished. greenlet: g1.switch() hands the thread \
            straight to g2, no scheduler in between; when g1 returns, control goes to its parent \
            (main) and the unfinished greenlets are killed with GreenletExit when collected. Their \
            time.sleep calls block the thread, so the time is the sum of all steps. gevent: a hub \
            (an epoll loop) switches to another greenlet whenever one calls gevent.sleep, so the \
            sleeps overlap and the time is about one coroutine's. With blocking, work1 calls the \
            real time.sleep: the whole thread stops inside it and nobody else runs (≈ the sum \
            again) — unless monkeyPatch replaces time.sleep by gevent.sleep (gevent.monkey.patch_all()).
            """,
        parameters: [
            .choice("style", ["generator", "greenlet", "gevent"], default: "gevent", "How the coroutines switch."),
            .integer("tasks", 1...16, default: 2, "Coroutines (work1, work2, …)."),
            .integer("steps", 1...100, default: 5, "Steps each coroutine takes."),
            .integer("stepMs", 0...2000, default: 100, "How long each step sleeps."),
            .boolean("blocking", default: false, "gevent: work1 calls the real, blocking time.sleep."),
            .boolean("monkeyPatch", default: false, "gevent: monkey.patch_all() first, so time.sleep is gevent.sleep."),
        ],
        body: runCoroutines
    )
}

private struct CoroutineRun {
    let run: RunContext
    let tasks: Int
    let steps: Int
    let stepMs: Int
    let host: CoroutineHost
    let switches: SwitchTrace
    var lanes: [Lane] = []
    /// Seqs worth pointing at, by what they show.
    var marks: [String: Int] = [:]
}

private func runCoroutines(_ run: RunContext) throws -> JSONObject {
    let style = run.params.string("style")
    let tasks = run.params.int("tasks")
    let steps = run.params.int("steps")
    let stepMs = run.params.int("stepMs")
    let blocking = run.params.bool("blocking")
    let patched = run.params.bool("monkeyPatch")
    let main = run.main
    let sumMs = Double(tasks * steps * stepMs)
    let longestMs = Double(steps * stepMs)
    let start = run.recorder.elapsedMicros

    var figures: JSONObject
    switch style {
    case "generator": figures = try runGenerators(run, tasks: tasks, steps: steps, stepMs: stepMs)
    case "greenlet": figures = try runGreenlets(run, tasks: tasks, steps: steps, stepMs: stepMs)
    default: figures = try runGevent(run, tasks: tasks, steps: steps, stepMs: stepMs, blocking: blocking, patched: patched)
    }
    let elapsedMs = milliseconds(since: start, run)

    // One OS thread: every coroutine event's tid, counted from the trace itself.
    let names = Set((1...tasks).map { style == "greenlet" ? "g\($0)" : "work\($0)" } + ["hub"])
    let coroutineEvents = run.recorder.events.filter { names.contains($0.lane) }
    let tids = Set(coroutineEvents.map(\.tid))
    if let first = coroutineEvents.first, let last = coroutineEvents.last {
        main.insight("Every event on the coroutine lanes — \(coroutineEvents.count) of them — carries tid \(tids.sorted().map(String.init).joined(separator: ", ")): one OS thread, switching stacks.",
                     refs: [first.seq, last.seq], kind: .actor)
    }

    let near = closerTo(elapsedMs, sum: sumMs, max: longestMs)
    let stalled = figures["blockingSleeps"]?.intValue ?? 0
    let how: String
    switch style {
    case "generator": how = "main called next() on each generator in turn and every step's time.sleep blocked the thread"
    case "greenlet": how = "the greenlets switched by hand and every time.sleep blocked the thread"
    default:
        if stalled > 0 { how = "work1's unpatched time.sleep blocked the thread \(stalled) times and everyone waited" }
        else if blocking && patched { how = "the monkey patch turned work1's time.sleep into gevent.sleep, so the hub kept switching" }
        else { how = "the hub switched to another greenlet at every gevent.sleep" }
    }
    let comparison = tasks == 1 || stepMs == 0
        ? "\(Int(elapsedMs.rounded())) ms"
        : "\(Int(elapsedMs.rounded())) ms, close to \(near == "sum" ? "the \(Int(sumMs)) ms sum of all steps" : "one coroutine's \(Int(longestMs)) ms") rather than \(near == "sum" ? "one coroutine's \(Int(longestMs)) ms" : "the \(Int(sumMs)) ms sum")"
    let verdict = "\(style): \(tasks) coroutine\(tasks == 1 ? "" : "s") × \(steps) steps of \(stepMs) ms took \(comparison) — \(how); all on \(tids.count) OS thread\(tids.count == 1 ? "" : "s")."
    figures["verdict"] = .string(verdict)
    figures["style"] = .string(style)
    figures["elapsedMs"] = .double(round1(elapsedMs))
    figures["sumMs"] = .double(sumMs)
    figures["longestMs"] = .double(longestMs)
    figures["closerTo"] = .string(near)
    figures["osThreads"] = .int(tids.count)
    return figures
}

// MARK: generator

/// The notes' work1/work2 generators: main calls next(g1), next(g2) in turn until
/// each raises StopIteration. A step's time.sleep blocks the thread (nothing else can run).
private func runGenerators(_ run: RunContext, tasks: Int, steps: Int, stepMs: Int) throws -> JSONObject {
    let host = CoroutineHost()
    let trace = SwitchTrace(recorder: run.recorder)
    let main = run.main
    var yielded: [Int?] = Array(repeating: nil, count: tasks)
    var generators: [Coroutine] = []
    var firstYield: Int?
    for index in 0..<tasks {
        let lane = run.lane("work\(index + 1)", kind: .coroutine)
        let generator = Coroutine(lane.name, host: host) {
            lane.start()
            trace.resumed(on: lane)
            do {
            for step in 0..<steps {
                lane.log("---work\(index + 1)获取数据\(step)")
                if stepMs > 0 { try timeSleep(run, stepMs, on: lane) }
                yielded[index] = step
                let seq = trace.switching(from: lane, to: "main", ["yield": .int(step)])
                if firstYield == nil { firstYield = seq }
                try host.current!.suspend()
                trace.resumed(on: lane)
            }
            lane.log("StopIteration")
            lane.end()
            } catch let interrupted as RunInterrupted {
                lane.emit("lane.end", ["cutOff": true, "reason": .string(interrupted.reason.rawValue)])
                throw interrupted
            }
        }
        generators.append(generator)
    }
    defer { host.finishAll(throwing: RunInterrupted(run.control.stopReason ?? .runEnded)) }
    var nexts = 0
    var firstNext: Int?
    try main.phase("while True: next(g1); next(g2)") {
        while generators.contains(where: { !$0.isFinished }) {
            for (index, generator) in generators.enumerated() where !generator.isFinished {
                try run.check()
                let seq = trace.switching(from: main, to: generator.name, ["call": .string("next(g\(index + 1))")])
                if firstNext == nil { firstNext = seq }
                yielded[index] = nil
                host.resume(generator)
                nexts += 1
                if let error = generator.error { throw error }
                trace.resumed(on: main, yielded[index].map { ["value": .int($0)] } ?? ["stopIteration": true])
            }
        }
    }
    main.insight("next(g1) runs work1 up to its yield on the same thread, and the arrow comes straight back to main with the value: a generator only runs while someone calls next() on it.",
                 refs: [firstNext, trace.handOffs.first?.resumeSeq, firstYield], kind: .order)
    return ["nextCalls": .int(nexts), "switches": .int(host.switches), "blockingSleeps": .int(0)]
}

// MARK: greenlet

/// The notes' test1/test2: each greenlet prints, switches to the next, then sleeps
/// (blocking). When g1 returns, control goes to its parent, main; the others stay
/// suspended until greenlet throws GreenletExit into them.
private struct GreenletExit: Error {}

private func runGreenlets(_ run: RunContext, tasks: Int, steps: Int, stepMs: Int) throws -> JSONObject {
    let host = CoroutineHost()
    let trace = SwitchTrace(recorder: run.recorder)
    let main = run.main
    var greenlets: [Coroutine] = []
    var lanes: [Lane] = []
    var killed: [Int?] = []
    for index in 0..<tasks {
        let lane = run.lane("g\(index + 1)", kind: .coroutine)
        lanes.append(lane)
        let greenlet = Coroutine(lane.name, host: host) {
            lane.start()
            trace.resumed(on: lane)
            do {
                for step in 0..<steps {
                    lane.log("\(step)")
                    let next = greenlets[(index + 1) % tasks]
                    let me = greenlets[index]
                    if next !== me, !next.isFinished {
                        trace.switching(from: lane, to: next.name, ["call": .string("g\((index + 1) % tasks + 1).switch()")])
                        try me.switchTo(next)
                        trace.resumed(on: lane)
                    }
                    if stepMs > 0 { try timeSleep(run, stepMs, on: lane) }
                }
                lane.end()
            } catch is GreenletExit {
                killed.append(lane.emit("lane.end", ["cutOff": true, "reason": "GreenletExit"]))
            } catch let interrupted as RunInterrupted {
                lane.emit("lane.end", ["cutOff": true, "reason": .string(interrupted.reason.rawValue)])
                throw interrupted
            }
        }
        greenlets.append(greenlet)
    }
    // However this ends, no greenlet stays suspended on its stack.
    defer { host.finishAll(throwing: RunInterrupted(run.control.stopReason ?? .runEnded)) }
    try main.phase("g1.switch()") {
        trace.switching(from: main, to: "g1", ["call": "g1.switch()"])
        host.resume(greenlets[0])
        try run.check()
    }
    let finisher = greenlets.firstIndex { $0.isFinished }
    let returned = say(main, "g\((finisher ?? 0) + 1) returned: control is back in main, its parent")
    let leftovers = greenlets.filter { $0.started && !$0.isFinished }.map(\.name)
    var exitRef: Int?
    if !leftovers.isEmpty {
        main.phase("garbage collection") {
            main.log("\(leftovers.joined(separator: ", ")) never finished: greenlet throws GreenletExit into \(leftovers.count == 1 ? "it" : "them")")
            host.finishAll(throwing: GreenletExit())
        }
        exitRef = killed.compactMap { $0 }.first
    }
    for greenlet in greenlets { if let error = greenlet.error, !(error is GreenletExit) { throw error } }
    let handOff = trace.handOffs.dropFirst().first
    main.insight("g1.switch() hands the thread straight to g2 — the arrow goes from one coroutine to the other with no scheduler in between, and g1 continues only when someone switches back to it.",
                 refs: [handOff?.switchSeq, handOff?.resumeSeq], kind: .order)
    if exitRef != nil {
        main.insight("When g1 returned, control went to its parent (main), not to \(leftovers.joined(separator: ", ")): greenlets only run when switched to, so \(leftovers.count == 1 ? "that one was" : "those were") left suspended and killed with GreenletExit.",
                     refs: [returned, exitRef], kind: .info)
    }
    return ["switches": .int(host.switches), "leftSuspended": .array(leftovers.map { .string($0) }), "blockingSleeps": .int(0)]
}

// MARK: gevent

private func runGevent(_ run: RunContext, tasks: Int, steps: Int, stepMs: Int, blocking: Bool, patched: Bool) throws -> JSONObject {
    let hubLane = run.lane("hub", kind: .coroutine)
    let hub = try EventLoop(lane: hubLane, control: run.control)
    let trace = SwitchTrace(recorder: run.recorder)
    let main = run.main
    hub.willResume = { next in trace.switching(from: hubLane, to: next.name) }
    var finished = 0
    var blockingSleeps = 0
    var marks: [String: Int] = [:]
    if blocking && patched { main.log("from gevent import monkey; monkey.patch_all()") }
    hubLane.start()
    defer { hubLane.end() }
    var greenlets: [Coroutine] = []
    for index in 0..<tasks {
        let lane = run.lane("work\(index + 1)", kind: .coroutine)
        let greenlet = Coroutine(lane.name, host: hub.host) {
            lane.start()
            trace.resumed(on: lane)
            do {
                for step in 0..<steps {
                    let seq = say(lane, "work\(index + 1):\(step)")
                    if index == 1, marks["otherStep"] == nil, marks["sleep"] != nil { marks["otherStep"] = seq }
                    if index == 1, marks["afterBlock"] == nil, marks["blockEnd"] != nil { marks["afterBlock"] = seq }
                    guard stepMs > 0 || index == 0 && blocking else { continue }
                    if index == 0 && blocking && !patched {
                        // The real time.sleep: this OS thread stops here; the hub cannot run.
                        let (begin, end) = try timeSleep(run, stepMs, on: lane)
                        blockingSleeps += 1
                        if marks["blockBegin"] == nil { marks["blockBegin"] = begin; marks["blockEnd"] = end }
                        continue
                    }
                    let op = index == 0 && blocking ? "time.sleep(\(pythonSeconds(stepMs))) → gevent.sleep (patched)" : "gevent.sleep(\(pythonSeconds(stepMs)))"
                    let begin = lane.emit("io.begin", ["op": .string(op)])
                    if index == 0, marks["sleep"] == nil { marks["sleep"] = begin }
                    try hub.sleep(ms: stepMs)
                    trace.resumed(on: lane)
                    lane.emit("io.end", ["op": .string(op)])
                }
                finished += 1
                lane.end()
            } catch let interrupted as RunInterrupted {
                lane.emit("lane.end", ["cutOff": true, "reason": .string(interrupted.reason.rawValue)])
                throw interrupted
            }
        }
        greenlets.append(greenlet)
        main.log("g\(index + 1) = gevent.spawn(work\(index + 1))")
        hub.schedule(greenlet)
    }
    let joinOp = "gevent.joinall([\((1...tasks).map { "g\($0)" }.joined(separator: ", "))])"
    main.emit("io.begin", ["op": .string(joinOp)])
    try hub.run(until: { finished == tasks })
    main.emit("io.end", ["op": .string(joinOp)])
    for greenlet in greenlets { if let error = greenlet.error, !(error is RunInterrupted) { throw error } }

    if blockingSleeps > 0 {
        main.insight("work1's unpatched time.sleep stops the one OS thread: from the start of the sleep to its end no other coroutine does anything, and work2's next step comes only after it.",
                     refs: [marks["blockBegin"], marks["blockEnd"], marks["afterBlock"]], kind: .problem)
    } else if tasks > 1 {
        main.insight("work1's \(blocking ? "patched time.sleep" : "gevent.sleep") hands the thread to the hub, which switches to work2: work2's step runs while work1 sleeps.",
                     refs: [marks["sleep"], trace.handOffs.first { _ in true }?.switchSeq, marks["otherStep"]],
                     kind: blocking ? .success : .timing)
    } else {
        main.insight("With one greenlet the hub has nobody to switch to: it waits in epoll_wait while work1 sleeps.",
                     refs: [marks["sleep"]], kind: .info)
    }
    return ["switches": .int(hub.host.switches), "blockingSleeps": .int(blockingSleeps),
            "hubEpollWaits": .int(hub.epollWaits), "hubIdleMs": .double(round1(Double(hub.idleNs) / 1e6))]
}

/// `log {message}` that returns its seq, for insights to point at.
@discardableResult
func say(_ lane: Lane, _ message: String) -> Int? { lane.emit("log", ["message": .string(message)]) }

/// time.sleep on a coroutine: a real sleep of the one OS thread, so nothing else runs
/// until it returns (`io.begin/io.end {op: "time.sleep(0.1)", blocking: true}`).
@discardableResult
func timeSleep(_ run: RunContext, _ ms: Int, on lane: Lane) throws(RunInterrupted) -> (begin: Int?, end: Int?) {
    let op = JSONValue.string("time.sleep(\(pythonSeconds(ms)))")
    let begin = lane.emit("io.begin", ["op": op, "blocking": true])
    try run.sleep(ms: ms)
    let end = lane.emit("io.end", ["op": op])
    return (begin, end)
}
