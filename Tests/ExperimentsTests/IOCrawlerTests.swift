import Experiments
import Glibc
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    /// crawler: every page really fetched over HTTP, and each parse where the
    /// placement puts it.
    @Suite struct IOCrawlerTests {
        static let combinations = ["sequential", "threads", "processes", "async"].flatMap { backend in
            ["after", "inline", "callback"].map { (backend, $0) }
        }

        @Test(arguments: combinations)
        func everyPageIsFetchedAndParsedWhereThePlacementSays(backend: String, placement: String) throws {
            let (outcome, events) = try ProcessRuns.run("crawler", ["backend": .string(backend), "parse": .string(placement),
                                                                    "pages": 4, "workers": 2, "latencyMs": 20, "pageKB": 3])
            #expect(outcome.status == .completed, "\(outcome.summary)")
            let summary = outcome.summary
            #expect(summary["pages"] == 4 && summary["bytes"] == .int(4 * 3 * 1024))
            let parses = (summary["parses"]?.arrayValue ?? []).compactMap(\.objectValue)
            #expect(parses.map { $0["page"]?.intValue ?? 0 } == [1, 2, 3, 4])
            #expect(parses.allSatisfy { ($0["chars"]?.intValue ?? 0) == 3 * 1024 && ($0["links"]?.intValue ?? 0) > 0 })
            let me = Int(getpid())
            let lanes = Set(parses.compactMap { $0["lane"]?.stringValue })
            let pids = Set(parses.compactMap { $0["pid"]?.intValue })
            // Each GET reached the site and its page came back: both arrows of every fetch.
            let siteRecvs = events.filter { $0.lane == "site" && $0.type == "io.end" && $0["op"] == "recv" }
            #expect(siteRecvs.count == 4)
            for recv in siteRecvs { #expect(events.filter { $0.flow == recv.flow }.count == 2) }
            switch placement {
            case "after":
                #expect(lanes == ["main"] && pids == [me])
                let lastArrival = events.last { $0.type == "io.end" && $0["op"] == "recv" && $0.lane != "site" }!.seq
                let firstParse = events.first { $0.type == "task.start" && ($0["task"]?.stringValue ?? "").hasPrefix("parse") }!.seq
                #expect(firstParse > lastArrival, "a parse began before the last page arrived")
            case "inline":
                switch backend {
                case "processes": #expect(!pids.contains(me) && lanes.allSatisfy { $0.hasPrefix("worker-") })
                case "threads": #expect(pids == [me] && lanes.allSatisfy { $0.hasPrefix("thread-") })
                case "async": #expect(lanes.allSatisfy { $0.hasPrefix("page-") })
                default: #expect(lanes == ["main"])
                }
            default:
                #expect(pids == [me], "done-callbacks run in the parent")
                switch backend {
                case "processes": #expect(lanes == ["result-handler"])
                case "threads": #expect(lanes.allSatisfy { $0.hasPrefix("thread-") || $0 == "main" })
                default: #expect(lanes == ["main"])
                }
            }
            if backend == "async" {
                // One OS thread: the loop and every page lane.
                let mainTid = events.first { $0.lane == "main" }!.tid
                #expect(events.filter { $0.lane.hasPrefix("page-") }.allSatisfy { $0.tid == mainTid })
                #expect(Set(parses.compactMap { $0["tid"]?.intValue }) == [Int(mainTid)])
            }
            #expect(events.contains { $0.type == "insight" })
        }
    }
}
