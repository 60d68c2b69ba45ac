import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    @Suite struct ProcessQueueTests {
        @Test(arguments: [1, 3])
        func everyPutInTheProducerIsLinkedToExactlyOneGetInAnotherProcess(consumers: Int) throws {
            let (outcome, events) = try ProcessRuns.run("process-queue", ["items": 12, "consumers": .int(consumers)])
            #expect(outcome.status == .completed)
            #expect(outcome.summary["exactlyOnce"] == true)
            let puts = events.filter { $0.type == "queue.put" && $0.flow != nil }
            let gets = events.filter { $0.type == "queue.get" && $0.flow != nil }
            #expect(puts.count == 12 && gets.count == 12)
            let producerPid = puts[0].pid
            #expect(producerPid != getpid() && puts.allSatisfy { $0.pid == producerPid })
            for put in puts {
                let matching = gets.filter { $0.flow == put.flow }
                #expect(matching.count == 1)
                if let get = matching.first {
                    #expect(get.pid != producerPid && get.pid != getpid())
                    #expect(get.fields["item"] == put.fields["item"])
                    #expect(put.seq < get.seq && put.ts <= get.ts)
                }
            }
            // One STOP per consumer, each consumer ends on its own.
            #expect(events.filter { $0.type == "queue.get" && $0.fields["item"] == "STOP" }.count == consumers)
        }
    }
}
