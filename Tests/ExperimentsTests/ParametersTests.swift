import Experiments
import JSON
import Testing

@Suite struct ParametersTests {
    let pool = Catalog.experiment("thread-pool")!

    func detail(_ params: JSONValue) -> String? {
        do {
            _ = try pool.resolve(params)
            return nil
        } catch {
            return error.detail
        }
    }

    @Test func defaultsAreFilledInAndEchoed() throws {
        let resolved = try pool.resolve(["workers": 3])
        #expect(resolved.int("workers") == 3)
        #expect(resolved.int("tasks") == 12)
        #expect(resolved.int("taskMs") == 200)
        #expect(resolved.string("mode") == "submit")
    }

    @Test func outOfRangeNamesTheFieldAndTheRange() {
        #expect(detail(["workers": 1000]) == "workers must be between 1 and 64 (got 1000)")
        #expect(detail(["tasks": -1]) == "tasks must be between 0 and 10000 (got -1)")
    }

    @Test func wrongTypesAreRefused() {
        #expect(detail(["workers": "three"]) == "workers must be an integer between 1 and 64 (got \"three\")")
        #expect(detail(["workers": 2.5]) == "workers must be an integer between 1 and 64 (got 2.5)")
        #expect(detail(["mode": "turbo"]) == "mode must be one of \"submit\", \"map\", \"sync\" (got \"turbo\")")
        #expect(detail(["workers": true]) == "workers must be an integer between 1 and 64 (got true)")
        #expect(detail([1, 2]) == "params must be an object (got array)")
    }

    @Test func unknownParametersAreRefused() {
        #expect(detail(["wrokers": 3])?.hasPrefix("unknown parameter \"wrokers\"") == true)
    }

    @Test func wholeNumbersWrittenAsDecimalsAreAccepted() throws {
        #expect(try pool.resolve(["workers": 3.0]).int("workers") == 3)
    }
}
