import JSON

/// One experiment: what the catalog shows and the code that runs it.
/// Each lives in its own file as `extension Experiment { static let … }` and is
/// listed once in `Catalog.all`.
public struct Experiment: Sendable {
    public let id: String
    public let title: String
    public let category: String
    public let summary: String
    /// What to look for in the trace.
    public let lesson: String
    public internal(set) var parameters: [ParameterSpec]
    /// Runs on the run's own `main` thread. Returns the experiment's figures and a
    /// one-sentence `verdict`; `durationMs` and `tracer` are added by the runner.
    /// May throw `RunInterrupted` when the run is stopped.
    public let body: @Sendable (RunContext) throws -> JSONObject

    public init(id: String, title: String, category: String, summary: String, lesson: String,
                parameters: [ParameterSpec], body: @escaping @Sendable (RunContext) throws -> JSONObject) {
        self.id = id
        self.title = title
        self.category = category
        self.summary = summary
        self.lesson = lesson
        self.parameters = parameters
        self.body = body
    }

    public var json: JSONValue {
        [
            "id": .string(id), "title": .string(title), "category": .string(category),
            "summary": .string(summary), "lesson": .string(lesson),
            "parameters": .array(parameters.map(\.json)),
        ]
    }

    public func resolve(_ params: JSONValue?) throws(ParameterError) -> Parameters {
        try Parameters(resolving: params, against: parameters)
    }
}
