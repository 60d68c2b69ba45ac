import Experiments
import JSON

/// The OpenAPI 3.1 description of the API, built from the same catalog the server
/// serves, so experiment ids and statuses cannot drift from the code.
enum OpenAPI {
    static func document(version: String) -> JSONValue {
        func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
        func content(_ type: String, _ schema: JSONValue) -> JSONValue { [.init(stringLiteral: type): ["schema": schema]] }
        let problem: JSONValue = ["description": "Problem details (RFC 9457)", "content": content("application/problem+json", ref("Problem"))]
        let runID: JSONValue = ["name": "id", "in": "path", "required": true, "schema": ["type": "string"], "description": "Run id"]

        var paths: JSONObject = [
            "/api/health": ["get": [
                "summary": "Server health", "operationId": "health",
                "responses": ["200": ["description": "Healthy", "content": content("application/json", ref("Health"))]],
            ]],
            "/api/experiments": ["get": [
                "summary": "The experiment catalog", "operationId": "listExperiments",
                "responses": ["200": ["description": "Every experiment",
                                      "content": content("application/json", ["type": "array", "items": ref("Experiment")])]],
            ]],
            "/api/experiments/{id}": ["get": [
                "summary": "One experiment", "operationId": "getExperiment",
                "parameters": [["name": "id", "in": "path", "required": true,
                                "schema": ["type": "string", "enum": JSONValue(Catalog.ids)]]],
                "responses": ["200": ["description": "The experiment", "content": content("application/json", ref("Experiment"))],
                              "404": problem],
            ]],
            "/api/runs": [
                "post": [
                    "summary": "Start a run", "operationId": "createRun",
                    "requestBody": ["required": true, "content": content("application/json", ref("RunRequest"))],
                    "responses": [
                        "201": ["description": "Started", "headers": ["Location": ["schema": ["type": "string"]]],
                                "content": content("application/json", ref("Run"))],
                        "400": problem, "404": problem, "413": problem,
                        "415": ["description": "The body is not declared as application/json", "content": content("application/problem+json", ref("Problem"))],
                        "429": ["description": "Too many runs at once", "headers": ["Retry-After": ["schema": ["type": "integer"]]],
                                "content": content("application/problem+json", ref("Problem"))],
                        "503": problem,
                    ],
                ],
                "get": [
                    "summary": "Recorded and live runs, newest first", "operationId": "listRuns",
                    "responses": ["200": ["description": "Runs", "content": content("application/json", ["type": "array", "items": ref("Run")])]],
                ],
            ],
            "/api/runs/{id}": [
                "get": [
                    "summary": "One run", "operationId": "getRun", "parameters": [runID],
                    "responses": ["200": ["description": "The run", "content": content("application/json", ref("Run"))], "404": problem],
                ],
                "patch": [
                    "summary": "Set a run's title, description, tags or pin", "operationId": "editRun", "parameters": [runID],
                    "requestBody": ["required": true, "content": content("application/json", [
                        "type": "object", "additionalProperties": false, "properties": [
                            "title": ["type": ["string", "null"], "maxLength": 200], "description": ["type": ["string", "null"], "maxLength": 20_000],
                            "tags": ["type": "array", "maxItems": 20, "items": ["type": "string", "minLength": 1, "maxLength": 40]], "pinned": ["type": "boolean"],
                        ]])],
                    "responses": ["200": ["description": "The run", "content": content("application/json", ref("Run"))],
                                  "400": problem, "404": problem, "413": problem, "415": problem],
                ],
                "delete": [
                    "summary": "Cancel a live run (202) or delete a finished one (204)", "operationId": "deleteRun",
                    "parameters": [runID],
                    "responses": ["202": ["description": "Cancelling", "content": content("application/json", ref("Run"))],
                                  "204": ["description": "Deleted"], "404": problem],
                ],
            ],
            "/api/runs/{id}/events": ["get": [
                "summary": "The run's trace, live: NDJSON, or SSE with Accept: text/event-stream",
                "description": "Streams the history, then new events as they happen, and closes when the run ends. Idle streams send heartbeats (a blank NDJSON line, an SSE comment). SSE ids are seqs; resume with Last-Event-ID.",
                "operationId": "streamEvents",
                "parameters": [runID,
                               ["name": "from", "in": "query", "schema": ["type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991], "description": "Skip events with a smaller seq"],
                               ["name": "Last-Event-ID", "in": "header", "schema": ["type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991], "description": "SSE resume point"]],
                "responses": [
                    "200": ["description": "Events", "content": [
                        "application/x-ndjson": ["schema": ref("TraceEvent")],
                        "text/event-stream": ["schema": ["type": "string"]],
                    ]],
                    "400": problem, "404": problem,
                ],
            ]],
            "/api/runs/{id}/trace": ["get": [
                "summary": "Download the trace: Chrome Trace Event Format (Perfetto) or NDJSON", "operationId": "exportTrace",
                "parameters": [runID, ["name": "format", "in": "query", "schema": ["type": "string", "enum": ["chrome", "ndjson"], "default": "chrome"]]],
                "responses": ["200": ["description": "The trace", "content": [
                    "application/json": ["schema": ["type": "object"]],
                    "application/x-ndjson": ["schema": ref("TraceEvent")],
                ]], "400": problem, "404": problem],
            ]],
            "/api/openapi.json": ["get": [
                "summary": "This document", "operationId": "openapi",
                "responses": ["200": ["description": "OpenAPI 3.1", "content": content("application/json", ["type": "object"])]],
            ]],
        ]

        var schemas: JSONObject = [
            "Health": ["type": "object", "required": ["status", "version", "uptimeSeconds", "runsActive"], "properties": [
                "status": ["type": "string", "enum": ["ok"]], "version": ["type": "string"],
                "uptimeSeconds": ["type": "number"], "runsActive": ["type": "integer"],
                "streamsActive": ["type": "integer", "description": "Live event streams open"],
            ]],
            "Parameter": ["type": "object", "required": ["name", "type", "default", "description"], "properties": [
                "name": ["type": "string"], "type": ["type": "string", "enum": ["integer", "number", "boolean", "string", "array"]],
                "default": [:], "minimum": ["type": "number"], "maximum": ["type": "number"], "maxItems": ["type": "integer"],
                "enum": ["type": "array", "items": ["type": "string"]], "description": ["type": "string"],
            ]],
            "Experiment": ["type": "object", "required": ["id", "title", "category", "summary", "lesson", "parameters"], "properties": [
                "id": ["type": "string", "enum": JSONValue(Catalog.ids)], "title": ["type": "string"], "category": ["type": "string"],
                "summary": ["type": "string"], "lesson": ["type": "string"],
                "parameters": ["type": "array", "items": ref("Parameter")],
            ]],
            "RunRequest": runRequest(),
            "Run": ["type": "object", "required": ["id", "experiment", "params", "status", "createdAt", "eventCount", "links"], "properties": [
                "id": ["type": "string"], "experiment": ["type": "string"], "params": ["type": "object"],
                "status": ["type": "string", "enum": JSONValue(RunStatus.allCases.map(\.rawValue))],
                "createdAt": ["type": "string", "format": "date-time"],
                "startedAt": ["type": ["string", "null"], "format": "date-time"],
                "endedAt": ["type": ["string", "null"], "format": "date-time"],
                "summary": ["type": ["object", "null"], "description": "When ended: durationMs, tracer {events, dropped, nsPerEvent}, verdict, and the experiment's figures"],
                "eventCount": ["type": "integer"],
                "links": ["type": "object", "properties": ["self": ["type": "string"], "events": ["type": "string"], "trace": ["type": "string"]]],
            ]],
            "TraceEvent": ["type": "object", "required": ["seq", "ts", "type", "lane", "pid", "tid"],
                           "description": "One step of a run; plus the fields its type needs (see DESIGN.md).", "properties": [
                "seq": ["type": "integer", "minimum": 0], "ts": ["type": "integer", "description": "Microseconds since the run started"],
                "type": ["type": "string"], "lane": ["type": "string"], "pid": ["type": "integer"], "tid": ["type": "integer"],
                "flow": ["type": "integer", "description": "Shared by both ends of a hand-off"],
            ]],
            "Problem": ["type": "object", "required": ["type", "title", "status", "detail"], "properties": [
                "type": ["type": "string"], "title": ["type": "string"], "status": ["type": "integer"], "detail": ["type": "string"],
                "field": ["type": "string", "description": "The request field at fault, when there is one"],
            ]],
        ]

        // Controlled schedules (schedule=step | seeded | replay).
        paths["/api/runs/{id}/step"] = ["post": [
            "summary": "In a schedule=step run, let one lane (or the default policy, n times) take its next operation",
            "operationId": "stepRun", "parameters": [runID],
            "requestBody": ["required": true, "content": content("application/json", [
                "type": "object", "additionalProperties": false, "properties": [
                    "lane": ["type": "string", "description": "A lane that may go now (see sched.pending)"],
                    "steps": ["type": "integer", "minimum": 1, "maximum": 10_000, "description": "Let the default policy take this many steps"],
                ]])],
            "responses": [
                "200": ["description": "Stepped: the choices so far and who may go next",
                        "content": content("application/json", ["type": "object", "required": ["steps", "choices", "pending", "status"]])],
                "400": problem, "404": problem, "409": problem, "413": problem, "415": problem,
            ],
        ]]
        paths["/api/explore"] = ["post": [
            "summary": "Run a thread experiment under many seeded schedules: how many lost updates or deadlocks, and the shortest failing schedule",
            "operationId": "explore",
            "requestBody": ["required": true, "content": content("application/json", [
                "type": "object", "required": ["experiment"], "properties": [
                    "experiment": ["type": "string", "enum": JSONValue(ScheduleParameters.controllable.sorted())],
                    "params": ["type": ["object", "null"]],
                    "seeds": ["type": "integer", "minimum": 1, "maximum": 1000, "default": 100],
                    "firstSeed": ["type": "integer", "minimum": 0, "maximum": 2_000_000_000, "default": 1],
                ],
                "oneOf": .array(experimentBody(Catalog.all.filter { ScheduleParameters.controllable.contains($0.id) }, extra: [
                    "seeds": ["type": "integer", "minimum": 1, "maximum": 1000],
                    "firstSeed": ["type": "integer", "minimum": 0, "maximum": 2_000_000_000],
                ], excluding: ["schedule", "seed", "choices"])),
            ])],
            "responses": [
                "200": ["description": "The exploration's report. The whole exploration has the server's run deadline: past it, the report covers the seeds that ran (stoppedEarly)",
                        "content": content("application/json", ["type": "object", "required": ["runs", "failed", "passed", "verdict", "seedsRequested"], "properties": [
                            "runs": ["type": "integer", "minimum": 0], "failed": ["type": "integer", "minimum": 0], "passed": ["type": "integer", "minimum": 0],
                            "verdict": ["type": "string"], "seedsRequested": ["type": "integer", "minimum": 1],
                            "stoppedEarly": ["type": "boolean", "description": "The deadline (or a shutdown) came before every seed ran"],
                        ]])],
                "400": problem, "404": problem, "413": problem, "415": problem,
                "429": ["description": "One exploration at a time", "headers": ["Retry-After": ["schema": ["type": "integer"]]],
                        "content": content("application/problem+json", ref("Problem"))],
            ],
        ]]

        addRecording(paths: &paths, schemas: &schemas)

        return [
            "openapi": "3.1.0",
            "info": ["title": "Interleave", "version": .string(version),
                     "description": "A concurrency playground: launch real concurrency experiments and stream their traces."],
            "paths": .object(paths),
            "components": ["schemas": .object(schemas)],
        ]
    }

    /// One experiment's parameters as JSON Schema properties: exactly its names, with
    /// their types and ranges, so a body the schema accepts is one the server accepts.
    static func parameterProperties(_ experiment: Experiment, excluding: Set<String> = []) -> JSONObject {
        var properties = JSONObject()
        for parameter in experiment.json["parameters"]?.arrayValue ?? [] {
            guard let name = parameter["name"]?.stringValue, let type = parameter["type"]?.stringValue,
                  !excluding.contains(name) else { continue }
            var schema: JSONObject = ["description": parameter["description"] ?? ""]
            switch type {
            case "array":
                schema["type"] = "array"
                schema["items"] = ["type": "string", "maxLength": 64]
                schema["maxItems"] = parameter["maxItems"] ?? 0
            case "string":
                schema["type"] = "string"
                if let values = parameter["enum"] { schema["enum"] = values }
            default:
                schema["type"] = .string(type)
                if let minimum = parameter["minimum"] { schema["minimum"] = minimum }
                if let maximum = parameter["maximum"] { schema["maximum"] = maximum }
            }
            properties[name] = .object(schema)
        }
        return properties
    }

    /// A request body naming one of `experiments` and its parameters, one alternative
    /// per experiment; `extra` are further top-level fields.
    static func experimentBody(_ experiments: [Experiment], extra: JSONObject = [:], excluding: Set<String> = []) -> [JSONValue] {
        experiments.map { experiment in
            var properties: JSONObject = [
                "experiment": ["const": .string(experiment.id)],
                "params": ["type": ["object", "null"], "additionalProperties": false,
                           "properties": .object(parameterProperties(experiment, excluding: excluding)),
                           "description": "Parameters by name; missing ones (or null) get defaults."],
            ]
            for (key, value) in extra { properties[key] = value }
            return ["type": "object", "required": ["experiment"], "additionalProperties": false, "properties": .object(properties)]
        }
    }

    private static func runRequest() -> JSONValue {
        let alternatives = experimentBody(Catalog.all)
        return [
            "type": "object", "required": ["experiment"],
            "properties": [
                "experiment": ["type": "string", "enum": JSONValue(Catalog.ids)],
                "params": ["type": ["object", "null"]],
            ],
            "oneOf": .array(alternatives),
            "description": "An experiment id and its parameters (see GET /api/experiments/{id}); each alternative lists one experiment's parameters.",
        ]
    }
}
