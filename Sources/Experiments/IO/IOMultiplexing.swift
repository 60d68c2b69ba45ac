import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// select / poll / epoll and the busy non-blocking loop, as idle connections grow.
    public static let ioMultiplexing = Experiment(
        id: "io-multiplexing",
        title: "IO multiplexing",
        category: "IO",
        summary: "One server thread waits for one active connection among N idle ones with select, poll, epoll, or a busy loop of non-blocking recv calls: µs per wait as N grows, and CPU time while waiting.",
        lesson: """
            Each phase adds idle connections (real loopback sockets that never send) and times the \
            same wait: the active client has already sent a byte, so each call only has to find it. \
            select and poll hand the kernel every descriptor on every call and it checks them all \
            (select的缺点：是轮询模式，会把所有对象挨个问一遍): their µs-per-wait counters climb with \
            the idle count. epoll keeps the registered sockets in the kernel and a ready list filled \
            by callbacks as data arrives (epoll是绑定一个回调函数), so epoll_wait returns the one ready \
            socket in the same time whatever the idle count. select cannot watch a descriptor \
            numbered FD_SETSIZE (1024) or above at all: past that the run says so and skips it. \
            busy-nonblocking is the notes' setblocking(False) loop: recv on every socket, catch \
            BlockingIOError, go round again — one system call per socket per sweep. In the last \
            phase the client sends every gapMs: the waits that block sleep (CPU time near zero), \
            the busy loop keeps a CPU busy the whole time — compare the CPU and wall figures.
            """,
        parameters: [
            .choice("mechanism", ["select", "poll", "epoll", "busy-nonblocking"], default: "epoll",
                    "How the server waits for the active connection."),
            .integer("idleConnections", 0...5000, default: 100,
                     "Idle connections at the last step (the run measures 0, ¼, ½ and all of them). Each is two descriptors."),
            .integer("rounds", 1...100_000, default: 1000, "Wait calls timed per mechanism at each step."),
            .boolean("compare", default: true,
                     "Also measure the contrasting mechanism on the same sockets (poll beside epoll, epoll beside the others)."),
            .integer("gapMs", 1...1000, default: 20, "In the last phase, the client sends one byte every gapMs, 10 times."),
        ],
        body: runIOMultiplexing
    )
}

/// A run that cannot start: its sentence is the run's error.
struct IOExperimentError: Error, CustomStringConvertible {
    let description: String
}

private enum Mechanism: String, CaseIterable {
    case select, poll, epoll, busy = "busy-nonblocking"

    /// What the trace calls one wait.
    var op: String {
        switch self {
        case .select: "select"
        case .poll: "poll"
        case .epoll: "epoll_wait"
        case .busy: "recv sweep"
        }
    }

    var contrast: Mechanism { self == .epoll ? .poll : .epoll }
}

/// One mechanism at one idle count.
private struct StepResult {
    let mechanism: Mechanism
    let idle: Int
    let watched: Int
    /// Median and mean ns per wait call; nil when select refused.
    let medianNs: UInt64?
    let meanNs: UInt64?
    /// Descriptors the kernel looked at per call: poll's nfds, select's highest fd + 1,
    /// the busy loop's recv calls; for epoll, nil (it walks the ready list only).
    let scannedPerCall: Int?
    /// Descriptors the call reported ready (the kernel's answer), averaged over calls.
    let returnedPerCall: Double
    /// Idle descriptors ever reported ready (none ever should be).
    let idleReported: Int
    let counterSeq: Int?
    let refusal: String?

    var json: JSONValue {
        var object: JSONObject = ["mechanism": .string(mechanism.rawValue), "idle": .int(idle), "watched": .int(watched)]
        if let medianNs { object["usPerWait"] = .double(round3(Double(medianNs) / 1000)) }
        if let meanNs { object["meanUsPerWait"] = .double(round3(Double(meanNs) / 1000)) }
        object["scannedPerCall"] = scannedPerCall.map(JSONValue.int) ?? .null
        object["returnedPerCall"] = .double(round3(returnedPerCall))
        object["idleReported"] = .int(idleReported)
        if let refusal { object["refused"] = .string(refusal) }
        return .object(object)
    }
}

/// One mechanism waiting for data that arrives every gapMs.
private struct SleepResult {
    let mechanism: Mechanism
    let wallMs: Double
    let cpuMs: Double
    let waits: Int
    let seq: Int?

    var json: JSONValue {
        ["mechanism": .string(mechanism.rawValue), "wallMs": .double(round1(wallMs)), "cpuMs": .double(round3(cpuMs)),
         "cpuPct": .double(round1(wallMs > 0 ? cpuMs / wallMs * 100 : 0)), "waitCalls": .int(waits)]
    }
}

private func runIOMultiplexing(_ run: RunContext) throws -> JSONObject {
    let mechanism = Mechanism(rawValue: run.params.string("mechanism"))!
    let idleCount = run.params.int("idleConnections")
    let rounds = run.params.int("rounds")
    let mechanisms = run.params.bool("compare") ? [mechanism, mechanism.contrast] : [mechanism]
    let gapMs = run.params.int("gapMs")
    let main = run.main
    let waker = try StopWaker(control: run.control)

    // 2 descriptors per idle connection (both ends live in this process), the active
    // pair, the listener, epoll instances, and what the server already has open.
    let needed = 2 * idleCount + NetSystem.openDescriptorCount() + 64
    let limit = NetSystem.ensureDescriptorLimit(needed)
    if limit.soft >= 0 && limit.soft < needed {
        throw IOExperimentError(description: "idleConnections \(idleCount) needs about \(needed) open descriptors, but this process may open only \(limit.soft) (RLIMIT_NOFILE, hard limit \(limit.hard)); lower idleConnections or raise the limit")
    }
    if limit.soft >= 0 { main.log("RLIMIT_NOFILE soft limit \(limit.soft): room for \(needed) descriptors") }

    // The active connection first, so it gets a low descriptor number.
    let listener = try Socket.listenTCP(backlog: 4096)
    let port = listener.localPort
    var idleClients: [Socket] = []
    var idleServers: [Socket] = []
    let (activeClient, activeServer): (Socket, Socket) = try main.phase("connect") {
        main.emit("io.begin", ["op": "connect", "port": .int(port)])
        let client = try Socket.connectTCP(port: port, waker: waker)
        let server = try listener.accept(waker)
        main.emit("io.end", ["op": "connect", "port": .int(port), "activeFd": .int(Int(server.fd))])
        main.counter("open connections", 1)
        main.emit("io.begin", ["op": .string("connect \(idleCount) idle clients")])
        for index in 0..<idleCount {
            idleClients.append(try Socket.connectTCP(port: port, waker: waker))
            idleServers.append(try listener.accept(waker))
            if (index + 1) % max(1, idleCount / 10) == 0 { main.counter("open connections", index + 2) }
            if index % 256 == 0 { try run.check() }
        }
        main.emit("io.end", ["op": .string("connect \(idleCount) idle clients"),
                             "highestFd": .int(Int(idleServers.map(\.fd).max() ?? server.fd))])
        return (client, server)
    }
    defer {
        listener.close()
        activeClient.close()
        activeServer.close()
        idleClients.forEach { $0.close() }
        idleServers.forEach { $0.close() }
    }
    main.log("1 active + \(idleCount) idle connections: \(2 * idleCount + 2) socket descriptors")

    var steps = [0, idleCount / 4, idleCount / 2, idleCount]
    steps = steps.enumerated().filter { index, value in !steps[..<index].contains(value) }.map(\.element)
    var results: [StepResult] = []
    var refusalSeq: Int?
    for idle in steps {
        try main.phase("idle = \(idle)") {
            let watched = [activeServer.fd] + idleServers.prefix(idle).map(\.fd)
            for mech in mechanisms {
                let result = try measureScan(mech, watched: watched, idle: idle, rounds: rounds, active: activeClient, run: run)
                if result.refusal != nil, refusalSeq == nil {
                    refusalSeq = main.insight(result.refusal!, refs: [result.counterSeq], kind: .problem)
                }
                results.append(result)
            }
        }
    }

    var sleeps: [SleepResult] = []
    try main.phase("wait for data") {
        let watched = [activeServer.fd] + idleServers.map(\.fd)
        for mech in mechanisms {
            if mech == .select, let highest = watched.max(), Int(highest) >= NetSystem.fdSetSize {
                main.log("select skipped: descriptor \(highest) is above FD_SETSIZE (\(NetSystem.fdSetSize))")
                continue
            }
            sleeps.append(try measureSleep(mech, watched: watched, gapMs: gapMs, active: activeClient, waker: waker, run: run))
        }
    }

    return summarize(run, mechanism: mechanism, mechanisms: mechanisms, steps: steps, results: results, sleeps: sleeps,
                     idleCount: idleCount, rounds: rounds, gapMs: gapMs)
}

/// Times `rounds` wait calls that each find the byte the active client just sent.
private func measureScan(_ mech: Mechanism, watched: [Int32], idle: Int, rounds: Int, active: Socket,
                         run: RunContext) throws -> StepResult {
    let main = run.main
    if mech == .select, let highest = watched.max(), Int(highest) >= NetSystem.fdSetSize {
        let text = "select refused at \(idle) idle connections: descriptor \(highest) is above FD_SETSIZE (\(NetSystem.fdSetSize)), the most select can watch — Python raises \"filedescriptor out of range in select()\"; poll and epoll have no such limit."
        main.log(text)
        let seq = main.emit("io.end", ["op": "select", "watched": .int(watched.count), "refused": .string(text)])
        return StepResult(mechanism: mech, idle: idle, watched: watched.count, medianNs: nil, meanNs: nil,
                          scannedPerCall: Int(highest) + 1, returnedPerCall: 0, idleReported: 0, counterSeq: seq, refusal: text)
    }
    let activeFd = watched[0]
    var durations: [UInt64] = []
    durations.reserveCapacity(rounds)
    var returned = 0
    var idleReported = 0
    var scanned: Int? = nil
    var byte: UInt8 = 0x2A
    var sink = [UInt8](repeating: 0, count: 64)
    let epoll: Epoll? = mech == .epoll ? try Epoll(capacity: 64) : nil
    if let epoll { for (index, fd) in watched.enumerated() { try epoll.add(fd, token: UInt64(index)) } }
    // The busy loop reads the idle sockets first and the active one last: a full sweep.
    let sweepOrder = Array(watched.dropFirst()) + [activeFd]
    var entries = watched.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    for round in 0..<rounds {
        if round % 256 == 0 { try run.check() }
        guard Glibc.send(active.fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 else { throw NetError("send") }
        let traced = round < 3
        if traced { main.emit("io.begin", ["op": .string(mech.op), "watched": .int(watched.count), "round": .int(round)]) }
        var ready = 0
        let start = interleave_monotonic_ns()
        switch mech {
        case .select:
            ready = NetSystem.selectReadable(watched, timeoutMs: 1000).ready
        case .poll:
            ready = NetSystem.poll(&entries, timeoutMs: 1000)
        case .epoll:
            let events = try epoll!.wait(timeoutMs: 1000)
            ready = events.count
            idleReported += events.filter { $0.token != 0 }.count
        case .busy:
            for fd in sweepOrder {
                let got = recv(fd, &sink, sink.count, Int32(MSG_DONTWAIT))
                if got > 0 { ready += 1 }
            }
        }
        let elapsed = interleave_monotonic_ns() - start
        durations.append(elapsed)
        returned += ready
        switch mech {
        case .poll:
            scanned = entries.count
            idleReported += entries.dropFirst().filter { $0.revents != 0 }.count
        case .select: scanned = Int(watched.max()!) + 1
        case .busy: scanned = sweepOrder.count
        case .epoll: break
        }
        if traced {
            var fields: JSONObject = ["op": .string(mech.op), "ready": .int(ready), "ns": .int(Int(elapsed))]
            if let scanned { fields["scanned"] = .int(scanned) }
            main.emit("io.end", fields)
        }
        // Take the byte back so the next round starts with nothing ready.
        if mech != .busy {
            guard recv(activeFd, &sink, sink.count, Int32(MSG_DONTWAIT)) > 0 else { throw NetError("recv") }
        }
        guard ready >= 1 else { throw IOExperimentError(description: "\(mech.op) did not see the byte the active client sent") }
    }
    let sorted = durations.sorted()
    let median = sorted[sorted.count / 2]
    let mean = durations.reduce(0, +) / UInt64(durations.count)
    let seq = run.main.emit("counter", ["name": .string("\(mech.rawValue) ns/wait"), "value": .int(Int(median)),
                                        "idle": .int(idle)])
    main.log("\(mech.op) over \(watched.count) descriptors: \(fmtUs(median)) per call (median of \(rounds))")
    return StepResult(mechanism: mech, idle: idle, watched: watched.count, medianNs: median, meanNs: mean,
                      scannedPerCall: scanned, returnedPerCall: Double(returned) / Double(rounds),
                      idleReported: idleReported, counterSeq: seq, refusal: nil)
}

private func fmtUs(_ ns: UInt64) -> String {
    let us = Double(ns) / 1000
    return us >= 100 ? "\(Int(us.rounded())) µs" : "\((us * 10).rounded() / 10) µs"
}

/// The client sends one byte every `gapMs`, 10 times; the server waits for each with
/// `mech`. Wall and CPU time of the waiting thread are measured around the lot.
private func measureSleep(_ mech: Mechanism, watched: [Int32], gapMs: Int, active: Socket, waker: StopWaker,
                          run: RunContext) throws -> SleepResult {
    let main = run.main
    let messages = 10
    let flows = Mutex<[Int]>([])
    let client = run.spawn("client (\(mech.rawValue))") { lane in
        var byte: UInt8 = 0x2A
        for _ in 0..<messages {
            try run.sleep(ms: gapMs, on: lane)
            let flow = run.recorder.nextFlow()
            flows.withLock { $0.append(flow) }
            lane.emit("io.begin", flow: flow, ["op": "send", "bytes": 1])
            guard Glibc.send(active.fd, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 else { throw NetError("send") }
            lane.emit("io.end", ["op": "send"])
        }
    }
    defer { client.join() }
    let activeFd = watched[0]
    let epoll: Epoll? = mech == .epoll ? try Epoll(capacity: 64) : nil
    if let epoll {
        for (index, fd) in watched.enumerated() { try epoll.add(fd, token: UInt64(index)) }
        try epoll.add(waker.fd, token: UInt64.max)
    }
    let withWaker = watched + [waker.fd]
    var entries = withWaker.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let sweepOrder = Array(watched.dropFirst()) + [activeFd]
    var sink = [UInt8](repeating: 0, count: 64)
    var calls = 0
    let cpuStart = NetSystem.threadCPUNanoseconds()
    let wallStart = interleave_monotonic_ns()
    var received = 0
    main.phaseBegin(mech.rawValue)
    while received < messages {
        try run.check()
        main.emit("io.begin", ["op": .string(mech.op), "watched": .int(watched.count)])
        let waitCpu = NetSystem.threadCPUNanoseconds(), waitWall = interleave_monotonic_ns()
        var sweeps = 0
        switch mech {
        case .select:
            _ = NetSystem.selectReadable(withWaker, timeoutMs: -1)
            calls += 1
        case .poll:
            _ = NetSystem.poll(&entries, timeoutMs: -1)
            calls += 1
        case .epoll:
            _ = try epoll!.wait(timeoutMs: -1)
            calls += 1
        case .busy:
            // while True: for conn in conns: try: conn.recv(1024) except BlockingIOError: pass
            sweepLoop: while true {
                sweeps += 1
                for fd in sweepOrder {
                    let got = recv(fd, &sink, sink.count, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
                    if got > 0 && fd == activeFd { break sweepLoop }
                }
                if sweeps % 64 == 0 { try run.check() }
            }
            calls += sweeps
        }
        try run.check()
        let got = recv(activeFd, &sink, sink.count, Int32(MSG_DONTWAIT))
        guard got > 0 else { continue }
        // Two sends may have arrived together: one arrow per byte received.
        let arrived = flows.withLock { flows in
            let taken = Array(flows.prefix(got))
            flows.removeFirst(taken.count)
            return taken
        }
        var fields: JSONObject = ["op": .string(mech.op), "bytes": .int(got),
                                  "cpuUs": .int(Int((NetSystem.threadCPUNanoseconds() - waitCpu) / 1000)),
                                  "wallUs": .int(Int((interleave_monotonic_ns() - waitWall) / 1000))]
        if mech == .busy { fields["recvCalls"] = .int(sweeps * sweepOrder.count) }
        main.emit("io.end", flow: arrived.first, fields)
        received += got
        main.counter("ready fds", 1)
    }
    let wallMs = Double(interleave_monotonic_ns() - wallStart) / 1e6
    let cpuMs = Double(NetSystem.threadCPUNanoseconds() - cpuStart) / 1e6
    let seq = main.emit("log", ["message": .string("\(mech.rawValue): waited \(fmtMs(wallMs)) ms for \(messages) messages, used \(fmtMs(cpuMs)) ms of CPU (\(Int((cpuMs / max(wallMs, 0.001) * 100).rounded()))%)"),
                                "wallMs": .double(round1(wallMs)), "cpuMs": .double(round3(cpuMs))])
    main.phaseEnd(mech.rawValue)
    return SleepResult(mechanism: mech, wallMs: wallMs, cpuMs: cpuMs, waits: calls, seq: seq)
}

private func summarize(_ run: RunContext, mechanism: Mechanism, mechanisms: [Mechanism], steps: [Int], results: [StepResult],
                       sleeps: [SleepResult], idleCount: Int, rounds: Int, gapMs: Int) -> JSONObject {
    let main = run.main
    func growth(_ mech: Mechanism) -> (first: StepResult, last: StepResult)? {
        let measured = results.filter { $0.mechanism == mech && $0.medianNs != nil }
        guard let first = measured.first, let last = measured.last else { return nil }
        return (first, last)
    }
    func describe(_ mech: Mechanism) -> String? {
        guard let (first, last) = growth(mech) else { return nil }
        let ratio = Double(last.medianNs!) / Double(max(first.medianNs!, 1))
        if first.idle == last.idle { return "\(mech.rawValue) took \(fmtUs(first.medianNs!)) per wait with \(first.idle) idle connections" }
        return "\(mech.rawValue)'s wait went from \(fmtUs(first.medianNs!)) with \(first.idle) idle connections to \(fmtUs(last.medianNs!)) with \(last.idle) (×\((ratio * 10).rounded() / 10))"
    }
    var parts = mechanisms.compactMap(describe)
    if let refusal = results.first(where: { $0.refusal != nil }) {
        parts.append("select refused at \(refusal.idle) idle connections (a descriptor above FD_SETSIZE \(NetSystem.fdSetSize))")
    }
    let sleepText = sleeps.map { "\($0.mechanism.rawValue) used \(fmtMs($0.cpuMs)) ms of CPU in \(fmtMs($0.wallMs)) ms" }
    var verdict = parts.joined(separator: "; ")
    if !sleepText.isEmpty { verdict += "; waiting for 10 messages \(gapMs) ms apart, " + sleepText.joined(separator: ", ") }
    verdict += "."

    // Insights: the growth (or flatness) of each mechanism, pointing at its per-step counters.
    for mech in mechanisms {
        guard let (first, last) = growth(mech), first.idle != last.idle else { continue }
        let refs = results.filter { $0.mechanism == mech }.map(\.counterSeq)
        let ratio = Double(last.medianNs!) / Double(max(first.medianNs!, 1))
        let text: String
        switch mech {
        case .epoll:
            text = "epoll_wait took \(fmtUs(first.medianNs!)) with \(first.idle) idle sockets and \(fmtUs(last.medianNs!)) with \(last.idle): it returns the one ready socket from the kernel's ready list and never looks at the idle ones (×\((ratio * 10).rounded() / 10))."
        case .busy:
            text = "The busy loop's sweep grew from \(fmtUs(first.medianNs!)) to \(fmtUs(last.medianNs!)): one recv system call per socket, \(last.scannedPerCall ?? 0) per sweep at \(last.idle) idle connections."
        default:
            text = "\(mech.op)'s wait grew from \(fmtUs(first.medianNs!)) with \(first.idle) idle sockets to \(fmtUs(last.medianNs!)) with \(last.idle) (×\((ratio * 10).rounded() / 10)): every call hands the kernel all \(last.watched) descriptors and it checks each one."
        }
        main.insight(text, refs: refs, kind: .timing)
    }
    if let busy = sleeps.first(where: { $0.mechanism == .busy }) {
        let other = sleeps.first { $0.mechanism != .busy }
        main.insight("While waiting for data, the busy loop used \(fmtMs(busy.cpuMs)) ms of CPU in \(fmtMs(busy.wallMs)) ms (\(Int((busy.cpuMs / max(busy.wallMs, 0.001) * 100).rounded()))%)" + (other.map { ", \($0.mechanism.rawValue) \(fmtMs($0.cpuMs)) ms: its thread slept in the kernel until the data came." } ?? "."),
                     refs: [busy.seq, other?.seq], kind: .problem)
    } else if let sleep = sleeps.first {
        main.insight("Waiting \(fmtMs(sleep.wallMs)) ms for 10 messages cost \(sleep.mechanism.rawValue) \(fmtMs(sleep.cpuMs)) ms of CPU: the thread sleeps in the kernel until a socket is ready.",
                     refs: [sleep.seq], kind: .success)
    }
    if steps.count == 1, let only = results.first(where: { $0.medianNs != nil }) {
        main.insight("With no idle connections there is nothing to scan: \(only.mechanism.op) took \(fmtUs(only.medianNs!)) per call. Add idle connections to see select and poll slow down.",
                     refs: [only.counterSeq], kind: .info)
    }

    return [
        "verdict": .string(verdict), "mechanism": .string(mechanism.rawValue), "idleConnections": .int(idleCount),
        "rounds": .int(rounds), "fdSetSize": .int(NetSystem.fdSetSize),
        "steps": .array(results.map(\.json)), "waiting": .array(sleeps.map(\.json)),
        "usPerWait": .object(JSONObject(mechanisms.compactMap { mech in
            growth(mech).map { (mech.rawValue, JSONValue.double(round3(Double($0.last.medianNs!) / 1000))) }
        })),
    ]
}
