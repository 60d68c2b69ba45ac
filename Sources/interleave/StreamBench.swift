import ArgumentParser
import CSystem
import Glibc
import HTTPServer
import JSON
import Playground
import Primitives
import Tracing

/// `interleave bench-stream`: the live-stream figure of bench/run.py needs a producer
/// faster than the stream it measures, and no experiment emits half a million events a
/// second for long. So this serves `GET /events` exactly as the API serves a live run
/// (the same `EventStream`, the same recorder set-up, the same HTTP server) over a
/// trace that a thread emits at `--rate` while the client follows it. After each
/// stream ends it prints one JSON line: the events and the rate the producer achieved.
struct BenchStream: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-stream",
        abstract: "Serve a live trace emitted at a set rate to each GET /events (for bench/run.py); stops when stdin closes.")

    @Option(help: "Events each stream's producer emits.") var events = 1_000_000
    @Option(help: "Events per second the producer emits (paced in bursts of 1,000).") var rate = 2_000_000

    func run() throws {
        guard (1...5_000_000).contains(events) else { throw ValidationError("--events must be between 1 and 5000000 (got \(events))") }
        guard (1_000...100_000_000).contains(rate) else { throw ValidationError("--rate must be between 1000 and 100000000 (got \(rate))") }
        var configuration = ServerConfiguration()
        configuration.port = 0
        let (count, perSecond) = (events, rate)
        let server = Server(configuration: configuration) { request in
            guard request.path == "/events" else { return Response.text("not found\n", status: 404) }
            // As a run's recorder (ExperimentRun): wake-ups and merges on the scheduler thread.
            let recorder = TraceRecorder(capacity: count + 10, deliverWake: { Scheduler.shared.after(ms: 2, $0) })
            _ = TracedThread(name: "producer", detached: true) { Self.produce(recorder, events: count, rate: perSecond) }
            return .stream(EventStream(feed: LiveFeed(recorder: recorder), encoding: .ndjson, from: 0, heartbeatMs: 15_000),
                           contentType: EventEncoding.ndjson.contentType)
        }
        do { try server.start() } catch { throw ValidationError(error.description) }
        writeOut("listening on http://127.0.0.1:\(server.port)\n")
        var byte: UInt8 = 0
        while read(0, &byte, 1) > 0 {}
        server.stop()
    }

    /// Emits `events` typed events at `rate` a second, then finishes the trace.
    private static func produce(_ recorder: TraceRecorder, events: Int, rate: Int) {
        let counter = TraceName("counter"), name = TraceName("name"), value = TraceName("value"), i = TraceName("i")
        let lanes = (0..<4).map { TraceName("thread-\($0)") }
        let start = interleave_monotonic_ns()
        var emitted = 0
        while emitted < events {
            let burst = min(1_000, events - emitted)
            for step in emitted..<(emitted + burst) {
                recorder.emit(counter, lane: lanes[step & 3], TraceFields(name, .name(i), value, .int(step)))
            }
            emitted += burst
            // Sleep until this burst's place in the schedule, if ahead of it.
            let due = start + UInt64(Double(emitted) / Double(rate) * 1e9)
            let now = interleave_monotonic_ns()
            if due > now {
                var pause = timespec(tv_sec: Int((due - now) / 1_000_000_000), tv_nsec: Int((due - now) % 1_000_000_000))
                nanosleep(&pause, nil)
            }
        }
        let seconds = Double(interleave_monotonic_ns() - start) / 1e9
        recorder.finish()
        writeOut(JSONValue.object(["events": .int(events), "producerSeconds": .double(seconds),
                                   "producerRate": .double(Double(events) / seconds)]).jsonString + "\n")
    }
}
