import ArgumentParser
import Experiments
import JSON

/// `interleave explore race-condition --param workers=2 --seeds 1000`: seeded schedules of
/// one experiment, how many went wrong, and the shortest schedule that did.
struct ExploreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explore",
        abstract: "Run an experiment under many seeded schedules; report lost updates and deadlocks.")

    @Argument(help: "A thread experiment that accepts schedule (e.g. race-condition, deadlock).") var experiment: String
    @Option(name: .customLong("param"), help: "A parameter as name=value; repeatable.") var params: [String] = []
    @Option(help: "How many seeds to try (1–1000).") var seeds = 100
    @Option(help: "The first seed.") var firstSeed = 1

    func run() throws {
        guard let definition = Catalog.experiment(experiment) else {
            throw ValidationError("unknown experiment \"\(experiment)\"; known: \(Catalog.ids.joined(separator: ", "))")
        }
        guard ScheduleParameters.controllable.contains(definition.id) else {
            throw ValidationError("\(definition.id) cannot run under a controlled schedule; these can: "
                + ScheduleParameters.controllable.sorted().joined(separator: ", "))
        }
        guard (1...1000).contains(seeds) else { throw ValidationError("--seeds must be between 1 and 1000 (got \(seeds))") }
        var object = try parseParams(params)
        object["schedule"] = "free"
        let resolved: Parameters
        do { resolved = try definition.resolve(.object(object)) } catch { throw ValidationError(error.detail) }
        let report = Explore.run(.init(experiment: definition, params: resolved, seeds: seeds, firstSeed: firstSeed))
        print(JSONValue.object(report).jsonString)
    }
}

/// `name=value` pairs into a parameter object; values that parse as JSON are JSON.
func parseParams(_ pairs: [String]) throws -> JSONObject {
    var object = JSONObject()
    for pair in pairs {
        guard let equals = pair.firstIndex(of: "=") else { throw ValidationError("--param takes name=value (got \(pair))") }
        let name = String(pair[..<equals]), text = String(pair[pair.index(after: equals)...])
        object[name] = (try? JSONParser.parse(text)) ?? .string(text)
    }
    return object
}
