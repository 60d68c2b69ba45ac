import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// P producers, C consumers, one bounded queue, a sentinel per consumer.
    public static let producerConsumer = Experiment(
        id: "producer-consumer",
        title: "Producer–consumer",
        category: "Threads",
        summary: "P producer threads put items into a bounded queue, C consumer threads take them; one sentinel per consumer ends them.",
        lesson: """
            The queue decouples producing from consuming (生产者消费者模型): producers put as fast \
            as the queue lets them — a full queue blocks them (queue.full waiting: true) — and \
            consumers take whatever is there, blocking while it is empty. The queue depth counter \
            never rises above capacity. Each item's put and get share a flow arrow, so you can follow \
            every item from its producer to the consumer that got it: each is consumed exactly once. \
            When every producer is joined, main puts one sentinel (None) per consumer; a consumer \
            that gets one stops. With backend=processes every producer and consumer is its own \
            process and the queue lives in shared memory, as multiprocessing.Queue does. A bug \
            in the notes' version (002) not to copy: its consumer tests `if baozi:`, so the item 0 \
            reads as the sentinel and the consumer stops early — compare with `is None`, as here.
            """,
        parameters: [
            .integer("producers", 1...16, default: 2, "Producer threads."),
            .integer("consumers", 1...16, default: 2, "Consumer threads."),
            .integer("items", 1...10_000, default: 20, "Items produced in all, split among the producers."),
            .integer("capacity", 1...1000, default: 4, "The queue's maxsize."),
            .choice("backend", ["threads", "processes"], default: "threads",
                    "threads: one queue in memory; processes: each producer and consumer a process, the queue in shared memory."),
            .integer("produceMs", 0...10_000, default: 10, "How long producing one item takes, in milliseconds."),
            .integer("consumeMs", 0...10_000, default: 30, "How long consuming one item takes, in milliseconds."),
        ],
        body: runProducerConsumer
    )
}

private func runProducerConsumer(_ run: RunContext) throws -> JSONObject {
    if run.params.string("backend") == "processes" { return try producerConsumerProcesses(run) }
    let producers = run.params.int("producers")
    let consumers = run.params.int("consumers")
    let items = run.params.int("items")
    let capacity = run.params.int("capacity")
    let produceMs = run.params.int("produceMs")
    let consumeMs = run.params.int("consumeMs")
    let queue = TracedQueue("q", capacity: capacity, depthCounter: "queue depth", control: run.control)
    let consumed = Mutex<[Int: [Int]]>([:])
    run.main.log("q = Queue(maxsize=\(capacity)); \(producers) producers, \(consumers) consumers, \(items) items")

    var producerThreads: [TracedThread] = []
    for index in 1...producers {
        // Items 1…items dealt round-robin: producer k makes k, k+P, k+2P, …
        let mine = Array(stride(from: index, through: items, by: producers))
        producerThreads.append(run.spawn("producer-\(index)") { lane in
            for item in mine {
                try run.sleep(ms: produceMs, on: lane)
                try queue.put(.int(item), on: lane)
            }
        })
    }
    var consumerThreads: [TracedThread] = []
    for index in 1...consumers {
        consumerThreads.append(run.spawn("consumer-\(index)") { lane in
            while true {
                guard let item = try queue.get(on: lane), let value = item.value.intValue else {
                    lane.log("got the sentinel (None): stop")
                    return
                }
                consumed.withLock { $0[index, default: []].append(value) }
                try run.sleep(ms: consumeMs, on: lane)
            }
        })
    }
    for thread in producerThreads { thread.join() }
    try run.check()
    run.main.log("all producers joined; put one sentinel per consumer")
    for _ in 1...consumers { try queue.put(.null, on: run.main) }
    for thread in consumerThreads { thread.join() }
    try run.check()

    if let firstPut = run.recorded(["queue.put"], where: { $0.flow != nil && $0.lane.hasPrefix("producer") }).first,
       let got = run.recorded(["queue.get"], where: { $0.flow == firstPut.flow }).first {
        run.main.insight("Item \(firstPut.int("item") ?? 0), put by \(firstPut.lane), is taken by \(got.lane): the arrow follows one item through the queue; whoever is free takes the next one.",
                         refs: [firstPut.seq, got.seq], kind: .actor)
    }
    if let blocked = run.recorded(["queue.full"], where: { $0.bool("waiting") }).first {
        run.main.insight("The queue is full (\(capacity) items): \(blocked.lane) blocks in put (amber) until a consumer takes one — the producers run ahead of the consumers.",
                         refs: [blocked.seq], kind: .timing)
    }
    let sentinels = run.recorded(["queue.get"]) { $0["item"] == .null }
    if !sentinels.isEmpty {
        run.main.insight("One sentinel (None) per consumer: each consumer stops when it gets one.", refs: sentinels.map(\.seq), kind: .order)
    }
    let perConsumer = consumed.withLock { $0 }
    let all = perConsumer.values.flatMap { $0 }
    let exactlyOnce = all.sorted() == Array(1...items)
    let maxDepth = queue.maxSize
    let verdict = exactlyOnce
        ? "All \(items) items were consumed exactly once by \(consumers) consumers; the queue never held more than \(maxDepth) of its \(capacity) slots."
        : "Consumed \(all.count) items for \(items) produced — some were lost or duplicated."
    return [
        "verdict": .string(verdict),
        "producers": .int(producers), "consumers": .int(consumers), "items": .int(items), "capacity": .int(capacity),
        "consumed": .int(all.count), "exactlyOnce": .bool(exactlyOnce), "maxDepth": .int(maxDepth),
        "perConsumer": .array((1...consumers).map { ["consumer": .string("consumer-\($0)"), "count": .int(perConsumer[$0]?.count ?? 0)] }),
    ]
}
