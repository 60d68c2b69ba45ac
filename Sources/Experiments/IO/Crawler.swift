import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// The notes' crawler (001): fetch pages from a slow site, parse them — where?
    public static let crawler = Experiment(
        id: "crawler",
        title: "Crawler",
        category: "IO",
        summary: "Fetch N pages over real HTTP from a slow site the run serves on loopback — one by one, with a thread pool, a process pool, or one async thread with epoll — and parse each after shutdown, inline, or in a done-callback.",
        lesson: """
            The site lane answers each GET after latencyMs (its sleep spans); the arrows run from \
            each fetcher's send to the site and back with the page. sequential waits for every page \
            in turn: pages × latency. threads and processes keep `workers` fetches in the air at \
            once; async does the same on ONE thread — every page lane carries the same tid, and the \
            loop's epoll_wait returns whichever sockets are ready. Then look at the parse spans: \
            parse=after is the notes' first version — pool.shutdown(wait=True), then main parses \
            every page one after another (分析结果是串行), the first only after the last page came in. \
            parse=inline is the second: the worker that fetched a page parses it (增加耦合), so the \
            parse spans sit on the worker lanes, in worker pids. parse=callback is the third: \
            add_done_callback(parse) — with processes every parse runs back in the parent, on its \
            one result-handler thread, as each page arrives (回调函数是在主进程中执行的); with threads \
            the callback runs on the worker thread that finished the fetch, as Python does.
            """,
        parameters: [
            .integer("pages", 1...200, default: 10, "Pages to fetch (GET /page/1 … /page/N)."),
            .choice("backend", ["sequential", "threads", "processes", "async"], default: "processes",
                    "sequential: one fetch at a time on main; threads: ThreadPoolExecutor(workers); processes: ProcessPoolExecutor(workers); async: one thread, non-blocking sockets and epoll."),
            .integer("workers", 1...32, default: 4, "Pool size, or for async the fetches in flight at once."),
            .integer("latencyMs", 0...5000, default: 300, "How long the site takes to answer each page."),
            .integer("pageKB", 1...1024, default: 16, "Size of each page."),
            .choice("parse", ["after", "inline", "callback"], default: "callback",
                    "after: parse every page after shutdown(wait=True); inline: parse inside the fetch; callback: add_done_callback(parse)."),
        ],
        body: runCrawler
    )
}

/// Where one parse ran.
struct ParseRecord: Sendable {
    let page: Int
    let pid: Int32
    let tid: Int32
    let lane: String
    let startUs: Int64
    let figures: PageFigures

    var json: JSONValue {
        var object: JSONObject = ["page": .int(page), "pid": .int(Int(pid)), "tid": .int(Int(tid)), "lane": .string(lane)]
        for (key, value) in figures.json { object[key] = value }
        return .object(object)
    }
}

/// The parse, traced as a `parse K` task span on whatever lane runs it.
func parsePage(_ page: Int, _ body: [UInt8], emit: EchoEmit) -> PageFigures {
    _ = emit("task.start", nil, ["task": .string("parse \(page)"), "page": .int(page)])
    let figures = PageFigures(body)
    var fields = figures.json
    fields["task"] = .string("parse \(page)")
    _ = emit("task.end", nil, fields)
    return figures
}

private final class CrawlLog: Sendable {
    let parses = Mutex<[ParseRecord]>([])
    let bodies = Mutex<[Int: [UInt8]]>([:])
    let fetched = Mutex<[(page: Int, bytes: Int, pid: Int32, arrivedUs: Int64)]>([])

    func parse(_ page: Int, _ body: [UInt8], lane: Lane, run: RunContext) {
        let startUs = run.recorder.elapsedMicros
        let figures = parsePage(page, body, emit: lane.echoEmit)
        parses.withLock { $0.append(ParseRecord(page: page, pid: getpid(), tid: interleave_tid(), lane: lane.name, startUs: startUs, figures: figures)) }
    }

    func arrived(_ page: Int, bytes: Int, pid: Int32 = getpid(), run: RunContext) {
        let now = run.recorder.elapsedMicros
        fetched.withLock { $0.append((page, bytes, pid, now)) }
    }
}

private func runCrawler(_ run: RunContext) throws -> JSONObject {
    let pages = run.params.int("pages")
    let backend = run.params.string("backend")
    let workers = run.params.int("workers")
    let latencyMs = run.params.int("latencyMs")
    let pageKB = run.params.int("pageKB")
    let placement = run.params.string("parse")
    let main = run.main
    let waker = try StopWaker(control: run.control)
    let site = try CrawlSite(latencyMs: latencyMs, pageKB: pageKB)
    let siteThread = run.spawn("site") { lane in try site.serve(run: run, waker: waker, lane: lane) }
    defer {
        site.close()
        siteThread.join()
    }
    let port = site.port
    let log = CrawlLog()
    main.log("url_list = [http://127.0.0.1:\(port)/page/1 … /page/\(pages)]; \(backend), parse \(placement)")

    let startUs = run.recorder.elapsedMicros
    try main.phase("crawl") {
        switch backend {
        case "sequential": try crawlSequential(run, pages: pages, port: port, placement: placement, waker: waker, log: log)
        case "threads": try crawlThreads(run, pages: pages, port: port, workers: workers, placement: placement, waker: waker, log: log)
        case "processes": try crawlProcesses(run, pages: pages, port: port, workers: workers, placement: placement, log: log)
        default: try crawlAsync(run, pages: pages, port: port, workers: workers, placement: placement, waker: waker, log: log)
        }
    }
    if placement == "after" {
        // for obj in obj_list: parse(obj.result()) — serially, on main.
        try main.phase("parse") {
            for page in 1...pages {
                try run.check()
                guard let body = log.bodies.withLock({ $0[page] }) else { continue }
                log.parse(page, body, lane: main, run: run)
            }
        }
    }
    let crawlMs = Double(run.recorder.elapsedMicros - startUs) / 1000
    return summarizeCrawl(run, backend: backend, placement: placement, pages: pages, workers: workers, latencyMs: latencyMs,
                          crawlMs: crawlMs, log: log)
}

// MARK: Backends

private func crawlSequential(_ run: RunContext, pages: Int, port: Int, placement: String, waker: StopWaker, log: CrawlLog) throws {
    let main = run.main
    for page in 1...pages {
        let body = try fetchPage(page, port: port, waker: waker, flows: (run.recorder.nextFlow(), run.recorder.nextFlow()),
                                 emit: main.echoEmit)
        log.arrived(page, bytes: body.count, run: run)
        if placement == "after" { log.bodies.withLock { $0[page] = body } } else { log.parse(page, body, lane: main, run: run) }
    }
}

private func crawlThreads(_ run: RunContext, pages: Int, port: Int, workers: Int, placement: String, waker: StopWaker,
                          log: CrawlLog) throws {
    let main = run.main
    main.log("pool = ThreadPoolExecutor(\(workers))")
    let pool = TaskPool(context: run, workers: workers, prefix: "thread")
    for page in 1...pages {
        let future = pool.submit(task: page, from: main) { lane in
            let body = try fetchPage(page, port: port, waker: waker, flows: (run.recorder.nextFlow(), run.recorder.nextFlow()),
                                     emit: lane.echoEmit)
            log.arrived(page, bytes: body.count, run: run)
            if placement == "inline" { log.parse(page, body, lane: lane, run: run) } else { log.bodies.withLock { $0[page] = body } }
            return .int(body.count)
        }
        if placement == "callback" {
            // obj.add_done_callback(parse): runs on the thread that completes the future.
            future.addDoneCallback(on: main) { _, lane in
                guard let body = log.bodies.withLock({ $0[page] }) else { return }
                log.parse(page, body, lane: lane, run: run)
            }
        }
    }
    try pool.shutdown(wait: true, on: main)
}

private func crawlProcesses(_ run: RunContext, pages: Int, port: Int, workers: Int, placement: String, log: CrawlLog) throws {
    let main = run.main
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    main.log("pool = ProcessPoolExecutor(\(workers))")
    let pool = try ProcessPool(run: run, supervisor: supervisor, workers: workers, from: main, kind: "crawl")
    defer { pool.abandon() }
    for page in 1...pages {
        let message: JSONObject = ["page": .int(page), "port": .int(port), "inline": .bool(placement == "inline"),
                                   "requestFlow": .int(run.recorder.nextFlow()), "replyFlow": .int(run.recorder.nextFlow())]
        var callback: ProcessPool.Callback?
        if placement == "callback" {
            callback = { completed, lane in
                // parse(obj): in the parent, on the pool's result-handler thread.
                let body = Array((completed.value["body"]?.stringValue ?? "").utf8)
                log.parse(page, body, lane: lane, run: run)
            }
        }
        pool.submit(task: page, message: message, from: main, callback: callback)
    }
    try pool.closeAndJoin(on: main, op: "shutdown(wait=True)")
    for page in 1...pages {
        let completed = try pool.result(of: page, on: main)
        let value = completed.value
        if let error = value["error"]?.stringValue { throw NetError("worker pid \(completed.pid): \(error)", code: EIO) }
        let bytes = value["bytes"]?.intValue ?? 0
        log.fetched.withLock { $0.append((page, bytes, completed.pid, Int64(value["arrivedUs"]?.intValue ?? 0))) }
        if placement == "inline" {
            let figures = PageFigures(chars: value["chars"]?.intValue ?? 0, words: value["words"]?.intValue ?? 0,
                                      links: value["links"]?.intValue ?? 0)
            log.parses.withLock {
                $0.append(ParseRecord(page: page, pid: completed.pid, tid: Int32(value["tid"]?.intValue ?? 0),
                                      lane: value["lane"]?.stringValue ?? "", startUs: Int64(value["parseUs"]?.intValue ?? 0),
                                      figures: figures))
            }
        } else if placement == "after" {
            log.bodies.withLock { $0[page] = Array((value["body"]?.stringValue ?? "").utf8) }
        }
    }
}

/// `crawl`: a pool worker that fetches the page it is given and sends back the text
/// (or, with `inline`, parses it here and sends back the figures).
@Sendable func crawlWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    lane.start()
    let reader = Worker.LineReader()
    while let message = reader.next() {
        guard let task = message["task"]?.intValue, let page = message["page"]?.intValue,
              let port = message["port"]?.intValue else { continue }
        lane.emit("task.start", flow: message["flow"]?.intValue, ["task": .int(task)])
        var value: JSONObject = ["page": .int(page)]
        do {
            let body = try fetchPage(page, port: port, waker: nil,
                                     flows: (message["requestFlow"]?.intValue ?? 0, message["replyFlow"]?.intValue ?? 0),
                                     emit: lane.echoEmit)
            let now = Int64((interleave_monotonic_ns() &- worker.lane.trace.startNs) / 1000)
            value["bytes"] = .int(body.count)
            value["arrivedUs"] = .int(Int(now))
            if message["inline"] == true {
                value["parseUs"] = .int(Int(now))
                for (key, field) in parsePage(page, body, emit: lane.echoEmit).json { value[key] = field }
                value["tid"] = .int(Int(interleave_tid()))
                value["lane"] = .string(lane.name)
            } else {
                value["body"] = .string(String(decoding: body, as: UTF8.self))
            }
        } catch {
            value["error"] = .string("\(error)")
        }
        lane.emit("task.end", ["task": .int(task), "result": .int(value["bytes"]?.intValue ?? 0)])
        lane.trace.send(["ctl": "result", "task": .int(task), "value": .object(value)])
    }
    lane.end()
    return 0
}

/// One thread: every fetch a non-blocking socket registered with epoll, moved along
/// (connect → send → recv) whenever epoll_wait says it is ready. Each fetch draws on
/// its own `page-K` lane, all with this thread's tid.
private func crawlAsync(_ run: RunContext, pages: Int, port: Int, workers: Int, placement: String, waker: StopWaker,
                        log: CrawlLog) throws {
    let main = run.main
    enum Stage { case connecting, sending, receiving }
    struct Fetch {
        let page: Int
        let socket: Socket
        let lane: Lane
        var stage: Stage = .connecting
        var request: [UInt8]
        var sent = 0
        var response: [UInt8] = []
        let flows: (request: Int, reply: Int)
    }
    let epoll = try Epoll()
    try epoll.add(waker.fd, token: 0)
    var active: [UInt64: Fetch] = [:]
    defer { active.values.forEach { $0.socket.close() } }
    var next = 1, done = 0
    var callbacks: [(Int, [UInt8])] = []
    main.log("loop = asyncio event loop on one thread; at most \(workers) fetches at once")

    func start(_ page: Int) throws {
        let lane = run.lane("page-\(page)", kind: .task)
        lane.start()
        let flows = (run.recorder.nextFlow(), run.recorder.nextFlow())
        lane.emit("io.begin", ["op": "connect", "page": .int(page)])
        let socket = try Socket.startConnectTCP(port: port)
        let request = "GET /page/\(page) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: interleave-crawler\r\nX-Flow: \(flows.0) \(flows.1)\r\n\r\n"
        active[UInt64(page)] = Fetch(page: page, socket: socket, lane: lane, request: Array(request.utf8), flows: flows)
        try epoll.add(socket.fd, events: Epoll.writable, token: UInt64(page))
    }

    while done < pages {
        while active.count < workers, next <= pages {
            try start(next)
            next += 1
        }
        main.emit("io.begin", ["op": "epoll_wait", "registered": .int(active.count)])
        let ready = try epoll.wait(timeoutMs: -1)
        try run.check()
        main.emit("io.end", ["op": "epoll_wait", "ready": .int(ready.count)])
        main.counter("ready fds", ready.count)
        for (token, _) in ready where token != 0 {
            guard var fetch = active[token] else { continue }
            let lane = fetch.lane
            if fetch.stage == .connecting {
                let error = fetch.socket.connectError
                guard error == 0 else { throw NetError("connect 127.0.0.1:\(port)", code: error) }
                lane.emit("io.end", ["op": "connect", "page": .int(fetch.page)])
                lane.emit("io.begin", flow: fetch.flows.request, ["op": "send", "page": .int(fetch.page), "request": .string("GET /page/\(fetch.page)")])
                fetch.stage = .sending
            }
            if fetch.stage == .sending {
                fetch.sent += try fetch.socket.sendNow(fetch.request[fetch.sent...])
                if fetch.sent == fetch.request.count {
                    lane.emit("io.end", ["op": "send", "page": .int(fetch.page)])
                    lane.emit("io.begin", ["op": "recv", "page": .int(fetch.page)])
                    fetch.stage = .receiving
                    try epoll.modify(fetch.socket.fd, events: Epoll.readable, token: token)
                }
                active[token] = fetch
                continue
            }
            var finished = false
            while let chunk = try fetch.socket.receiveNow(max: 65536) {
                if chunk.isEmpty { finished = true; break }
                fetch.response += chunk
            }
            guard finished else {
                active[token] = fetch
                continue
            }
            epoll.remove(fetch.socket.fd)
            fetch.socket.close()
            active[token] = nil
            done += 1
            let response = HTTPResponse(fetch.response)
            lane.emit("io.end", flow: fetch.flows.reply, ["op": "recv", "page": .int(fetch.page), "bytes": .int(fetch.response.count),
                                                           "status": .int(response?.status ?? 0)])
            guard let response, response.status == 200 else { throw NetError("GET /page/\(fetch.page): bad response", code: EPROTO) }
            log.arrived(fetch.page, bytes: response.body.count, run: run)
            switch placement {
            case "inline": log.parse(fetch.page, response.body, lane: lane, run: run)
            case "callback": callbacks.append((fetch.page, response.body))
            default: log.bodies.withLock { $0[fetch.page] = response.body }
            }
            lane.end()
        }
        // Done-callbacks run on the loop itself, after the ready sockets were handled (call_soon).
        for (page, body) in callbacks { log.parse(page, body, lane: main, run: run) }
        callbacks.removeAll()
    }
}

// MARK: Summary

private func summarizeCrawl(_ run: RunContext, backend: String, placement: String, pages: Int, workers: Int, latencyMs: Int,
                            crawlMs: Double, log: CrawlLog) -> JSONObject {
    let main = run.main
    let parses = log.parses.withLock { $0 }.sorted { $0.page < $1.page }
    let fetched = log.fetched.withLock { $0 }
    let bytes = fetched.reduce(0) { $0 + $1.bytes }
    let parsePids = Set(parses.map(\.pid)).sorted()
    let parseThreads = Set(parses.map { "\($0.pid)/\($0.tid)" })
    let parseLanes = Set(parses.map(\.lane)).sorted()
    let fetchPids = Set(fetched.map(\.pid)).sorted()
    let me = getpid()
    let sequentialMs = pages * latencyMs

    let events = run.recorder.events
    let parseStarts = events.filter { $0.type == "task.start" && ($0["task"]?.stringValue ?? "").hasPrefix("parse ") }
    let arrivals = events.filter { $0.type == "io.end" && $0["op"] == "recv" && $0["page"] != nil && $0.lane != "site" }
    let firstArrival = arrivals.first
    let lastArrival = arrivals.last

    let whereText: String
    switch placement {
    case "after":
        let firstParse = parses.map(\.startUs).min() ?? 0
        let firstIn = fetched.map(\.arrivedUs).min() ?? 0
        whereText = "every parse ran after the last fetch, one after another on main (pid \(me)); the first began \(fmtMs(Double(firstParse - firstIn) / 1000)) ms after the first page had arrived"
        main.insight("parse=after: the parse spans start only after the last page came in (shutdown(wait=True)), then run one after another on main — the first page waited \(fmtMs(Double(firstParse - firstIn) / 1000)) ms to be parsed.",
                     refs: [firstArrival?.seq, lastArrival?.seq, parseStarts.first?.seq], kind: .order)
    case "inline":
        whereText = "each page was parsed where it was fetched: \(parseThreads.count) thread\(parseThreads.count == 1 ? "" : "s") in \(parsePids.count) process\(parsePids.count == 1 ? "" : "es") (pid\(parsePids.count == 1 ? "" : "s") \(parsePids.map(String.init).joined(separator: ", ")))"
        main.insight("parse=inline: each parse span sits on the lane that fetched the page — \(parseLanes.prefix(4).joined(separator: ", "))\(parseLanes.count > 4 ? ", …" : "") — fetching and parsing are coupled in one task.",
                     refs: parseStarts.prefix(4).map(\.seq), kind: .actor)
    default:
        if backend == "processes" {
            let inParent = parses.allSatisfy { $0.pid == me }
            whereText = inParent
                ? "every parse ran as a done-callback in the parent (pid \(me)) on \(parseLanes.joined(separator: ", ")), one after another as the pages arrived"
                : "parses ran in pids \(parsePids.map(String.init).joined(separator: ", "))"
            main.insight("parse=callback with processes: the workers only fetch; every parse span is in the parent, pid \(me), on the \(parseLanes.first ?? "result-handler") lane — one thread, so the callbacks run one after another.",
                         refs: parseStarts.prefix(4).map(\.seq), kind: .actor)
        } else if backend == "async" || backend == "sequential" {
            whereText = "every done-callback ran on the one thread that runs the \(backend == "async" ? "event loop" : "crawl") (main, pid \(me), tid \(parses.first.map { String($0.tid) } ?? "?")), right after its page arrived"
            main.insight("parse=callback with \(backend): every parse span is on main — \(backend == "async" ? "the loop runs each done-callback itself (call_soon) after handling the ready sockets" : "there is only one thread to run it") — and each comes right after its page arrived.",
                         refs: parseStarts.prefix(4).map(\.seq), kind: .actor)
        } else {
            whereText = "each done-callback ran on the thread that finished the fetch: \(parseLanes.prefix(6).joined(separator: ", "))\(parseLanes.count > 6 ? ", …" : "") (\(parseThreads.count) thread\(parseThreads.count == 1 ? "" : "s"), pid \(me))"
            main.insight("parse=callback with \(backend): the parse spans sit on \(parseLanes.prefix(3).joined(separator: ", "))\(parseLanes.count > 3 ? ", …" : "") — a done-callback runs on the thread that completed the future, here \(parseThreads.count) thread\(parseThreads.count == 1 ? "" : "s").",
                         refs: parseStarts.prefix(4).map(\.seq), kind: .actor)
        }
    }
    if pages > 1 {
        let concurrency = backend == "sequential" ? "one at a time" : "\(min(workers, pages)) at once"
        main.insight("\(pages) pages of \(latencyMs) ms each took \(fmtMs(crawlMs)) ms fetched \(concurrency); one by one they need at least \(sequentialMs) ms.",
                     refs: [firstArrival?.seq, lastArrival?.seq], kind: .timing)
    }
    let kb = Double(bytes) / 1024
    let verdict = "\(backend) fetched \(fetched.count) of \(pages) pages (\(fmtMs(kb)) KB) in \(fmtMs(crawlMs)) ms, against \(sequentialMs) ms for \(pages) × \(latencyMs) ms one by one; \(whereText)."
    return [
        "verdict": .string(verdict), "backend": .string(backend), "parse": .string(placement), "pages": .int(fetched.count),
        "bytes": .int(bytes), "crawlMs": .double(round1(crawlMs)), "oneByOneMs": .int(sequentialMs), "workers": .int(workers),
        "parentPid": .int(Int(me)), "fetchPids": JSONValue(fetchPids.map { Int($0) }),
        "parsePids": JSONValue(parsePids.map { Int($0) }), "parseThreads": .int(parseThreads.count),
        "parseLanes": JSONValue(parseLanes), "parses": .array(parses.map(\.json)),
    ]
}
