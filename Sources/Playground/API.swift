import Experiments
import HTTPServer
import JSON
import Store
import Tracing

/// The HTTP API of DESIGN.md, as routes over a `Playground`.
public enum API {
    /// `streams` reports how many live event streams are open (for health).
    /// `files` serves `publicDirectory` (made here when not given).
    public static func router(playground: Playground, publicDirectory: String?, files: StaticFiles? = nil,
                              streams: @escaping @Sendable () -> Int = { 0 }) -> Router {
        var router = Router()

        router.add("GET", "/api/health") { _ in
            .json([
                "status": "ok", "version": .string(playground.configuration.version),
                "uptimeSeconds": .double((playground.uptimeSeconds * 10).rounded() / 10),
                "runsActive": .int(playground.activeCount), "streamsActive": .int(streams()),
            ])
        }

        router.add("GET", "/api/experiments") { _ in .json(.array(Catalog.all.map(\.json))) }

        router.add("GET", "/api/experiments/{id}") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            guard let experiment = Catalog.experiment(id) else { throw Problem.unknownExperiment(id) }
            return .json(experiment.json)
        }

        router.add("POST", "/api/runs") { request throws(Problem) in
            let body: JSONValue
            do {
                body = try JSONParser.parse(request.body)
            } catch {
                throw Problem.badRequest("the body is not valid JSON: \(error)", title: "Invalid JSON", slug: "invalid-json")
            }
            guard let object = body.objectValue else {
                throw Problem.badRequest("the body must be a JSON object like {\"experiment\":\"thread-pool\",\"params\":{}} (got \(body.typeName))",
                                         title: "Invalid request", slug: "invalid-request")
            }
            for key in object.keys where key != "experiment" && key != "params" {
                throw Problem.badRequest("unknown field \"\(key.prefix(80))\"; the body has \"experiment\" and \"params\"",
                                         title: "Invalid request", slug: "invalid-request", extra: ["field": .string(String(key.prefix(80)))])
            }
            if let experiment = object["experiment"], experiment.stringValue == nil {
                throw Problem.badRequest("experiment must be a string (got \(experiment.typeName))",
                                         title: "Invalid request", slug: "invalid-request", extra: ["field": "experiment"])
            }
            let run = try playground.startRun(experimentID: object["experiment"]?.stringValue, params: object["params"])
            return .json(run.snapshot.json, status: 201, headers: [("Location", "/api/runs/\(run.id)")])
        }

        router.add("GET", "/api/runs") { _ throws(Problem) in .json(.array(try playground.runs().map(\.json))) }

        router.add("GET", "/api/runs/{id}") { request throws(Problem) in
            .json(try playground.snapshot(request.pathParameters["id"]!).json)
        }

        router.add("DELETE", "/api/runs/{id}") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            let cancelled = try playground.cancelOrDelete(id)
            if cancelled, let run = playground.liveRun(id) { return .json(run.snapshot.json, status: 202) }
            return Response(status: 204)
        }

        router.add("GET", "/api/runs/{id}/events") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            let wantsSSE = request.header("Accept")?.contains("text/event-stream") ?? false
            let encoding: EventEncoding = wantsSSE ? .sse : .ndjson
            var from = 0
            if let text = request.query["from"] {
                guard let value = Int(text), value >= 0, value <= 9_007_199_254_740_991 else {
                    throw Problem.badRequest("from must be a non-negative integer (got \"\(text.prefix(40))\")",
                                             title: "Invalid parameter", slug: "invalid-parameter", extra: ["field": "from"])
                }
                from = value
            }
            // Validated whatever the encoding (the OpenAPI document says it is an integer);
            // it moves the start only for SSE, whose resume it is.
            if let last = request.header("Last-Event-ID") {
                guard let value = Int(last), value >= 0, value <= 9_007_199_254_740_991 else {
                    throw Problem.badRequest("Last-Event-ID must be a non-negative integer (got \"\(last.prefix(40))\")",
                                             title: "Invalid header", slug: "invalid-header", extra: ["field": "Last-Event-ID"])
                }
                if wantsSSE { from = max(from, value + 1) }
            }
            if let live = playground.liveRun(id) {
                let stream = EventStream(feed: live.feed, encoding: encoding, from: from,
                                         heartbeatMs: playground.configuration.heartbeatMs)
                return .stream(stream, contentType: encoding.contentType)
            }
            _ = try playground.snapshot(id)
            let cursor = try playground.storeCall { () throws(StoreError) in try playground.store.events(id, from: from) }
            return .stream(StoredEventStream(cursor: cursor, encoding: encoding), contentType: encoding.contentType)
        }

        router.add("GET", "/api/runs/{id}/trace") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            let format = request.query["format"] ?? "chrome"
            switch format {
            case "chrome":
                let run = try playground.snapshot(id)
                return .json(ChromeTrace.document(try playground.traceEvents(id), runID: run.id, experiment: run.experiment),
                             headers: [("Content-Disposition", "attachment; filename=\"interleave-\(run.id).json\"")])
            case "ndjson":
                return Response(status: 200, headers: [
                    ("Content-Type", "application/x-ndjson"),
                    ("Content-Disposition", "attachment; filename=\"interleave-\(id.prefix(64)).ndjson\""),
                ], body: .bytes(try playground.traceLines(id)))
            default:
                throw Problem.badRequest("format must be one of \"chrome\", \"ndjson\" (got \"\(format.prefix(40))\")",
                                         title: "Invalid parameter", slug: "invalid-parameter", extra: ["field": "format"])
            }
        }

        addScheduleRoutes(to: &router, playground: playground)
        Recording.addRoutes(to: &router, playground: playground, publicDirectory: publicDirectory)

        router.add("GET", "/api/openapi.json") { _ in .json(OpenAPI.document(version: playground.configuration.version)) }

        if let publicDirectory, let files = files ?? StaticFiles(root: publicDirectory) {
            router.fallback = { request throws(Problem) in
                if request.path.hasPrefix("/api/") { throw Problem.notFound("no API endpoint at \(request.path.prefix(200))") }
                return try files.respond(to: request)
            }
        }
        return router
    }
}
