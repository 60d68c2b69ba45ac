import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

/// One request (and its echo) of the echo experiment: 64 bytes of text, so a server
/// reads exactly one with recv and a client checks the echo byte for byte. It
/// carries the flow ids of its two arrows in the trace (0: this request is not drawn).
struct EchoFrame: Equatable {
    static let size = 64
    /// Requests per client that are drawn; every request is still sent, answered and timed.
    static let tracedPerClient = 20

    let client: Int
    let index: Int
    /// Client send → server recv.
    let flow: Int
    /// Server send → client recv.
    let replyFlow: Int

    var bytes: [UInt8] {
        var text = Array("c=\(client) i=\(index) f=\(flow) g=\(replyFlow)".utf8)
        text += Array(repeating: 0x20, count: max(0, Self.size - 1 - text.count))
        return Array(text.prefix(Self.size - 1)) + [0x0A]
    }

    init(client: Int, index: Int, flow: Int, replyFlow: Int) {
        self.client = client
        self.index = index
        self.flow = flow
        self.replyFlow = replyFlow
    }

    init?(_ bytes: [UInt8]) {
        var values: [Substring: Int] = [:]
        let text = String(decoding: bytes, as: UTF8.self)
        for part in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2, let value = Int(pair[1]) { values[pair[0]] = value }
        }
        guard let client = values["c"], let index = values["i"], let flow = values["f"], let reply = values["g"] else {
            return nil
        }
        self.init(client: client, index: index, flow: flow, replyFlow: reply)
    }
}

/// How a server actor traces: a thread's `Lane` or a worker process's `WorkerLane`.
/// Returns the event's seq when it is known (in the parent), else nil.
typealias EchoEmit = @Sendable (_ type: String, _ flow: Int?, _ fields: JSONObject) -> Int?

extension Lane {
    var echoEmit: EchoEmit { { type, flow, fields in self.emit(type, flow: flow, fields) } }
}

extension WorkerLane {
    var echoEmit: EchoEmit { { type, flow, fields in self.emit(type, flow: flow, fields); return nil } }
}

/// The notes' `func(conn)`: recv a request, send it back, until the client closes
/// the connection; then close it. The first `tracedPerClient` requests are drawn as
/// recv and send waits with the frame's flows. Returns the requests answered.
@discardableResult
func serveEchoConnection(_ conn: Socket, connection: Int, waker: StopWaker?, emit: EchoEmit) throws -> Int {
    defer { conn.close() }
    var answered = 0
    while true {
        let traced = answered < EchoFrame.tracedPerClient
        if traced { _ = emit("io.begin", nil, ["op": "recv", "conn": .int(connection)]) }
        guard let bytes = try conn.receiveExactly(EchoFrame.size, waker) else {
            if traced { _ = emit("io.end", nil, ["op": "recv", "conn": .int(connection), "eof": true]) }
            return answered
        }
        let frame = EchoFrame(bytes)
        if traced {
            _ = emit("io.end", frame.flatMap { $0.flow == 0 ? nil : $0.flow },
                     ["op": "recv", "conn": .int(connection), "bytes": .int(bytes.count),
                      "request": .int(frame?.index ?? -1)])
            _ = emit("io.begin", frame.flatMap { $0.replyFlow == 0 ? nil : $0.replyFlow },
                     ["op": "send", "conn": .int(connection), "bytes": .int(bytes.count)])
        }
        try conn.sendAll(bytes, waker)
        if traced { _ = emit("io.end", nil, ["op": "send", "conn": .int(connection)]) }
        answered += 1
    }
}

/// What the clients measured: one latency per answered request.
final class EchoTally: Sendable {
    private let state = Mutex<(latencies: [UInt64], mismatches: Int)>(([], 0))

    func record(latencyNs: UInt64) { state.withLock { $0.latencies.append(latencyNs) } }
    func mismatch() { state.withLock { $0.mismatches += 1 } }
    var latencies: [UInt64] { state.withLock { $0.latencies } }
    var mismatches: Int { state.withLock { $0.mismatches } }

    /// The `p`-th percentile in milliseconds (nearest rank).
    func percentileMs(_ p: Double) -> Double {
        let sorted = latencies.sorted()
        guard !sorted.isEmpty else { return 0 }
        let rank = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
        return Double(sorted[rank] / 1000) / 1000
    }
}

/// One client thread: connect (TCP) or bind (UDP), then `requests` round trips, each
/// send drawn with an arrow to the server's recv and the echo with one back.
func runEchoClient(_ client: Int, port: Int, requests: Int, udp: Bool, run: RunContext, waker: StopWaker,
                   tally: EchoTally, lane: Lane) throws {
    let socket: Socket
    if udp {
        socket = try Socket.udp()
        lane.log("client \(client): UDP socket 127.0.0.1:\(socket.localPort) → server port \(port)")
    } else {
        lane.emit("io.begin", ["op": "connect", "port": .int(port)])
        socket = try Socket.connectTCP(port: port, waker: waker)
        lane.emit("io.end", ["op": "connect", "port": .int(port), "localPort": .int(socket.localPort)])
    }
    defer { socket.close() }
    for index in 0..<requests {
        let traced = index < EchoFrame.tracedPerClient
        let frame = EchoFrame(client: client, index: index, flow: traced ? run.recorder.nextFlow() : 0,
                              replyFlow: traced ? run.recorder.nextFlow() : 0)
        let bytes = frame.bytes
        let op = udp ? "sendto" : "send"
        let startNs = interleave_monotonic_ns()
        if traced { lane.emit("io.begin", flow: frame.flow, ["op": .string(op), "request": .int(index), "bytes": .int(bytes.count)]) }
        if udp { try socket.send(datagram: bytes, toPort: port) } else { try socket.sendAll(bytes, waker) }
        if traced {
            lane.emit("io.end", ["op": .string(op), "request": .int(index)])
            lane.emit("io.begin", ["op": .string(udp ? "recvfrom" : "recv"), "request": .int(index)])
        }
        let reply: [UInt8]?
        if udp { reply = try socket.receiveDatagram(max: 2048, waker).bytes } else { reply = try socket.receiveExactly(EchoFrame.size, waker) }
        guard let reply else { throw NetError("recv: the server closed the connection before answering request \(index)", code: ECONNRESET) }
        let latency = interleave_monotonic_ns() - startNs
        if traced {
            lane.emit("io.end", flow: frame.replyFlow, ["op": .string(udp ? "recvfrom" : "recv"), "request": .int(index),
                                                        "latencyUs": .int(Int(latency / 1000))])
        }
        if reply == bytes { tally.record(latencyNs: latency) } else { tally.mismatch() }
    }
}
