import CSystem
import HTTPServer
import JSON
import Store

/// The whole server: a playground behind the HTTP API. `start`, then `stop`.
///
/// In front of the router: the `FrontDoor` checks (Host, Origin, token, Content-Type),
/// `GET /metrics`, and one log line plus request metrics per request.
public final class App: Sendable {
    public let playground: Playground
    public let server: Server
    /// The same request handling the server uses, callable in-process (no sockets).
    public let handler: @Sendable (Request) -> Response

    public init(http: ServerConfiguration, playground configuration: PlaygroundConfiguration = .init(),
                publicDirectory: String?, security: SecurityConfiguration? = nil, store: any RunStore = MemoryRunStore()) {
        Memory.configure()
        Observability.bootstrapMetrics()
        let playground = Playground(configuration: configuration, store: store)
        self.playground = playground
        let box = ServerBox()
        let streams: @Sendable () -> Int = { box.server?.streamCount ?? 0 }
        let files = publicDirectory.flatMap { StaticFiles(root: $0) }
        let router = API.router(playground: playground, publicDirectory: publicDirectory, files: files, streams: streams)
        let door = FrontDoor(security: security ?? SecurityConfiguration(allowedHosts: SecurityConfiguration.hosts(servedOn: http.host)),
                             router: router)
        let handler: @Sendable (Request) -> Response = { request in
            let started = interleave_monotonic_ns()
            let match = router.match(request)
            let response: Response
            let route: String
            if let problem = door.check(request, match: match) {
                response = problem.response
                route = "refused"
            } else if request.path == "/metrics" {
                route = "/metrics"
                if request.method == "GET" || request.method == "HEAD" {
                    response = Response(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                                        body: .bytes(Observability.scrape(liveRuns: playground.activeCount, liveStreams: streams(),
                                                                        heldRuns: playground.heldCount)))
                } else {
                    response = Problem(status: 405, title: "Method not allowed", detail: "\(request.method) is not allowed on /metrics; use GET",
                                       slug: "method-not-allowed", headers: [("Allow", "GET, HEAD")]).response
                }
            } else {
                response = router.respond(to: request)
                switch match {
                case .route(let pattern): route = pattern
                case .methodNotAllowed: route = "method-not-allowed"
                case .fallback: route = request.path.hasPrefix("/api/") ? "unmatched" : "static"
                }
            }
            Observability.request(request, status: response.status, route: route,
                                  durationNs: interleave_monotonic_ns() - started)
            return response
        }
        self.handler = handler
        var http = http
        if http.log == nil {
            // libmicrohttpd's own lines (a client hung up mid-request, …): debug, one per event.
            http.log = { message in Observability.logger.debug("libmicrohttpd", metadata: ["message": .string(message)]) }
        }
        http.largeBodies[Recording.importPath] = Recording.maxImportBytes
        if let files {
            // Cached static files skip routing: what the router would send to its static
            // fallback, from a host the front door accepts (the only check it makes there).
            let allowedHosts = door.security.allowedHosts
            http.quick = { request in
                guard !request.path.hasPrefix("/api/"), request.path != "/metrics" else { return nil }
                if let allowedHosts, let host = request.header("Host"), !allowedHosts.contains(FrontDoor.hostName(host)) {
                    return nil
                }
                let started = interleave_monotonic_ns()
                guard let answer = files.quickAnswer(request) else { return nil }
                Observability.staticServed(request, status: answer.status, durationNs: interleave_monotonic_ns() - started)
                return answer
            }
        }
        let server = Server(configuration: http, handler: handler)
        box.server = server
        self.server = server
    }

    public func start() throws(ServerError) { try server.start() }

    public var port: Int { server.port }

    /// Graceful stop: live runs end as `interrupted`, streams close, the daemon stops.
    public func stop() {
        playground.shutdown()
        server.stop()
    }
}

/// Lets the router ask the server it is mounted in for its stream count.
private final class ServerBox: @unchecked Sendable {
    // Written once in App.init before the server starts, read-only afterwards.
    weak var server: Server?
}
