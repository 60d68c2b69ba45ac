import HTTPServer

/// The whole server: a playground behind the HTTP API. `start`, then `stop`.
public final class App: Sendable {
    public let playground: Playground
    public let server: Server

    public init(http: ServerConfiguration, playground configuration: PlaygroundConfiguration = .init(),
                publicDirectory: String?) {
        let playground = Playground(configuration: configuration)
        self.playground = playground
        let box = ServerBox()
        let router = API.router(playground: playground, publicDirectory: publicDirectory,
                                streams: { box.server?.streamCount ?? 0 })
        let server = Server(configuration: http) { request in router.respond(to: request) }
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
