import Experiments
import JSON
import Testing

/// Each estimate is a lower bound of what the run must do; the defaults fit the deadline.
@Suite struct DurationEstimateTests {
    @Test func everyDefaultRunFitsTheDeadline() throws {
        for experiment in Catalog.all {
            let estimate = experiment.estimate(try experiment.resolve(nil))
            #expect((estimate?.ms ?? 0) < 60_000, "\(experiment.id): \(estimate?.ms ?? 0) ms")
        }
    }

    @Test(arguments: [
        ("thread-pool", ["tasks": 10_000, "jitterPct": 0] as JSONValue, 500_000),
        ("thread-pool", ["tasks": 12, "taskMs": 100, "workers": 4, "jitterPct": 0, "mode": "sync"] as JSONValue, 1_200),
        ("thread-pool", ["tasks": 12, "taskMs": 100, "workers": 4, "jitterPct": 0] as JSONValue, 300),
        ("process-pool", ["tasks": 10_000, "taskMs": 100, "jitterPct": 0, "workers": 3] as JSONValue, 333_400),
        ("sequential-vs-concurrent", ["taskMs": 5_000] as JSONValue, 60_000),
        ("processes", ["count": 64, "workMs": 10_000, "action": "serial"] as JSONValue, 64 * 10_005),
    ])
    func estimatesFollowTheParameters(id: String, params: JSONValue, expected: Int) throws {
        let experiment = try #require(Catalog.experiment(id))
        let estimate = try #require(experiment.estimate(try experiment.resolve(params)))
        #expect(estimate.ms == expected)
        #expect(!estimate.parameters.isEmpty && !estimate.reason.isEmpty)
    }
}
