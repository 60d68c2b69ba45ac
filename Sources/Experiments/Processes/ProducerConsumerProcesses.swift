import CSystem
import Glibc
import JSON
import Primitives
import Tracing

/// The `processes` backend of `producer-consumer`: the same P producers, C consumers,
/// bounded queue and sentinels, but every producer and consumer is its own process
/// and the queue lives in shared memory (a process-shared mutex and conditions).
/// Reads the parameters `producers`, `consumers`, `items`, `capacity`, `produceMs`,
/// `consumeMs` (defaults as the threads backend's if absent).
func producerConsumerProcesses(_ run: RunContext) throws -> JSONObject {
    let producers = run.params["producers"]?.intValue ?? 2
    let consumers = run.params["consumers"]?.intValue ?? 2
    let items = run.params["items"]?.intValue ?? 20
    let capacity = run.params["capacity"]?.intValue ?? 4
    let produceMs = run.params["produceMs"]?.intValue ?? 10
    let consumeMs = run.params["consumeMs"]?.intValue ?? 30
    let main = run.main
    let memory = try SharedMemory(size: ProcessQueue.size(capacity: capacity))
    let queue = ProcessQueue(at: memory.base)
    queue.initialize(capacity: capacity)
    defer { withExtendedLifetime(memory) {} }  // `queue` points into it
    main.log("q = multiprocessing.Queue(maxsize=\(capacity)) in shared memory; \(producers) producer and \(consumers) consumer processes, \(items) items")
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let flowBase = run.reserveFlows(items + 1) - 1  // item k (1-based) gets flowBase + k
    let shared: [(child: Int32, parent: Int32)] = [(4, memory.fd)]
    let consumerProcesses = try (1...consumers).map { index in
        try supervisor.spawn(name: "consumer-\(index)", kind: "queue-consumer",
                             arguments: ["--consume-ms", String(consumeMs)], fds: shared, from: main)
    }
    var producerProcesses: [ChildProcess] = []
    for index in 1...producers {
        // Items 1…items dealt round-robin: producer k makes k, k+P, k+2P, …
        let count = index <= items ? (items - index) / producers + 1 : 0
        producerProcesses.append(try supervisor.spawn(
            name: "producer-\(index)", kind: "queue-producer",
            arguments: ["--first", String(index), "--step", String(producers), "--count", String(count),
                        "--flow-base", String(flowBase), "--produce-ms", String(produceMs), "--sentinels", "0"],
            fds: shared, from: main))
    }
    let died = try run.surviving(supervisor, {
        for producer in producerProcesses { try supervisor.join(producer, on: main) }
        main.log("all producers joined; put one sentinel per consumer")
        for _ in 1...consumers {
            // The parent never blocks uninterruptibly: try, and wait a moment while full.
            var put: (size: Int, atNs: UInt64)?
            var reportedFull = false
            while true {
                put = queue.tryPut(stopItem, flow: 0)
                if put != nil { break }
                if !reportedFull { main.emit("queue.full", ["queue": "q", "waiting": true]) }
                reportedFull = true
                try run.sleep(ms: 1)
            }
            main.emit("queue.put", ["queue": "q", "item": "STOP", "size": .int(put!.size)])
        }
        for consumer in consumerProcesses { try supervisor.join(consumer, on: main) }
        return [:]
    }, onDeath: { death in
        let tally = QueueTally(run.recorder.events)
        return ("\(tally.allItems.count) of \(items) items had been consumed (\(tally.gets[death.child.pid]?.count ?? 0) by the dead process); the rest never were",
                ["backend": "processes", "items": .int(items), "consumed": .int(tally.allItems.count)])
    })
    if died["childDied"] != nil { return died }

    let events = run.recorder.events
    let tally = QueueTally(events)
    let all = tally.allItems
    let exactlyOnce = all.sorted() == Array(1...items)
    let maxDepth = events.filter { $0.type == "queue.put" }.compactMap { $0.fields["size"]?.intValue }.max() ?? 0
    let verdict = exactlyOnce
        ? "All \(items) items went from \(producers) producer processes to \(consumers) consumer processes exactly once; the shared queue never held more than \(maxDepth) of its \(capacity) slots."
        : "Consumed \(all.count) items for \(items) produced — some were lost or duplicated."
    return [
        "verdict": .string(verdict), "backend": "processes",
        "producers": .int(producers), "consumers": .int(consumers), "items": .int(items), "capacity": .int(capacity),
        "consumed": .int(all.count), "exactlyOnce": .bool(exactlyOnce), "maxDepth": .int(maxDepth),
        "perConsumer": .array(consumerProcesses.enumerated().map {
            ["consumer": .string("consumer-\($0.offset + 1)"), "pid": .int(Int($0.element.pid)),
             "count": .int(tally.gets[$0.element.pid]?.count ?? 0)]
        }),
        "parentPid": .int(Int(getpid())),
    ]
}
