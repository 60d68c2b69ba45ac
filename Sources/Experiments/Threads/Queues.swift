import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// queue.Queue / LifoQueue / PriorityQueue: order, bounded blocking, put_nowait/get_nowait.
    public static let queues = Experiment(
        id: "queues",
        title: "Queues: FIFO, LIFO, priority",
        category: "Threads",
        summary: "Items 1…N go through a thread-safe queue: FIFO returns them in order, LIFO reversed, priority by priority; bounded puts block; nowait calls fail with Full/Empty.",
        lesson: """
            queue.Queue is first-in first-out, LifoQueue last-in first-out (a stack), \
            PriorityQueue hands out the smallest priority first (seeded random priorities; ties in \
            insertion order). The queue.put and queue.get of one item share a flow arrow. With a \
            capacity (maxsize) a put into a full queue blocks (queue.full waiting: true) until a get \
            makes room; the consumer here takes one item each time the queue is full and the \
            producer is blocked, then drains it, so the order is the same on every run. With \
            nowait, put_nowait into a full queue raises queue.Full and get_nowait on an empty one \
            raises queue.Empty at once (queue.full / queue.empty with waiting: false) instead of \
            blocking. All of queue's classes are thread-safe (线程安全).
            """,
        parameters: [
            .choice("kind", ["fifo", "lifo", "priority"], default: "fifo", "Queue, LifoQueue or PriorityQueue."),
            .integer("items", 1...1000, default: 6, "Items to put (1…items)."),
            .integer("capacity", 0...1000, default: 0, "maxsize: 0 is unbounded."),
            .boolean("nowait", default: false, "Use put_nowait/get_nowait on one thread: fail with Full/Empty instead of blocking."),
            .integer("seed", 0...1_000_000, default: 1, "Seed of the priorities (priority queue)."),
        ],
        body: runQueues
    )
}

/// Priorities 1…9 from a small seeded generator.
func queuePriorities(count: Int, seed: Int) -> [Int] {
    var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 0x5151
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % 9) + 1
    }
}

/// The order a queue of `kind` hands items back when the producer fills it to
/// `capacity` and the consumer takes one each time it is full with a put waiting, then
/// drains it (or, with `accepted`, after every put is done) — the experiment's protocol.
func expectedQueueOrder(kind: TracedQueue.Kind, items: [Int], priorities: [Int: Int], capacity: Int) -> [Int] {
    var buffer: [Int] = []
    var next = 0
    var out: [Int] = []
    func takeOne() {
        let index = switch kind {
        case .fifo: 0
        case .lifo: buffer.count - 1
        case .priority: buffer.indices.min { (priorities[buffer[$0]]!, $0) < (priorities[buffer[$1]]!, $1) }!
        }
        out.append(buffer.remove(at: index))
    }
    while out.count < items.count {
        while next < items.count, capacity == 0 || buffer.count < capacity {
            buffer.append(items[next])
            next += 1
        }
        takeOne()
    }
    return out
}

private func runQueues(_ run: RunContext) throws -> JSONObject {
    let kind = TracedQueue.Kind(rawValue: run.params.string("kind"))!
    let items = run.params.int("items")
    let capacity = run.params.int("capacity")
    let nowait = run.params.bool("nowait")
    let priorityList = queuePriorities(count: items, seed: run.params.int("seed"))
    let priorities = Dictionary(uniqueKeysWithValues: (1...items).map { ($0, priorityList[$0 - 1]) })
    let pythonName = switch kind { case .fifo: "Queue"; case .lifo: "LifoQueue"; case .priority: "PriorityQueue" }
    let queue = TracedQueue("q", kind: kind, capacity: capacity, depthCounter: "queue size", control: run.control)
    let main = run.main
    main.log("q = queue.\(pythonName)(maxsize=\(capacity))")
    let gets = Mutex<[Int]>([])
    var accepted: [Int] = []
    var full = 0, empty = 0

    if nowait {
        if try queue.get(on: main, block: false) == nil {
            empty += 1
            main.log("q.get_nowait() on an empty queue: raises queue.Empty")
        }
        for item in 1...items {
            if try queue.put(.int(item), priority: kind == .priority ? priorities[item] : nil, on: main, block: false) {
                accepted.append(item)
            } else {
                full += 1
                main.log("q.put_nowait(\(item)): raises queue.Full — item \(item) not queued")
            }
        }
        while let item = try queue.get(on: main, block: false) {
            gets.withLock { $0.append(item.value.intValue ?? 0) }
        }
        empty += 1
        main.log("q.get_nowait(): raises queue.Empty — the queue is drained")
    } else {
        accepted = Array(1...items)
        let producer = run.spawn("producer") { lane in
            for item in 1...items {
                try queue.put(.int(item), priority: kind == .priority ? priorities[item] : nil, on: lane)
            }
        }
        let consumer = run.spawn("consumer") { lane in
            for _ in 1...items {
                // One get each time the queue is full with a put blocked on it, then drain.
                try queue.waitUntil { state in
                    state.totalPuts == items || (capacity > 0 && state.size >= capacity && state.blockedPutters > 0)
                }
                if let item = try queue.get(on: lane) { gets.withLock { $0.append(item.value.intValue ?? 0) } }
            }
        }
        producer.join()
        consumer.join()
        try run.check()
        full = run.recorder.events.count { $0.type == "queue.full" }
    }
    let order = gets.withLock { $0 }
    let putEvents = run.recorded(["queue.put"])
    if let firstGet = run.recorded(["queue.get"]).first, let item = firstGet.int("item") {
        let put = putEvents.first { $0.int("item") == item }
        let text = switch kind {
        case .fifo: "The first get returns item \(item), the first one put: a Queue hands items out in the order they went in."
        case .lifo: "The first get returns item \(item), the last one put before it: a LifoQueue hands out the newest item first."
        case .priority: "The first get returns item \(item), priority \(priorities[item] ?? 0): of the items waiting in the queue it has the smallest priority, so a PriorityQueue hands it out first, whatever the put order."
        }
        main.insight(text, refs: [put?.seq, firstGet.seq], kind: .order)
    }
    if let blocked = run.recorded(["queue.full"], where: { $0.bool("waiting") }).first {
        main.insight("The queue is full (maxsize \(capacity)): \(blocked.lane)'s put blocks (amber) until a get makes room.",
                     refs: [blocked.seq, run.recorded(["queue.get"]) { $0.seq > blocked.seq }.first?.seq], kind: .timing)
    }
    if nowait, let refused = run.recorded(["queue.full", "queue.empty"]).first {
        main.insight("put_nowait / get_nowait never block: on a full or empty queue they fail at once (◆) instead.", refs: [refused.seq], kind: .info)
    }
    let expected = expectedQueueOrder(kind: kind, items: accepted, priorities: priorities,
                                      capacity: nowait ? 0 : capacity)
    let rule = switch kind {
    case .fifo: "in put order"
    case .lifo: capacity == 0 || nowait ? "in reverse put order" : "last-in first-out among what was queued at each get"
    case .priority: capacity == 0 || nowait ? "by ascending priority" : "smallest priority first among what was queued at each get"
    }
    var verdict = order == expected
        ? "\(pythonName) returned \(order.count) items \(rule)"
        : "\(pythonName) returned \(order.count) items in an unexpected order"
    if nowait {
        verdict += "; put_nowait raised Full \(full) time(s) and get_nowait raised Empty \(empty) time(s) instead of blocking."
    } else if full > 0 {
        verdict += "; \(full) put(s) blocked on the full queue (maxsize \(capacity)) until a get made room."
    } else {
        verdict += "."
    }
    var summary: JSONObject = [
        "verdict": .string(verdict),
        "kind": .string(kind.rawValue), "items": .int(items), "capacity": .int(capacity), "nowait": .bool(nowait),
        "putOrder": JSONValue(accepted), "getOrder": JSONValue(order), "expectedOrder": JSONValue(expected),
        "inExpectedOrder": .bool(order == expected), "maxSize": .int(queue.maxSize),
        "full": .int(full), "empty": .int(empty),
    ]
    if kind == .priority { summary["priorities"] = JSONValue(accepted.map { priorities[$0]! }) }
    return summary
}
