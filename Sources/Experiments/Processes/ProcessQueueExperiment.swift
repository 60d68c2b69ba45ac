import CSystem
import Glibc
import JSON
import Primitives
import Tracing

extension Experiment {
    /// multiprocessing.Queue between a producer process and consumer processes.
    public static let processQueue = Experiment(
        id: "process-queue",
        title: "Queue between processes",
        category: "Processes",
        summary: "One producer process puts items into a queue in shared memory; consumer processes get them.",
        lesson: """
            Processes share no memory by default (进程间数据是独立的), so they talk through a queue \
            the OS lets them share: here a ring buffer in a shared-memory file, guarded by a \
            process-shared mutex and condition variables. Every queue.put happens in the \
            producer's pid and its queue.get in a consumer's pid; the flow arrow links each pair \
            across the process boundary. Each item is taken exactly once, whichever consumer gets \
            it; after its items the producer puts one STOP per consumer, and each consumer ends on \
            its STOP.
            """,
        parameters: [
            .integer("items", 1...1000, default: 5, "Items the producer puts."),
            .integer("consumers", 1...8, default: 1, "Consumer processes."),
        ],
        body: runProcessQueue
    )
}

private func runProcessQueue(_ run: RunContext) throws -> JSONObject {
    let items = run.params.int("items")
    let consumers = run.params.int("consumers")
    let main = run.main
    let memory = try SharedMemory(size: ProcessQueue.size(capacity: items + consumers))
    ProcessQueue(at: memory.base).initialize(capacity: items + consumers)
    main.log("q = Queue() in shared memory; 1 producer process, \(consumers) consumer processes, \(items) items")
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let flowBase = run.reserveFlows(items)
    let shared: [(child: Int32, parent: Int32)] = [(4, memory.fd)]
    let consumerProcesses = try (1...consumers).map { index in
        try supervisor.spawn(name: "consumer-\(index)", kind: "queue-consumer", fds: shared, from: main)
    }
    let producer = try supervisor.spawn(
        name: "producer", kind: "queue-producer",
        arguments: ["--first", "0", "--count", String(items), "--step", "1", "--flow-base", String(flowBase),
                    "--sentinels", String(consumers)],
        fds: shared, from: main)
    let died = try run.surviving(supervisor, {
        try supervisor.join(producer, on: main)
        for consumer in consumerProcesses { try supervisor.join(consumer, on: main) }
        return [:]
    }, onDeath: { death in
        let tally = QueueTally(run.recorder.events)
        let puts = run.recorder.events.filter { $0.type == "queue.put" && $0.fields["item"]?.intValue != nil }.count
        let its = tally.gets[death.child.pid]?.count ?? 0
        return ("\(puts) of \(items) items had been put and \(tally.allItems.count) taken (\(its) by the dead process); \(items - tally.allItems.count) never reached a consumer",
                ["items": .int(items), "consumers": .int(consumers), "received": .int(tally.allItems.count)])
    })
    if died["childDied"] != nil { return died }

    let tally = QueueTally(run.recorder.events)
    let perConsumer = consumerProcesses.map { child -> JSONValue in
        ["consumer": .string(child.lane), "got": .int(tally.gets[child.pid]?.count ?? 0)]
    }
    let exactlyOnce = tally.allItems.sorted() == Array(0..<items)
    let verdict = exactlyOnce
        ? "All \(items) items crossed from the producer (pid \(producer.pid)) to \(consumers) consumer process\(consumers == 1 ? "" : "es") exactly once."
        : "\(tally.allItems.count) items were received for \(items) put: some were lost or duplicated."
    if let put = run.recorder.events.first(where: { $0.type == "queue.put" && $0.flow != nil }),
       let get = run.recorder.events.first(where: { $0.type == "queue.get" && $0.flow == put.flow }) {
        main.insight("Item \(put.fields["item"]?.intValue ?? 0) is put in pid \(put.pid) and taken in pid \(get.pid): the queue carries it across the process boundary, where no variable could.",
                     refs: [put.seq, get.seq], kind: .actor)
    }
    return [
        "verdict": .string(verdict), "items": .int(items), "consumers": .int(consumers),
        "received": .int(tally.allItems.count), "exactlyOnce": .bool(exactlyOnce),
        "producerPid": .int(Int(producer.pid)), "perConsumer": .array(perConsumer),
    ]
}

/// Who got what, read back from the merged trace.
struct QueueTally {
    var gets: [Int32: [Int]] = [:]
    var allItems: [Int] { gets.values.flatMap { $0 } }

    init(_ events: [TraceEvent]) {
        for event in events where event.type == "queue.get" {
            if let item = event.fields["item"]?.intValue { gets[event.pid, default: []].append(item) }
        }
    }
}

let stopItem = -1

/// `queue-producer`: puts `--count` items `--first`, `--first + --step`, … (each
/// flow `--flow-base + item`), sleeping `--produce-ms` before each, then
/// `--sentinels` STOP items.
@Sendable func queueProducer(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    guard let memory = worker.sharedMemory() else { return 5 }
    let queue = ProcessQueue(at: memory.base)
    let name = worker.options["queue"] ?? "q"
    lane.start()
    let first = worker.int("first"), step = worker.int("step", 1), flowBase = worker.int("flow-base")
    let produceMs = worker.int("produce-ms")
    for index in 0..<worker.int("count") {
        let item = first + index * step
        if produceMs > 0 { worker.sleep(ms: produceMs) }
        put(queue, item, flow: flowBase + item, name: name, lane: lane)
    }
    for _ in 0..<worker.int("sentinels") { put(queue, stopItem, flow: nil, name: name, lane: lane) }
    lane.end()
    withExtendedLifetime(memory) {}
    return 0
}

private func put(_ queue: ProcessQueue, _ item: Int, flow: Int?, name: String, lane: WorkerLane) {
    let before = interleave_monotonic_ns()
    let result = queue.put(item, flow: flow ?? 0)
    if result.foundFull { lane.emit("queue.full", atNs: before, ["queue": .string(name), "waiting": true]) }
    let shown: JSONValue = item == stopItem ? "STOP" : .int(item)
    lane.emit("queue.put", flow: flow, atNs: result.atNs, ["queue": .string(name), "item": shown, "size": .int(result.size)])
}

/// `queue-consumer`: gets until a STOP, sleeping `--consume-ms` after each item.
@Sendable func queueConsumer(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    guard let memory = worker.sharedMemory() else { return 5 }
    let queue = ProcessQueue(at: memory.base)
    let name = worker.options["queue"] ?? "q"
    let consumeMs = worker.int("consume-ms")
    lane.start()
    while true {
        let before = interleave_monotonic_ns()
        let got = queue.get()
        if got.foundEmpty { lane.emit("queue.empty", atNs: before, ["queue": .string(name), "waiting": true]) }
        if got.item == stopItem {
            lane.emit("queue.get", atNs: got.atNs, ["queue": .string(name), "item": "STOP", "size": .int(got.size)])
            lane.log("got STOP: stop")
            break
        }
        lane.emit("queue.get", flow: got.flow, atNs: got.atNs, ["queue": .string(name), "item": .int(got.item), "size": .int(got.size)])
        if consumeMs > 0 { worker.sleep(ms: consumeMs) }
    }
    lane.end()
    withExtendedLifetime(memory) {}
    return 0
}
