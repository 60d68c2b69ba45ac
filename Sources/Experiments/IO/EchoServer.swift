import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// The notes' socket chat servers, as echo servers with real loopback clients.
    public static let echoServer = Experiment(
        id: "echo-server",
        title: "Echo server",
        category: "IO",
        summary: "A real server on a loopback port and C client threads sending R requests each: thread per connection, thread pool, process pool, epoll event loop, or the UDP dict server.",
        lesson: """
            Every arrow is a request crossing a real socket: from a client's send to the server's \
            recv, and back. thread-per-connection starts one server thread per accepted connection \
            (Thread(target=func, args=(conn,)).start()): as many server lanes as clients. \
            thread-pool hands each connection to one of W threads (pool.submit(func, conn)): a client \
            whose connection waits for a free worker waits for its first reply — see its long first \
            recv. process-pool is Pool.apply_async(func, (conn,)): the parent accepts, and the \
            connection's descriptor travels to a worker process over a Unix socket (SCM_RIGHTS), so \
            the recv and send lanes carry the workers' pids. event-loop serves every connection on \
            ONE thread: its epoll_wait returns the sockets that are ready, several at once. udp-dict \
            is the UDP homework: no connections at all, one socket, and each client's messages are \
            filed in a dict under its address (127.0.0.1:port). The first 20 requests of each \
            client are drawn; every request is answered and timed.
            """,
        parameters: [
            .choice("model", ["thread-per-connection", "thread-pool", "process-pool", "event-loop", "udp-dict"],
                    default: "thread-per-connection",
                    "How the server serves its clients."),
            .integer("clients", 1...256, default: 8, "Client threads, each with its own connection (or UDP socket)."),
            .integer("requests", 1...10_000, default: 20, "Requests each client sends, one at a time, waiting for each echo."),
            .integer("workers", 1...32, default: 4, "Server threads (thread-pool) or worker processes (process-pool)."),
        ],
        body: runEchoServer
    )
}

/// What the server side did, whatever its model.
final class EchoServerStats: Sendable {
    struct State {
        var threads: Set<Int32> = []
        var processes: Set<Int32> = []
        var answered = 0
        var openConnections = 0
        /// Per connection: how long it waited between accept and its worker taking it.
        var queueWaitUs: [Int: Int64] = [:]
        var maxReady = 0
        var dict: [String: Int] = [:]
    }

    let state = Mutex(State())

    func worked(tid: Int32 = interleave_tid(), pid: Int32 = getpid()) {
        state.withLock {
            $0.threads.insert(tid)
            $0.processes.insert(pid)
        }
    }

    func answered(_ count: Int) { state.withLock { $0.answered += count } }

    /// Counts a connection opening (+1) or closing (-1), drawn as the `open connections` counter.
    func connections(_ delta: Int, on lane: Lane) {
        let value = state.withLock { state in
            state.openConnections += delta
            return state.openConnections
        }
        lane.counter("open connections", value)
    }
}

private func runEchoServer(_ run: RunContext) throws -> JSONObject {
    let model = run.params.string("model")
    let clients = run.params.int("clients")
    let requests = run.params.int("requests")
    let workers = run.params.int("workers")
    let main = run.main
    let waker = try StopWaker(control: run.control)
    let udp = model == "udp-dict"
    let listener = udp ? try Socket.udp(receiveBuffer: 1 << 20) : try Socket.listenTCP()
    defer { listener.close() }
    let port = listener.localPort
    main.log(udp ? "sk = socket(AF_INET, SOCK_DGRAM); sk.bind(('127.0.0.1', \(port)))"
                 : "sk = socket(); sk.bind(('127.0.0.1', \(port))); sk.listen()")
    let stats = EchoServerStats()
    let tally = EchoTally()

    main.phaseBegin("serve")
    var startNs = interleave_monotonic_ns()
    var clientThreads: [TracedThread] = []
    // The clients start once the server is ready to serve (a process pool's workers are
    // up), so the figures time serving, not process start-up.
    func startClients() {
        startNs = interleave_monotonic_ns()
        clientThreads = (1...clients).map { client in
            run.spawn("client-\(client)") { lane in
                try runEchoClient(client, port: port, requests: requests, udp: udp, run: run, waker: waker, tally: tally, lane: lane)
            }
        }
    }
    if model != "process-pool" { startClients() }
    var workerPids: [Int32] = []
    var connectionThreads: [TracedThread] = []
    switch model {
    case "thread-per-connection":
        connectionThreads = try serveThreadPerConnection(run, listener, clients: clients, waker: waker, stats: stats)
    case "thread-pool":
        try serveThreadPool(run, listener, clients: clients, workers: workers, waker: waker, stats: stats)
    case "process-pool":
        workerPids = try serveProcessPool(run, listener, clients: clients, workers: workers, waker: waker, stats: stats,
                                      startClients: startClients)
    case "event-loop":
        try serveEventLoop(run, listener, clients: clients, waker: waker, stats: stats)
    default:
        try serveUDPDict(run, listener, expected: clients * requests, waker: waker, stats: stats)
    }
    main.emit("io.begin", ["op": "join clients"])
    for thread in clientThreads { thread.join() }
    main.emit("io.end", ["op": "join clients"])
    // The server threads count what they answered after their client hung up.
    for thread in connectionThreads { thread.join() }
    try run.check()
    let wallNs = interleave_monotonic_ns() - startNs
    main.phaseEnd("serve")

    let replies = tally.latencies.count
    let expected = clients * requests
    let s = stats.state.withLock { $0 }
    let perSecond = Double(replies) / max(Double(wallNs) / 1e9, 1e-9)
    let p50 = tally.percentileMs(50), p99 = tally.percentileMs(99)
    let threads = s.threads.count, processes = s.processes.count
    emitEchoInsights(run, model: model, clients: clients, workers: workers, stats: s, p50: p50, p99: p99)

    var tail: String
    switch model {
    case "thread-per-connection": tail = "one thread per connection"
    case "thread-pool":
        let longest = s.queueWaitUs.values.max() ?? 0
        tail = "\(workers) pool threads took the connections in turn; the longest wait for a free worker was \(fmtMs(Double(longest) / 1000)) ms"
    case "process-pool": tail = "the parent accepted every connection and passed its descriptor to one of \(workerPids.count) worker processes (SCM_RIGHTS)"
    case "event-loop": tail = "one thread multiplexed every connection with epoll, up to \(s.maxReady) ready sockets per wait"
    default:
        let counts = s.dict.values
        tail = "the dict holds \(s.dict.count) client addresses with \(counts.min() ?? 0)–\(counts.max() ?? 0) messages each"
    }
    let verdict = "\(model): \(replies) of \(expected) requests from \(clients) clients answered by \(threads) server thread\(threads == 1 ? "" : "s") in \(processes) process\(processes == 1 ? "" : "es") at \(Int(perSecond.rounded())) requests/s, p50 \(fmtMs(p50)) ms, p99 \(fmtMs(p99)) ms; \(tail)."
    var summary: JSONObject = [
        "verdict": .string(verdict), "model": .string(model), "clients": .int(clients), "requestsPerClient": .int(requests),
        "requests": .int(expected), "replies": .int(replies), "answeredByServer": .int(s.answered),
        "mismatches": .int(tally.mismatches), "requestsPerSecond": .double(round1(perSecond)),
        "p50Ms": .double(round3(p50)), "p99Ms": .double(round3(p99)), "serverThreads": .int(threads),
        "serverProcesses": .int(processes), "port": .int(port), "wallMs": .double(round1(Double(wallNs) / 1e6)),
    ]
    if model == "thread-pool" || model == "process-pool" { summary["workers"] = .int(workers) }
    if model == "process-pool" { summary["workerPids"] = JSONValue(workerPids.map { Int($0) }) }
    if model == "event-loop" { summary["maxReadyPerWait"] = .int(s.maxReady) }
    if udp {
        summary["dict"] = .object(JSONObject(s.dict.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.int($0.value)) }))
    }
    return summary
}

func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

func fmtMs(_ value: Double) -> String {
    if value >= 100 { return String(Int(value.rounded())) }
    if value >= 10 { return String(round1(value)) }
    return String((value * 100).rounded() / 100)
}

// MARK: The models

/// `while True: conn, addr = sk.accept(); Thread(target=func, args=(conn,)).start()`
private func serveThreadPerConnection(_ run: RunContext, _ listener: Socket, clients: Int, waker: StopWaker,
                                      stats: EchoServerStats) throws -> [TracedThread] {
    let main = run.main
    var threads: [TracedThread] = []
    for connection in 1...clients {
        main.emit("io.begin", ["op": "accept"])
        let conn = try listener.accept(waker)
        main.emit("io.end", ["op": "accept", "conn": .int(connection), "peerPort": .int(conn.peerPort)])
        stats.worked()
        stats.connections(1, on: main)
        threads.append(run.spawn("conn-\(connection)") { lane in
            stats.worked()
            stats.answered(try serveEchoConnection(conn, connection: connection, waker: waker, emit: lane.echoEmit))
            stats.connections(-1, on: lane)
        })
    }
    main.log("accepted all \(clients) connections: \(clients) threads serve them")
    return threads
}

/// `pool = ThreadPoolExecutor(W); while True: conn, _ = sk.accept(); pool.submit(func, conn)`
private func serveThreadPool(_ run: RunContext, _ listener: Socket, clients: Int, workers: Int, waker: StopWaker,
                             stats: EchoServerStats) throws {
    let main = run.main
    let pool = TaskPool(context: run, workers: workers)
    for connection in 1...clients {
        main.emit("io.begin", ["op": "accept"])
        let conn = try listener.accept(waker)
        let acceptedUs = run.recorder.elapsedMicros
        main.emit("io.end", ["op": "accept", "conn": .int(connection), "peerPort": .int(conn.peerPort)])
        stats.worked()
        stats.connections(1, on: main)
        pool.submit(task: connection, from: main) { lane in
            let waited = run.recorder.elapsedMicros - acceptedUs
            stats.state.withLock { $0.queueWaitUs[connection] = waited }
            stats.worked()
            stats.answered(try serveEchoConnection(conn, connection: connection, waker: waker, emit: lane.echoEmit))
            stats.connections(-1, on: lane)
            return .int(connection)
        }
    }
    main.log("accepted all \(clients) connections; pool.shutdown(wait=True)")
    try pool.shutdown(wait: true, on: main)
}

/// `p = Pool(W); while True: conn, _ = sk.accept(); p.apply_async(func, args=(conn,))`.
///
/// The connection reaches the worker the way multiprocessing pickles a socket: its
/// descriptor is sent over a Unix socket with SCM_RIGHTS and the parent closes its
/// copy. That keeps the notes' shape — the parent accepts, a pool worker serves —
/// and lets the parent pick the worker (queueing when all are busy), where a
/// pre-fork accept (every worker blocked in accept on a shared listener) would leave
/// the choice to the kernel and has no apply_async in it.
private func serveProcessPool(_ run: RunContext, _ listener: Socket, clients: Int, workers: Int, waker: StopWaker,
                              stats: EchoServerStats, startClients: () -> Void) throws -> [Int32] {
    let main = run.main
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let ready = ReadyLatch(control: run.control)
    var channels: [Socket] = []
    var children: [ChildProcess] = []
    defer { channels.forEach { $0.close() } }
    for index in 1...workers {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw NetError("socketpair")
        }
        let parentEnd = Socket(adopting: pair[0])
        channels.append(parentEnd)
        defer { close(pair[1]) }
        children.append(try supervisor.spawn(name: "worker-\(index)", kind: "echo-worker", fds: [(child: 4, parent: pair[1])],
                                             from: main, onMessage: ready.handler))
    }
    try ready.wait(for: workers, on: main)
    main.log("Pool(\(workers)): workers \(children.map { String($0.pid) }.joined(separator: ", ")) wait for connections")
    startClients()

    var queue: [(connection: Int, socket: Socket, acceptedUs: Int64)] = []
    var idle = Array(0..<workers)
    var accepted = 0, done = 0
    while done < clients {
        // Hand queued connections to idle workers: apply_async(func, (conn,)).
        while !queue.isEmpty, !idle.isEmpty {
            let (connection, socket, acceptedUs) = queue.removeFirst()
            let worker = idle.removeFirst()
            let flow = run.recorder.nextFlow()
            stats.state.withLock { $0.queueWaitUs[connection] = run.recorder.elapsedMicros - acceptedUs }
            main.emit("task.submit", flow: flow, ["task": .int(connection), "worker": .int(worker + 1),
                                                  "via": "SCM_RIGHTS", "fd": .int(Int(socket.fd))])
            try NetSystem.sendDescriptor(socket.fd, over: channels[worker].fd, message: Array("conn \(connection) flow \(flow)".utf8))
            socket.close()  // the worker has its own descriptor for the same connection now
        }
        var entries = [pollfd(fd: waker.fd, events: Int16(POLLIN), revents: 0)]
        entries += channels.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        if accepted < clients { entries.append(pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)) }
        main.emit("io.begin", ["op": "poll", "watching": .int(entries.count)])
        _ = NetSystem.poll(&entries, timeoutMs: -1)
        main.emit("io.end", ["op": "poll", "ready": .int(entries.filter { $0.revents != 0 }.count)])
        try run.check()
        if accepted < clients, entries.last!.revents != 0 {
            while accepted < clients, let socket = try listener.acceptNow() {
                accepted += 1
                main.emit("io.end", ["op": "accept", "conn": .int(accepted), "peerPort": .int(socket.peerPort)])
                stats.connections(1, on: main)
                queue.append((accepted, socket, run.recorder.elapsedMicros))
            }
        }
        for (worker, channel) in channels.enumerated() where entries[worker + 1].revents != 0 {
            guard let message = try channel.receiveNow(max: 256) else { continue }
            guard !message.isEmpty else { throw NetError("worker-\(worker + 1) closed its channel", code: EPIPE) }
            // "done CONN ANSWERED TID PID"
            let fields = String(decoding: message, as: UTF8.self).split(separator: " ").compactMap { Int($0) }
            guard fields.count == 4 else { continue }
            done += 1
            idle.append(worker)
            stats.answered(fields[1])
            stats.worked(tid: Int32(fields[2]), pid: Int32(fields[3]))
            stats.connections(-1, on: main)
        }
    }
    stats.worked()
    main.log("every connection served: pool.close(); pool.join()")
    for channel in channels { channel.close() }
    for child in children { try supervisor.join(child, on: main) }
    return children.map(\.pid)
}

/// The worker process of the process-pool model: takes connections (descriptors
/// passed over fd 4) one at a time, serves each until its client closes, reports.
@Sendable func echoPoolWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    lane.start()
    lane.trace.send(["ctl": "ready"])
    while true {
        guard let (message, fd) = try? NetSystem.receiveDescriptor(over: 4), !message.isEmpty else { break }
        let words = String(decoding: message, as: UTF8.self).split(separator: " ")
        guard fd >= 0, words.count == 4, let connection = Int(words[1]), let flow = Int(words[3]) else {
            if fd >= 0 { close(fd) }
            continue
        }
        lane.emit("task.start", flow: flow, ["task": .int(connection), "fd": .int(Int(fd))])
        let answered = (try? serveEchoConnection(Socket(adopting: fd), connection: connection, waker: nil,
                                                 emit: lane.echoEmit)) ?? 0
        lane.emit("task.end", ["task": .int(connection), "result": .int(answered)])
        var reply = Array("done \(connection) \(answered) \(interleave_tid()) \(getpid())".utf8)
        _ = reply.withUnsafeMutableBytes { Glibc.send(4, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
    lane.log("the pool closed: worker exits")
    lane.end()
    return 0
}

/// One thread, one epoll: the listener and every connection registered once; each
/// epoll_wait returns the sockets that have something to read.
private func serveEventLoop(_ run: RunContext, _ listener: Socket, clients: Int, waker: StopWaker,
                            stats: EchoServerStats) throws {
    let main = run.main
    let epoll = try Epoll()
    try epoll.add(waker.fd, token: 0)
    try epoll.add(listener.fd, token: 1)
    struct Connection {
        let socket: Socket
        var buffer: [UInt8] = []
        var answered = 0
    }
    var connections: [UInt64: Connection] = [:]
    defer { connections.values.forEach { $0.socket.close() } }
    var accepted = 0, closed = 0, tracedWaits = 0
    stats.worked()
    while closed < clients {
        let traced = tracedWaits < 400
        if traced { main.emit("io.begin", ["op": "epoll_wait", "registered": .int(connections.count + 2)]) }
        let ready = try epoll.wait(timeoutMs: -1)
        try run.check()
        if traced {
            tracedWaits += 1
            main.emit("io.end", ["op": "epoll_wait", "ready": .int(ready.count)])
            main.counter("ready fds", ready.count)
            if tracedWaits == 400 { main.log("further epoll_wait calls are not drawn") }
        }
        stats.state.withLock { $0.maxReady = max($0.maxReady, ready.count) }
        for (token, _) in ready {
            if token == 1 {
                while let socket = try listener.acceptNow() {
                    accepted += 1
                    let token = UInt64(accepted + 1)
                    try epoll.add(socket.fd, token: token)
                    connections[token] = Connection(socket: socket)
                    main.emit("io.end", ["op": "accept", "conn": .int(accepted), "peerPort": .int(socket.peerPort)])
                    stats.connections(1, on: main)
                }
                continue
            }
            guard var connection = connections[token] else { continue }
            let id = Int(token) - 1
            var eof = false
            while let chunk = try connection.socket.receiveNow(max: 4096) {
                if chunk.isEmpty { eof = true; break }
                connection.buffer += chunk
            }
            while connection.buffer.count >= EchoFrame.size {
                let bytes = Array(connection.buffer.prefix(EchoFrame.size))
                connection.buffer.removeFirst(EchoFrame.size)
                let frame = EchoFrame(bytes)
                if connection.answered < EchoFrame.tracedPerClient {
                    main.emit("io.end", flow: frame.flatMap { $0.flow == 0 ? nil : $0.flow },
                              ["op": "recv", "conn": .int(id), "bytes": .int(bytes.count), "request": .int(frame?.index ?? -1)])
                    main.emit("io.begin", flow: frame.flatMap { $0.replyFlow == 0 ? nil : $0.replyFlow },
                              ["op": "send", "conn": .int(id), "bytes": .int(bytes.count)])
                }
                try connection.socket.sendAll(bytes, waker)
                if connection.answered < EchoFrame.tracedPerClient { main.emit("io.end", ["op": "send", "conn": .int(id)]) }
                connection.answered += 1
            }
            if eof {
                epoll.remove(connection.socket.fd)
                connection.socket.close()
                connections[token] = nil
                closed += 1
                stats.answered(connection.answered)
                stats.connections(-1, on: main)
            } else {
                connections[token] = connection
            }
        }
    }
}

/// The UDP homework: one socket, recvfrom, file the message under the sender's
/// address in a dict, and answer it.
private func serveUDPDict(_ run: RunContext, _ socket: Socket, expected: Int, waker: StopWaker,
                          stats: EchoServerStats) throws {
    let main = run.main
    stats.worked()
    var dict: [String: [Int]] = [:]
    var traced: [String: Int] = [:]
    for _ in 0..<expected {
        main.emit("io.begin", ["op": "recvfrom"])
        let (bytes, port) = try socket.receiveDatagram(max: 2048, waker)
        let address = "127.0.0.1:\(port)"
        let frame = EchoFrame(bytes)
        let draw = traced[address, default: 0] < EchoFrame.tracedPerClient
        if draw {
            main.emit("io.end", flow: frame.flatMap { $0.flow == 0 ? nil : $0.flow },
                      ["op": "recvfrom", "from": .string(address), "bytes": .int(bytes.count)])
        } else {
            main.emit("io.end", ["op": "recvfrom", "from": .string(address)])
        }
        dict[address, default: []].append(frame?.index ?? -1)
        if draw {
            traced[address, default: 0] += 1
            main.write("dict['\(address)']", dict[address]!.count, ["len": .int(dict[address]!.count)])
            main.emit("io.begin", flow: frame.flatMap { $0.replyFlow == 0 ? nil : $0.replyFlow },
                      ["op": "sendto", "to": .string(address)])
        }
        try socket.send(datagram: bytes, toPort: port)
        if draw { main.emit("io.end", ["op": "sendto", "to": .string(address)]) }
        stats.answered(1)
    }
    main.log("dict = {" + dict.keys.sorted().prefix(4).map { "'\($0)': [\(dict[$0]!.count) messages]" }.joined(separator: ", ")
        + (dict.count > 4 ? ", …}" : "}"))
    stats.state.withLock { $0.dict = dict.mapValues(\.count) }
}

// MARK: Insights

/// Points at the events that show this run's lesson (read back from the trace).
private func emitEchoInsights(_ run: RunContext, model: String, clients: Int, workers: Int, stats: EchoServerStats.State,
                              p50: Double, p99: Double) {
    let main = run.main
    let events = run.recorder.events
    let serverRecvs = events.filter { $0.type == "io.end" && ($0["op"] == "recv" || $0["op"] == "recvfrom") && !$0.lane.hasPrefix("client-") && $0["eof"] == nil }
    switch model {
    case "thread-per-connection":
        var firstPerLane: [String: Int] = [:]
        for event in serverRecvs where firstPerLane[event.lane] == nil { firstPerLane[event.lane] = event.seq }
        main.insight("\(firstPerLane.count) connections, \(firstPerLane.count) server threads: each conn lane is a thread of its own that serves one client — its first recv is marked on each.",
                     refs: firstPerLane.values.sorted(), kind: .actor)
    case "thread-pool":
        if let (connection, waited) = stats.queueWaitUs.max(by: { $0.value < $1.value }) {
            let first = serverRecvs.first { $0["conn"]?.intValue == connection }
            let accept = events.first { $0.type == "io.end" && $0["op"] == "accept" && $0["conn"]?.intValue == connection }
            main.insight("\(clients) connections, \(workers) threads: connection \(connection) was accepted and then waited \(fmtMs(Double(waited) / 1000)) ms for a free pool thread before its first recv.",
                         refs: [accept?.seq, first?.seq], kind: .timing)
        }
    case "process-pool":
        let handOff = events.first { $0.type == "task.submit" && $0["via"] == "SCM_RIGHTS" }
        let start = handOff.flatMap { submit in events.first { $0.type == "task.start" && $0.flow == submit.flow } }
        if let handOff, let start {
            main.insight("Accepted in the parent (pid \(handOff.pid)), served in a worker process (pid \(start.pid)): the connection's descriptor crossed a Unix socket (SCM_RIGHTS), as Pool.apply_async(func, (conn,)) pickles it.",
                         refs: [handOff.seq, start.seq], kind: .actor)
        }
    case "event-loop":
        let busiest = events.filter { $0.type == "io.end" && $0["op"] == "epoll_wait" }.max { ($0["ready"]?.intValue ?? 0) < ($1["ready"]?.intValue ?? 0) }
        let tids = Set(serverRecvs.map(\.tid))
        main.insight("One thread (tid \(tids.first.map(String.init) ?? "?")) served all \(clients) connections: one epoll_wait returned \(busiest?["ready"]?.intValue ?? 0) ready sockets at once.",
                     refs: [busiest?.seq] + Array(serverRecvs.prefix(1).map(\.seq)), kind: .actor)
    default:
        var firstWrite: [String: Int] = [:]
        for event in events where event.type == "var.write" {
            if let name = event["var"]?.stringValue, firstWrite[name] == nil { firstWrite[name] = event.seq }
        }
        main.insight("No connections: one socket received every datagram, and the dict filed them under \(stats.dict.count) sender addresses — one key per client port.",
                     refs: firstWrite.values.sorted(), kind: .info)
    }
    let clientRecvs = events.filter { $0.type == "io.end" && $0.lane.hasPrefix("client-") && $0["latencyUs"] != nil }
    if let slowest = clientRecvs.max(by: { ($0["latencyUs"]?.intValue ?? 0) < ($1["latencyUs"]?.intValue ?? 0) }) {
        main.insight("Round trips: half took under \(fmtMs(p50)) ms, 99% under \(fmtMs(p99)) ms; the slowest drawn one took \(fmtMs(Double(slowest["latencyUs"]?.intValue ?? 0) / 1000)) ms.",
                     refs: [slowest.seq], kind: .timing)
    }
}
