import Foundation
import JSON
import Testing

/// Parameters that could only end at the run deadline are refused with a 400 that
/// names them and the estimate, instead of running for 60 s to end as timedOut.
@Suite struct DurationEstimateE2ETests {
    static let server = Result { try ServerProcess.start(["--refuse-long-runs"]) }

    @Test(arguments: [
        (#"{"experiment":"thread-pool","params":{"tasks":10000}}"#, "tasks"),
        (#"{"experiment":"process-pool","params":{"tasks":10000,"taskMs":100}}"#, "tasks"),
        (#"{"experiment":"sequential-vs-concurrent","params":{"taskMs":5000}}"#, "taskMs"),
        (#"{"experiment":"deadlock","params":{"strategy":"ordered","philosophers":16,"holdMs":10000}}"#, "holdMs"),
        (#"{"experiment":"producer-consumer","params":{"items":10000}}"#, "items"),
    ])
    func aRunThatCannotFinishIsRefused(body: String, field: String) throws {
        let server = try Self.server.get()
        let response = try server.request("POST", "/api/runs", body: body)
        #expect(response.status == 400)
        let problem = response.json
        #expect(response.header("content-type") == "application/problem+json")
        #expect(problem["field"]?.stringValue == "params.\(field)")
        let detail = problem["detail"]?.stringValue ?? ""
        #expect(detail.contains("past the run deadline") && detail.contains(field))
        #expect((problem["estimateMs"]?.intValue ?? 0) >= (problem["deadlineMs"]?.intValue ?? .max))
    }
}
