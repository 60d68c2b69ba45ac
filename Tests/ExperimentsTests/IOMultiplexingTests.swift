import Experiments
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    /// io-multiplexing: what the kernel did per wait, not how long it took (timing is
    /// for scripts/bench): poll and select are handed every descriptor on every call,
    /// epoll returns only the ready one, and the busy loop makes a system call per socket.
    @Suite struct IOMultiplexingTests {
        func steps(_ summary: JSONObject, _ mechanism: String) -> [JSONObject] {
            (summary["steps"]?.arrayValue ?? []).compactMap(\.objectValue).filter { $0["mechanism"]?.stringValue == mechanism }
        }

        @Test func pollScansEveryIdleDescriptorWhileEpollReturnsOnlyTheReadyOne() throws {
            let (outcome, events) = try ProcessRuns.run("io-multiplexing", ["mechanism": "poll", "idleConnections": 40, "rounds": 30, "gapMs": 1])
            #expect(outcome.status == .completed, "\(outcome.summary)")
            let poll = steps(outcome.summary, "poll"), epoll = steps(outcome.summary, "epoll")
            #expect(poll.map { $0["idle"]?.intValue ?? -1 } == [0, 10, 20, 40])
            // poll: the kernel was handed (and answered for) idle + 1 descriptors each call.
            #expect(poll.map { $0["scannedPerCall"]?.intValue ?? -1 } == [1, 11, 21, 41])
            // Each wait reported exactly the active socket, never an idle one.
            for step in poll + epoll {
                #expect(step["returnedPerCall"]?.doubleValue == 1 && step["idleReported"] == 0, "\(step)")
            }
            #expect(epoll.count == 4 && epoll.allSatisfy { $0["scannedPerCall"] == .null })
            // One phase per idle-count step, one timed counter per mechanism and step, insights pointing at them.
            let phases = events.filter { $0.type == "phase.begin" }.compactMap { $0["name"]?.stringValue }
            #expect(["idle = 0", "idle = 10", "idle = 20", "idle = 40"].allSatisfy(phases.contains))
            let insights = events.filter { $0.type == "insight" }
            let counters = Set(events.filter { $0.type == "counter" && ($0["name"]?.stringValue ?? "").hasSuffix("ns/wait") }.map(\.seq))
            #expect(counters.count == 8)
            #expect(insights.contains { insight in (insight["refs"]?.arrayValue ?? []).compactMap(\.intValue).allSatisfy(counters.contains) })
        }

        @Test func selectRefusesDescriptorsAboveFDSetSize() throws {
            // 600 idle connections are 1200 descriptors: some are numbered past 1024.
            let (outcome, events) = try ProcessRuns.run("io-multiplexing", ["mechanism": "select", "idleConnections": 600, "rounds": 5, "gapMs": 1])
            #expect(outcome.status == .completed)
            let select = steps(outcome.summary, "select")
            #expect(select.first?["usPerWait"] != nil, "select with no idle connections is measured")
            #expect(select.last?["refused"]?.stringValue?.contains("FD_SETSIZE") == true)
            #expect(outcome.summary["verdict"]?.stringValue?.contains("select refused") == true)
            #expect(events.contains { $0.type == "insight" && $0["kind"] == "problem" })
        }

        @Test func theBusyLoopMakesOneRecvPerSocketAndKeepsCalling() throws {
            let (outcome, _) = try ProcessRuns.run("io-multiplexing", ["mechanism": "busy-nonblocking", "idleConnections": 20, "rounds": 10, "gapMs": 5])
            #expect(outcome.status == .completed)
            let busy = steps(outcome.summary, "busy-nonblocking")
            #expect(busy.map { $0["scannedPerCall"]?.intValue ?? -1 } == [1, 6, 11, 21])
            let waiting = (outcome.summary["waiting"]?.arrayValue ?? []).compactMap(\.objectValue)
            let busyCalls = waiting.first { $0["mechanism"] == "busy-nonblocking" }?["waitCalls"]?.intValue ?? 0
            let epollCalls = waiting.first { $0["mechanism"] == "epoll" }?["waitCalls"]?.intValue ?? 0
            // epoll sleeps once per message (at most 10 calls); the busy loop sweeps until data is there.
            #expect(epollCalls >= 1 && epollCalls <= 10)
            #expect(busyCalls > epollCalls)
            #expect(waiting.allSatisfy { $0["cpuMs"]?.doubleValue != nil && $0["wallMs"]?.doubleValue != nil })
        }
    }
}
