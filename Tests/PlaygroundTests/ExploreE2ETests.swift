import Foundation
import JSON
import Testing

/// POST /api/explore over HTTP: an exploration as a whole has the run deadline, and the
/// schedule is the exploration's to choose.
@Suite struct ExploreE2ETests {
    @Test func anExplorationPastTheDeadlineReportsTheSeedsThatRan() throws {
        // 300 ms for the whole exploration: 1000 seeds of this size cannot all run in it.
        let server = try ServerProcess.start(["--run-deadline-ms", "300", "--no-refuse-long-runs"])
        let response = try server.request("POST", "/api/explore", body: #"{"experiment":"race-condition","params":{"workers":4,"increments":50},"seeds":1000}"#)
        #expect(response.status == 200)
        let report = response.json
        let runs = try #require(report["runs"]?.intValue)
        #expect(runs < 1000)
        #expect(report["seedsRequested"] == 1000)
        #expect(report["stoppedEarly"] == true)
        #expect(report["passed"]?.intValue.map { $0 + (report["failed"]?.intValue ?? 0) } == runs)
        let verdict = report["verdict"]?.stringValue ?? ""
        #expect(verdict.contains("after \(runs) of 1000 seeds"), "verdict: \(verdict)")
    }

    @Test func theScheduleParametersAreNotTheCallersToGive() throws {
        let server = try ServerProcess.shared()
        for key in ["schedule", "seed", "choices"] {
            let value = key == "schedule" ? #""step""# : key == "seed" ? "3" : "[]"
            let response = try server.request("POST", "/api/explore",
                                              body: #"{"experiment":"race-condition","params":{"\#(key)":\#(value)},"seeds":1}"#)
            #expect(response.status == 400, "\(key)")
            #expect(response.json["field"]?.stringValue == "params.\(key)")
        }
        // A small exploration that fits runs every seed and says nothing of stopping.
        let whole = try server.request("POST", "/api/explore", body: #"{"experiment":"race-condition","params":{"workers":2,"increments":2},"seeds":3}"#)
        #expect(whole.status == 200)
        #expect(whole.json["runs"] == 3)
        #expect(whole.json["seedsRequested"] == 3)
        #expect(whole.json["stoppedEarly"] == nil)
    }
}
