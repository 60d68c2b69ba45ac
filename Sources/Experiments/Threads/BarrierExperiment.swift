import JSON
import Primitives
import Tracing

extension Experiment {
    /// threading.Barrier(parties): everyone waits for the last one, round after round.
    public static let barrier = Experiment(
        id: "barrier",
        title: "Barrier: wait for the last",
        category: "Threads",
        summary: "P threads work for different times, then meet at a barrier; nobody passes a round before the last one arrives.",
        lesson: """
            Each party works for a different time (party k works k × workMs), then calls \
            barrier.wait. Early arrivals block; the last party's barrier.wait (last: true) releases \
            all of them at once — every barrier.pass of that round carries the flow from it, so the \
            arrows fan out from the slowest thread. The round takes as long as its slowest party; \
            then the next round begins.
            """,
        parameters: [
            .integer("parties", 2...32, default: 3, "Threads that must meet at the barrier."),
            .integer("rounds", 1...100, default: 2, "How many times they meet."),
            .integer("workMs", 0...10_000, default: 50, "Party k works k × workMs (rotating each round) before it arrives."),
        ],
        body: runBarrier
    )
}

private func runBarrier(_ run: RunContext) throws -> JSONObject {
    let parties = run.params.int("parties")
    let rounds = run.params.int("rounds")
    let workMs = run.params.int("workMs")
    let barrier = TracedBarrier("barrier", parties: parties, control: run.control)
    run.main.log("barrier = threading.Barrier(\(parties)); \(rounds) rounds")
    run.main.phaseBegin("round 1")

    var threads: [TracedThread] = []
    for index in 1...parties {
        threads.append(run.spawn("party-\(index)") { lane in
            for round in 0..<rounds {
                // Rotate who is slowest, so each round a different party releases the rest.
                let rank = (index - 1 + round) % parties + 1
                try run.sleep(ms: rank * workMs, on: lane)
                try barrier.wait(on: lane)
                // The slowest party of the round closes it on the phase row and opens the next.
                if rank == parties {
                    lane.phaseEnd("round \(round + 1)")
                    if round + 1 < rounds { lane.phaseBegin("round \(round + 2)") }
                }
            }
        })
    }
    for thread in threads { thread.join() }
    try run.check()
    if let last = run.recorded(["barrier.wait"], where: { $0.int("round") == 0 && $0.bool("last") }).first {
        let passes = run.recorded(["barrier.pass"]) { $0.int("round") == 0 }
        run.main.insight("Round 1 lasts as long as its slowest party: \(last.lane) arrives last, and its arrival releases all \(parties) at once (the arrows fan out from it).",
                         refs: [last.seq] + passes.map(\.seq), kind: .timing)
    }
    return [
        "verdict": .string("\(parties) parties met \(rounds) time(s); in every round nobody passed before the last party arrived, so each round lasted as long as its slowest party (\(parties * workMs) ms)."),
        "parties": .int(parties), "rounds": .int(rounds),
    ]
}
