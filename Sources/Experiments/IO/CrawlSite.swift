import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

/// The slow web site the crawler fetches: a real HTTP/1.0 server on a loopback
/// ephemeral port, one thread with epoll (so it never needs a thread per request),
/// answering `GET /page/K` with `pageKB` of HTML after `latencyMs` — the seconds a
/// real site takes (the notes' time.sleep(random.randint(1,3)) after requests.get).
final class CrawlSite: Sendable {
    let listener: Socket
    let port: Int
    private let latencyMs: Int
    private let pageBytes: Int
    /// Rung (via its own RunControl) when the crawl is over.
    private let doneControl = RunControl()
    private let done: StopWaker

    init(latencyMs: Int, pageKB: Int) throws {
        listener = try Socket.listenTCP()
        port = listener.localPort
        self.latencyMs = latencyMs
        self.pageBytes = pageKB * 1024
        done = try StopWaker(control: doneControl)
    }

    /// Serves on `lane` until `close()` or the run stops.
    func serve(run: RunContext, waker: StopWaker, lane: Lane) throws {
        struct Connection {
            let socket: Socket
            var request: [UInt8] = []
            var dueNs: UInt64?
            var page = 0
            var replyFlow: Int?
            var response: [UInt8] = []
            var sent = 0
        }
        defer { listener.close() }
        let epoll = try Epoll()
        try epoll.add(waker.fd, token: 0)
        try epoll.add(done.fd, token: 1)
        try epoll.add(listener.fd, token: 2)
        var connections: [UInt64: Connection] = [:]
        defer { connections.values.forEach { $0.socket.close() } }
        var nextToken: UInt64 = 3
        lane.log("serving http://127.0.0.1:\(port)/page/K: \(pageBytes / 1024) KB each after \(latencyMs) ms")

        func finish(_ token: UInt64) {
            guard let connection = connections.removeValue(forKey: token) else { return }
            epoll.remove(connection.socket.fd)
            connection.socket.close()
            lane.counter("site connections", connections.count)
        }

        /// Writes what fits of a due response; waits for room (EPOLLOUT) otherwise.
        func write(_ token: UInt64) throws {
            guard var connection = connections[token] else { return }
            while connection.sent < connection.response.count {
                let sent = try connection.socket.sendNow(connection.response[connection.sent...])
                if sent == 0 { break }
                connection.sent += sent
            }
            if connection.sent == connection.response.count {
                lane.emit("io.end", ["op": "send", "page": .int(connection.page), "bytes": .int(connection.sent)])
                connections[token] = connection
                finish(token)
            } else {
                connections[token] = connection
                try epoll.modify(connection.socket.fd, events: Epoll.writable, token: token)
            }
        }

        while true {
            let now = interleave_monotonic_ns()
            let nextDue = connections.values.compactMap { $0.response.isEmpty ? $0.dueNs : nil }.min()
            let timeout: Int32 = nextDue.map { due in due <= now ? 0 : Int32(min((due - now + 999_999) / 1_000_000, 60_000)) } ?? -1
            let ready = try epoll.wait(timeoutMs: timeout)
            try run.check()
            if ready.contains(where: { $0.token == 1 }) { return }
            for (token, _) in ready where token >= 2 {
                if token == 2 {
                    while let socket = try listener.acceptNow() {
                        try epoll.add(socket.fd, token: nextToken)
                        connections[nextToken] = Connection(socket: socket)
                        nextToken += 1
                        lane.counter("site connections", connections.count)
                    }
                    continue
                }
                guard var connection = connections[token] else { continue }
                if !connection.response.isEmpty {
                    try write(token)
                    continue
                }
                var closed = false
                while let chunk = try connection.socket.receiveNow(max: 4096) {
                    if chunk.isEmpty { closed = true; break }
                    connection.request += chunk
                }
                if connection.dueNs == nil, let request = HTTPRequestHead(connection.request) {
                    connection.page = request.page
                    connection.replyFlow = request.flows.reply
                    connection.dueNs = interleave_monotonic_ns() + UInt64(latencyMs) * 1_000_000
                    lane.emit("io.end", flow: request.flows.request,
                              ["op": "recv", "page": .int(request.page), "request": .string(request.line)])
                    lane.emit("io.begin", ["op": "sleep", "ms": .int(latencyMs), "page": .int(request.page)])
                }
                connections[token] = connection
                if closed && connection.dueNs == nil { finish(token) }
            }
            // Responses whose latency has passed.
            let now2 = interleave_monotonic_ns()
            for (token, connection) in connections where connection.response.isEmpty && (connection.dueNs ?? .max) <= now2 {
                var updated = connection
                let body = CrawlSite.page(connection.page, bytes: pageBytes)
                updated.response = Array("HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8) + body
                connections[token] = updated
                lane.emit("io.end", ["op": "sleep", "page": .int(connection.page)])
                lane.emit("io.begin", flow: connection.replyFlow, ["op": "send", "page": .int(connection.page), "status": 200])
                try write(token)
            }
        }
    }

    /// Ends `serve` (its thread returns) once the crawl is done.
    func close() { doneControl.stop(.runEnded) }

    /// Page `k`: HTML of exactly `bytes` bytes, words and links to other pages, the
    /// same every time.
    static func page(_ k: Int, bytes: Int) -> [UInt8] {
        var html = Array("<html><head><title>page \(k)</title></head><body><h1>Page \(k)</h1>\n".utf8)
        let words = ["thread", "process", "socket", "select", "epoll", "callback", "future", "pool", "queue", "lock"]
        var n = k
        while html.count < bytes {
            n = n &* 1_103_515_245 &+ 12345
            let word = words[abs(n / 65536) % words.count]
            html += Array("<p>\(word) \(word)s and <a href=\"/page/\(abs(n) % 1000)\">\(word) link</a></p>\n".utf8)
        }
        html.removeLast(html.count - bytes)
        return html
    }
}

/// What the site needs of a request: `GET /page/K`, and the flows of the two
/// arrows the crawler asks it to draw (an `X-Flow: REQUEST REPLY` header).
struct HTTPRequestHead {
    let line: String
    let page: Int
    let flows: (request: Int?, reply: Int?)

    init?(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.firstRange(of: "\r\n\r\n") else { return nil }
        let lines = text[..<end.lowerBound].split(separator: "\r\n")
        guard let first = lines.first else { return nil }
        line = String(first)
        let parts = first.split(separator: " ")
        guard parts.count >= 2, parts[1].hasPrefix("/page/"), let page = Int(parts[1].dropFirst(6)) else { return nil }
        self.page = page
        var flows: (Int?, Int?) = (nil, nil)
        for header in lines.dropFirst() where header.lowercased().hasPrefix("x-flow:") {
            let values = header.dropFirst(7).split(separator: " ").compactMap { Int($0) }
            if values.count == 2 { flows = (values[0], values[1]) }
        }
        self.flows = flows
    }
}

/// One `requests.get(url)`: connect, send the request, read the response to EOF,
/// check the status and length. Traced on `emit` as connect, send and recv waits
/// with arrows to the site and back. Returns the body.
func fetchPage(_ page: Int, port: Int, waker: StopWaker?, flows: (request: Int, reply: Int), emit: EchoEmit) throws -> [UInt8] {
    _ = emit("io.begin", nil, ["op": "connect", "page": .int(page)])
    let socket = try Socket.connectTCP(port: port, waker: waker)
    defer { socket.close() }
    _ = emit("io.end", nil, ["op": "connect", "page": .int(page)])
    let request = "GET /page/\(page) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: interleave-crawler\r\nX-Flow: \(flows.request) \(flows.reply)\r\n\r\n"
    _ = emit("io.begin", flows.request, ["op": "send", "page": .int(page), "request": .string("GET /page/\(page)")])
    try socket.sendAll(Array(request.utf8), waker)
    _ = emit("io.end", nil, ["op": "send", "page": .int(page)])
    _ = emit("io.begin", nil, ["op": "recv", "page": .int(page)])
    var response: [UInt8] = []
    while true {
        let chunk = try socket.receive(max: 65536, waker)
        if chunk.isEmpty { break }
        response += chunk
    }
    let response2 = HTTPResponse(response)
    _ = emit("io.end", flows.reply, ["op": "recv", "page": .int(page), "bytes": .int(response.count),
                                      "status": .int(response2?.status ?? 0)])
    guard let parsed = response2, parsed.status == 200 else {
        throw NetError("GET /page/\(page): \(response2.map { "status \($0.status)" } ?? "malformed response")", code: EPROTO)
    }
    return parsed.body
}

struct HTTPResponse {
    let status: Int
    let body: [UInt8]

    init?(_ bytes: [UInt8]) {
        guard let split = bytes.indices.dropLast(3).first(where: {
            bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10
        }) else { return nil }
        let head = String(decoding: bytes[..<split], as: UTF8.self)
        let parts = head.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        let body = Array(bytes[(split + 4)...])
        if let length = head.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") })
            .flatMap({ Int($0.dropFirst(15).trimmingPrefix(" ")) }), length != body.count {
            return nil
        }
        self.status = status
        self.body = body
    }
}

/// The notes' `parse(text)`: they take len(text); this also counts words and links,
/// a pass over every byte, so a parse has real work in it.
struct PageFigures: Sendable {
    let chars: Int
    let words: Int
    let links: Int

    init(_ body: [UInt8]) {
        var words = 0, links = 0
        var inWord = false
        let count = body.count
        body.withUnsafeBufferPointer { bytes in
            for index in 0..<count {
                let byte = bytes[index]
                let letter = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A)
                if letter && !inWord { words += 1 }
                inWord = letter
                if byte == 0x3C, index + 2 < count, bytes[index + 1] == 0x61, bytes[index + 2] == 0x20 { links += 1 }
            }
        }
        self.chars = count
        self.words = words
        self.links = links
    }

    init(chars: Int, words: Int, links: Int) {
        self.chars = chars
        self.words = words
        self.links = links
    }

    var json: JSONObject { ["chars": .int(chars), "words": .int(words), "links": .int(links)] }
}
