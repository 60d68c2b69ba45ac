import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// multiprocessing.Pipe from a producer process to consumer processes.
    public static let pipe = Experiment(
        id: "pipe",
        title: "Pipe between processes",
        category: "Processes",
        summary: "A producer process writes messages into an OS pipe; consumer processes read them until EOF, racing without a lock.",
        lesson: """
            A pipe is a byte stream the kernel keeps between processes. When the producer closes \
            its end (and nobody else holds a copy of it), every reader gets EOF: pipe.eof on each \
            consumer lane. A pipe knows nothing about messages, though. Two consumers reading it \
            without a lock race for bytes: each read takes whatever is there (here 3 bytes at a \
            time, with a moment of work after each), so one message can be split between two processes and arrive torn, and how \
            many each gets is up to the scheduler (管道数据不安全). With framing=messages each \
            message goes as a length header and its bytes, as Python's Pipe does: a lone reader \
            gets whole messages, but two racing readers can each take part of one frame — one reads \
            the header, the other the body — and the next header it reads is text: a nonsense \
            length, a corrupted frame, where Python raises an unpickling error and the reader dies \
            (here it reports the frame and gives up). With a process-shared lock held \
            for a whole message (管道 + 锁), every message arrives whole, exactly once.
            """,
        parameters: [
            .integer("consumers", 1...8, default: 1, "Consumer processes reading the pipe."),
            .integer("items", 1...1000, default: 10, "Messages the producer writes."),
            .boolean("lock", default: false, "Consumers hold a process-shared lock while reading one whole message."),
            .choice("framing", ["raw", "messages"], default: "raw",
                    "raw: text lines read 3 bytes at a time (a byte stream: messages tear); messages: each message sent as a 4-byte length and its bytes, read as header then body, like Python's Connection.send/recv (racing readers corrupt frames)."),
        ],
        body: runPipe
    )
}

/// A message on the wire: `baozi-7\n`.
private func message(_ item: Int) -> String { "baozi-\(item)" }
private let readBytes = 3

private func runPipe(_ run: RunContext) throws -> JSONObject {
    let consumers = run.params.int("consumers")
    let items = run.params.int("items")
    let locked = run.params.bool("lock")
    let framed = run.params["framing"]?.stringValue == "messages"
    let main = run.main
    let memory = try SharedMemory(size: ProcessLock.size)
    ProcessLock(at: memory.base).initialize()
    var ends: [Int32] = [-1, -1]
    guard interleave_pipe(&ends, 0) == 0 else { throw ProcessSupervisor.SpawnError(description: "pipe: \(errno)") }
    var readEnd = ends[0], writeEnd = ends[1]
    defer {
        if readEnd >= 0 { close(readEnd) }
        if writeEnd >= 0 { close(writeEnd) }
    }
    main.log("produce, consume = Pipe(); \(consumers) consumer process\(consumers == 1 ? "" : "es")\(locked ? " sharing a Lock" : " without a lock")")
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let ready = ReadyLatch(control: run.control)
    let tallies = Mutex<[Int32: JSONObject]>([:])
    let flowBase = run.reserveFlows(items)
    let consumerProcesses = try (1...consumers).map { index in
        try supervisor.spawn(name: "consumer-\(index)", kind: "pipe-consumer",
                             arguments: ["--lock", String(locked), "--items", String(items), "--flow-base", String(flowBase),
                                         "--framed", String(framed)],
                             fds: [(4, memory.fd), (5, readEnd)], from: main) { child, message in
            if message["ctl"] == "tally" { tallies.withLock { $0[child.pid] = message } }
            ready.handler(child, message)
        }
    }
    let died = try run.surviving(supervisor, {
        // The parent's copy of the read end is not needed; consumers hold theirs.
        close(readEnd)
        readEnd = -1
        // Every consumer is blocked in read() before the first byte is written: a real race.
        try ready.wait(for: consumers, on: main)
        let producer = try supervisor.spawn(name: "producer", kind: "pipe-producer",
                                            arguments: ["--items", String(items), "--flow-base", String(flowBase),
                                                        "--framed", String(framed)],
                                            fds: [(5, writeEnd)], from: main)
        // Only the producer may hold the write end, or the consumers would never see EOF.
        close(writeEnd)
        writeEnd = -1
        main.log("the parent closed its copies of both ends")
        try supervisor.join(producer, on: main)
        for consumer in consumerProcesses { try supervisor.join(consumer, on: main) }
        return [:]
    }, onDeath: { death in
        let byPid = tallies.withLock { $0 }
        let whole = byPid.values.reduce(0) { $0 + ($1["whole"]?.arrayValue?.count ?? 0) }
        let sends = run.recorder.events.filter { $0.type == "pipe.send" }.count
        let recvs = run.recorder.events.filter { $0.type == "pipe.recv" && $0.pid == death.child.pid }.count
        return ("the producer had sent \(sends) of \(items) messages; the dead reader had taken \(recvs), which nobody reported, and the survivors reported \(whole) whole",
                ["consumers": .int(consumers), "items": .int(items), "sent": .int(sends)])
    })
    if died["childDied"] != nil { return died }

    let bytesSent = (0..<items).reduce(0) { $0 + message($1).utf8.count + (framed ? 4 : 1) }
    let byPid = tallies.withLock { $0 }
    var whole: [Int] = [], torn = 0, bytes = 0, eofs = 0, corrupt = 0, gaveUp = 0
    var perConsumer: [JSONValue] = []
    for child in consumerProcesses {
        let tally = byPid[child.pid] ?? [:]
        let mine = tally["whole"]?.arrayValue?.compactMap(\.intValue) ?? []
        whole += mine
        torn += tally["torn"]?.intValue ?? 0
        bytes += tally["bytes"]?.intValue ?? 0
        if tally["eof"] == true { eofs += 1 }
        corrupt += tally["corrupt"]?.intValue ?? 0
        if tally["gaveUp"] == true { gaveUp += 1 }
        perConsumer.append(["consumer": .string(child.lane), "whole": .int(mine.count),
                            "torn": tally["torn"] ?? 0, "bytes": tally["bytes"] ?? 0])
    }
    let distinct = Set(whole)
    let duplicates = whole.count - distinct.count
    let missing = items - distinct.count
    let split = perConsumer.compactMap { $0["whole"]?.intValue }.map(String.init).joined(separator: " / ")
    let verdict: String
    let events = run.recorder.events
    if torn == 0 && corrupt == 0 && missing == 0 && duplicates == 0 {
        let luck = framed && consumers > 1 && !locked ? " — no reader split another's frame this time, though nothing prevented it" : ""
        verdict = "All \(items) messages arrived whole exactly once (\(consumers == 1 ? "one consumer" : "split \(split)"))\(locked ? " with the lock held per message" : "")\(framed ? ", framed" : "")\(luck); \(eofs) of \(consumers) consumer\(consumers == 1 ? "" : "s") saw EOF when the producer closed the pipe."
        if let eof = events.first(where: { $0.type == "pipe.eof" }) {
            main.insight("The producer closed its end and nobody else held a copy: every reader's next read returns EOF (end of file), so \(eofs == 1 ? "the consumer stops" : "each consumer stops").",
                         refs: events.filter { $0.type == "pipe.eof" }.map(\.seq) + [eof.seq], kind: .order)
        }
    } else if framed {
        verdict = "With message framing and no lock, \(consumers) consumers raced for frames: \(corrupt) corrupted frame\(corrupt == 1 ? "" : "s") (a reader took another's header or body and read text as a length)\(gaveUp > 0 ? ", \(gaveUp) reader\(gaveUp == 1 ? "" : "s") gave up as Python's recv would raise" : ""); \(distinct.count) of \(items) messages arrived whole, \(missing) never did."
    } else {
        let byteSplit = perConsumer.compactMap { $0["bytes"]?.intValue }.map(String.init).joined(separator: " / ")
        let exact = bytes == bytesSent
        verdict = "Without a lock \(consumers) consumers raced for the bytes (\(byteSplit)): only \(distinct.count) of \(items) messages arrived whole and \(torn) came out torn; \(exact ? "every one of the \(bytesSent) bytes arrived exactly once, just not as whole messages" : "\(bytes) of \(bytesSent) bytes were read")."
    }
    if let bad = events.first(where: { $0.type == "pipe.recv" && ($0.fields["torn"] == true || $0.fields["corrupt"] == true) }) {
        main.insight(bad.fields["corrupt"] == true
            ? "\(bad.lane) read a frame header that was really text (\(bad.fields["item"]?.stringValue ?? "?")): the other reader had taken part of the frame before it."
            : "\(bad.lane) got a torn message (\(bad.fields["item"]?.stringValue ?? "?")): another reader took the rest of its bytes.",
            refs: [bad.seq], kind: .problem)
    }
    return [
        "verdict": .string(verdict), "consumers": .int(consumers), "items": .int(items), "lock": .bool(locked),
        "bytesSent": .int(bytesSent), "bytesReceived": .int(bytes), "whole": .int(distinct.count),
        "torn": .int(torn), "duplicates": .int(duplicates), "missing": .int(missing), "eofSeen": .int(eofs),
        "readBytes": .int(framed ? 0 : locked ? 1 : readBytes), "perConsumer": .array(perConsumer),
        "framing": .string(framed ? "messages" : "raw"), "corrupt": .int(corrupt), "gaveUp": .int(gaveUp),
    ]
}

/// `pipe-producer`: writes `--items` messages to fd 5, then closes it.
@Sendable func pipeProducer(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    let flowBase = worker.int("flow-base")
    lane.start()
    for item in 0..<worker.int("items") {
        lane.emit("pipe.send", flow: flowBase + item, ["pipe": "pipe", "item": .int(item)])
        var bytes = Array((message(item) + "\n").utf8)
        if worker.bool("framed") {
            // A length header, then the bytes: Connection.send's framing (little-endian here).
            let body = Array(message(item).utf8)
            let length = UInt32(body.count)
            bytes = [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)] + body
        }
        guard write(5, &bytes, bytes.count) == bytes.count else {
            // Every reader has gone (gave up on a corrupted frame): nobody to send to.
            lane.log("write failed (\(String(cString: strerror(errno)))): no reader is left; the producer stops")
            break
        }
    }
    lane.log("producer closes its end of the pipe")
    close(5)
    lane.end()
    return 0
}

/// `pipe-consumer`: reads fd 5 until EOF — small reads without a lock, or one
/// whole message at a time under the shared lock at fd 4 — and reports a tally.
@Sendable func pipeConsumer(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    guard let memory = worker.sharedMemory() else { return 5 }
    let lock = ProcessLock(at: memory.base)
    let locked = worker.bool("lock")
    let items = worker.int("items")
    let flowBase = worker.int("flow-base")
    var whole: [Int] = [], torn = 0, bytes = 0
    var pending: [UInt8] = []

    func deliver(_ line: [UInt8], partial: Bool = false) {
        let text = String(decoding: line, as: UTF8.self)
        if !partial, text.hasPrefix("baozi-"), let item = Int(text.dropFirst(6)), item >= 0, item < items, message(item) == text {
            whole.append(item)
            lane.emit("pipe.recv", flow: flowBase + item, ["pipe": "pipe", "item": .int(item)])
            lane.log("\(lane.name) got baozi \(item)")
        } else {
            torn += 1
            lane.emit("pipe.recv", ["pipe": "pipe", "item": .string(text), "torn": true])
        }
    }

    lane.start()
    lane.trace.send(["ctl": "ready"])
    if worker.bool("framed") {
        return framedConsumer(worker, lock: locked ? lock : nil, items: items, flowBase: flowBase, memory: memory)
    }
    var chunk = [UInt8](repeating: 0, count: readBytes)
    readLoop: while true {
        if locked {
            if !lock.tryLock() {
                lane.emit("lock.wait", ["lock": "lock"])
                lock.lock()
            }
            lane.emit("lock.acquire", ["lock": "lock"])
            var line: [UInt8] = []
            var eof = false
            while true {
                let count = read(5, &chunk, 1)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { eof = true; break }
                bytes += 1
                if chunk[0] == 0x0A { break }
                line.append(chunk[0])
            }
            lane.emit("lock.release", ["lock": "lock"])
            lock.unlock()
            if !line.isEmpty { deliver(line, partial: eof) }
            if eof { break readLoop }
        } else {
            let count = read(5, &chunk, readBytes)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break readLoop }
            bytes += count
            pending.append(contentsOf: chunk[..<count])
            while let newline = pending.firstIndex(of: 0x0A) {
                deliver(Array(pending[..<newline]))
                pending.removeFirst(newline + 1)
            }
            // A moment of work after each read (the seed prints every message), in
            // which the other readers take their turn at the pipe.
            usleep(200)
        }
    }
    if !pending.isEmpty { deliver(pending, partial: true) }
    lane.emit("pipe.eof", ["pipe": "pipe"])
    lane.trace.send(["ctl": "tally", "whole": JSONValue(whole), "torn": .int(torn), "bytes": .int(bytes), "eof": true])
    lane.end()
    withExtendedLifetime(memory) {}
    return 0
}

/// Reads exactly `count` bytes from fd 5 (fewer only at EOF), as Connection.recv does.
private func readExactly(_ count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var got = 0
    while got < count {
        let n = out.withUnsafeMutableBytes { read(5, $0.baseAddress! + got, count - got) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        got += n
    }
    return Array(out[..<got])
}

/// The `framing: messages` consumer: header, then body, per message, until EOF — under
/// the lock if given. A header that cannot be a length (text read as one) is a
/// corrupted frame: reported, and the reader gives up, as Python's recv raises.
private func framedConsumer(_ worker: Worker, lock: ProcessLock?, items: Int, flowBase: Int, memory: SharedMemory) -> Int32 {
    let lane = worker.lane
    var whole: [Int] = [], corrupt = 0, bytes = 0, gaveUp = false
    while true {
        if let lock {
            if !lock.tryLock() {
                lane.emit("lock.wait", ["lock": "lock"])
                _ = lock.lock()
            }
            lane.emit("lock.acquire", ["lock": "lock"])
        }
        let header = readExactly(4)
        var body: [UInt8] = []
        var length = 0
        if header.count == 4 {
            length = Int(header[0]) | Int(header[1]) << 8 | Int(header[2]) << 16 | Int(header[3]) << 24
            // Between the two reads Python's recv does work (it is the interpreter); a yield
            // stands for it here. Nothing else arranges who reads when.
            if lock == nil { sched_yield() }
            if length <= 64 { body = readExactly(length) }
        }
        if let lock {
            lane.emit("lock.release", ["lock": "lock"])
            lock.unlock()
        }
        bytes += header.count + body.count
        if header.isEmpty { break }
        let text = String(decoding: body, as: UTF8.self)
        if header.count == 4, length <= 64, body.count == length, text.hasPrefix("baozi-"),
           let item = Int(text.dropFirst(6)), item >= 0, item < items, message(item) == text {
            whole.append(item)
            lane.emit("pipe.recv", flow: flowBase + item, ["pipe": "pipe", "item": .int(item)])
            lane.log("\(lane.name) got baozi \(item)")
        } else {
            corrupt += 1
            let shown = String(decoding: header + body, as: UTF8.self).map { $0.isASCII && !$0.isWhitespace ? String($0) : "·" }.joined()
            lane.emit("pipe.recv", ["pipe": "pipe", "item": .string(shown), "corrupt": true, "length": .int(length)])
            if length > 64 || header.count < 4 {
                lane.log("corrupted frame: header \(shown) is not a length (\(length)); recv would raise, the reader gives up")
                gaveUp = true
                break
            }
        }
        usleep(200)
    }
    if !gaveUp { lane.emit("pipe.eof", ["pipe": "pipe"]) }
    lane.trace.send(["ctl": "tally", "whole": JSONValue(whole), "torn": 0, "bytes": .int(bytes), "eof": .bool(!gaveUp),
                     "corrupt": .int(corrupt), "gaveUp": .bool(gaveUp)])
    lane.end()
    withExtendedLifetime(memory) {}
    return 0
}
