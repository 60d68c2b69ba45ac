import Experiments
import Glibc
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    /// echo-server: real clients on real loopback sockets; every request answered by
    /// the model asked for.
    @Suite struct IOEchoServerTests {
        static let models = ["thread-per-connection", "thread-pool", "process-pool", "event-loop", "udp-dict"]

        @Test(arguments: models)
        func everyRequestIsAnsweredByEachModel(model: String) throws {
            let (outcome, events) = try ProcessRuns.run("echo-server", ["model": .string(model), "clients": 3, "requests": 25, "workers": 2])
            #expect(outcome.status == .completed, "\(outcome.summary)")
            let summary = outcome.summary
            #expect(summary["replies"] == 75 && summary["answeredByServer"] == 75 && summary["mismatches"] == 0)
            // Every drawn request has its two arrows: client send → server recv, server send → client recv.
            let clientSends = events.filter { $0.type == "io.begin" && $0.lane.hasPrefix("client-") && $0.flow != nil }
            #expect(clientSends.count == 3 * 20, "the first 20 requests of each client are drawn")
            for send in clientSends {
                let ends = events.filter { $0.flow == send.flow }
                #expect(ends.count == 2 && ends.contains { !$0.lane.hasPrefix("client-") && $0.type == "io.end" },
                        "flow \(send.flow!) has no server recv")
            }
            #expect(events.contains { $0.type == "insight" } && events.contains { $0.type == "phase.begin" })
            #expect(summary["verdict"]?.stringValue?.contains("75 of 75 requests") == true)
        }

        @Test func modelsUseTheServerThreadsAndProcessesTheyPromise() throws {
            let me = Int(getpid())
            func run(_ model: String) throws -> (JSONObject, [TraceEvent]) {
                let (outcome, events) = try ProcessRuns.run("echo-server", ["model": .string(model), "clients": 4, "requests": 3, "workers": 2])
                #expect(outcome.status == .completed)
                return (outcome.summary, events)
            }
            func serverRecvs(_ events: [TraceEvent]) -> [TraceEvent] {
                events.filter { $0.type == "io.end" && ($0["op"] == "recv" || $0["op"] == "recvfrom") && !$0.lane.hasPrefix("client-") && $0["eof"] == nil }
            }
            // One thread per connection, plus the accepting main thread.
            let (perConnection, perConnectionEvents) = try run("thread-per-connection")
            #expect(perConnection["serverThreads"] == 5)
            #expect(Set(serverRecvs(perConnectionEvents).map(\.tid)).count == 4)
            // Never more than W pool threads serve.
            let (pool, poolEvents) = try run("thread-pool")
            #expect((pool["serverThreads"]?.intValue ?? 99) <= 3)
            #expect(Set(serverRecvs(poolEvents).map(\.tid)).count <= 2)
            // The parent accepts, worker processes serve: no recv in the parent's pid.
            let (processes, processEvents) = try run("process-pool")
            let workerPids = Set((processes["workerPids"]?.arrayValue ?? []).compactMap(\.intValue))
            #expect(workerPids.count == 2 && !workerPids.contains(me))
            let recvs = serverRecvs(processEvents)
            #expect(recvs.count == 12 && recvs.allSatisfy { workerPids.contains(Int($0.pid)) })
            #expect(processEvents.filter { $0.type == "task.submit" && $0["via"] == "SCM_RIGHTS" }.count == 4)
            // One thread serves everything.
            let (loop, loopEvents) = try run("event-loop")
            #expect(loop["serverThreads"] == 1 && Set(serverRecvs(loopEvents).map(\.tid)).count == 1)
            // The dict has one key per client address, each with every message.
            let (udp, _) = try run("udp-dict")
            let dict = udp["dict"]?.objectValue ?? [:]
            #expect(dict.count == 4 && dict.allSatisfy { $0.value == 3 })
            #expect(dict.allSatisfy { $0.key.hasPrefix("127.0.0.1:") })
        }
    }
}
