import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadsConditionTests {
    @Test func consumersWaitInALoopAndWakeOnNotify() throws {
        let (outcome, events) = try runThreadsExperiment("condition", ["consumers": 2, "items": 4])
        #expect(outcome.status == .completed)
        #expect(outcome.summary["taken"] == [1, 2, 3, 4])
        let notifies = events.of("cond.notify")
        #expect(notifies.count == 5)
        for wake in events.of("cond.wake") {
            let notify = notifies.first { $0.flow == wake.flow }
            #expect(notify != nil && notify!.seq < wake.seq)
        }
        #expect(events.of("cond.wait").count >= 4 + 2)
        #expect(outcome.summary["emptyWakeups"] == 0)
    }

    @Test func notifyAllWakesEveryoneAndThePredicateLoopSendsThemBack() throws {
        let (outcome, events) = try runThreadsExperiment("condition", ["consumers": 3, "items": 3, "notify": "all"])
        #expect(outcome.status == .completed)
        #expect(outcome.summary["emptyWakeups"] == 6)
        #expect(events.of("log").filter { $0.string("message")?.contains("wait again") == true }.count == 6)
    }
}
