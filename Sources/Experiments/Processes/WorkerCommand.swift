import CSystem
import Glibc
import JSON
import Primitives

/// The hidden `interleave worker …` entry point: the code a child process runs when
/// the server starts its own executable again for a process experiment.
///
/// `interleave worker KIND --start-ns N --parent PID --lane NAME [--key value …]`
/// The child traces to fd 3 (see `WorkerTrace`), reads commands from stdin when it
/// has any, finds shared memory or pipes at fds 4 and up, and exits.
public enum WorkerCommand {
    /// `arguments` are what follows `interleave worker`; returns the exit code.
    public static func main(_ arguments: [String]) -> Int32 {
        guard let kind = arguments.first, let body = kinds[kind] else {
            FileHandleWriter.standardError("interleave worker: unknown kind \(arguments.first ?? "(none)"); known: \(kinds.keys.sorted().joined(separator: ", "))\n")
            return 2
        }
        var options: [String: String] = [:]
        var index = 1
        while index + 1 < arguments.count, arguments[index].hasPrefix("--") {
            options[String(arguments[index].dropFirst(2))] = arguments[index + 1]
            index += 2
        }
        // First thing: die with the server. The parent may already have died before
        // the prctl, so check that it is still the one that started us.
        if let parent = options["parent"].flatMap({ Int32($0) }) {
            _ = interleave_set_parent_death_signal(SIGKILL)
            if getppid() != parent { return 4 }
        }
        // A write to a vanished parent then fails with EPIPE instead of killing us silently.
        signal(SIGPIPE, SIG_IGN)
        guard let startNs = options["start-ns"].flatMap({ UInt64($0) }), let name = options["lane"] else {
            FileHandleWriter.standardError("interleave worker: --start-ns and --lane are required\n")
            return 2
        }
        let trace = WorkerTrace(startNs: startNs)
        let worker = Worker(options: options, lane: WorkerLane("\(name) (pid \(getpid()))", trace: trace))
        if options["hold"] == "true" {
            // A test asked this child to hold still until it kills it from outside.
            worker.lane.start()
            worker.lane.log("held for a test: waiting to be killed")
            while true { pause() }
        }
        return body(worker)
    }

    /// Every kind of child, by the name the parent passes.
    static let kinds: [String: @Sendable (Worker) -> Int32] = [
        "work": processWorker,
        "noop": noopWorker,
        "gil-worker": gilWorker,
        "job": jobWorker,
        "pool": poolWorker,
        "queue-producer": queueProducer,
        "queue-consumer": queueConsumer,
        "pipe-producer": pipeProducer,
        "pipe-consumer": pipeConsumer,
        "counter": counterWorker,
        "echo-worker": echoPoolWorker,
        "manager": managerServer,
        "manager-client": managerClient,
        "cpu-work": cpuWorkWorker,
        "crawl": crawlWorker,
        "trace-burst": traceBurstWorker,
    ]
}

/// What a child knows: its options and its lane.
struct Worker: Sendable {
    let options: [String: String]
    let lane: WorkerLane

    func int(_ key: String, _ fallback: Int = 0) -> Int { options[key].flatMap { Int($0) } ?? fallback }
    func bool(_ key: String) -> Bool { options[key] == "true" }

    /// Sleeps, traced as `io.begin/io.end {op: "sleep"}` like a parent lane's sleep.
    func sleep(ms: Int) {
        lane.emit("io.begin", ["op": "sleep", "ms": .int(ms)])
        var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
        lane.emit("io.end", ["op": "sleep"])
    }

    /// Shared memory the parent passed at `fd`.
    func sharedMemory(fd: Int32 = 4) -> SharedMemory? { try? SharedMemory(mapping: fd) }

    /// Reads stdin one line at a time (the parent's commands).
    final class LineReader {
        private var buffer: [UInt8] = []
        private let fd: Int32
        init(fd: Int32 = 0) { self.fd = fd }

        func next() -> JSONObject? {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                if let newline = buffer.firstIndex(of: 0x0A) {
                    let line = Array(buffer[..<newline])
                    buffer.removeFirst(newline + 1)
                    if let object = (try? JSONParser.parse(line))?.objectValue { return object }
                    continue
                }
                let count = read(fd, &chunk, chunk.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return nil }
                buffer.append(contentsOf: chunk[..<count])
            }
        }
    }
}

/// `trace-burst` (for the tests of the child trace path): says it is ready, then emits
/// `--count` numbered `counter {thread, value}` events on each of `--threads` threads
/// as fast as it can — every odd one with a text field too, so both kinds of frame are
/// sent — and ends.
@Sendable func traceBurstWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    let count = worker.int("count", 1000), threads = max(1, worker.int("threads", 1))
    lane.start()
    lane.trace.send(["ctl": "ready"])
    @Sendable func burst(_ thread: Int) {
        for value in 0..<count {
            var fields: JSONObject = ["thread": .int(thread), "value": .int(value)]
            if value % 2 == 1 { fields["note"] = .string("odd \(value) on \(thread)") }
            lane.emit("counter", fields)
        }
    }
    let others = (1..<threads).map { thread in TracedThread(name: "burst-\(thread)") { burst(thread) } }
    burst(0)
    for thread in others { thread.join() }
    lane.end()
    return 0
}

/// `noop`: starts and ends; what spawn-cost measures.
@Sendable func noopWorker(_ worker: Worker) -> Int32 {
    worker.lane.start()
    worker.lane.end()
    return 0
}

enum FileHandleWriter {
    static func standardError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
