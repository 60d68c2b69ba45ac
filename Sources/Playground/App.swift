import HTTPServer

/// The whole server: a playground behind the HTTP API. `start`, then `stop`.
public final class App: Sendable {
    public let playground: Playground
    public let server: Server

    public init(http: ServerConfiguration, playground configuration: PlaygroundConfiguration = .init(),
                publicDirectory: String?) {
        let playground = Playground(configuration: configuration)
        self.playground = playground
        let router = API.router(playground: playground, publicDirectory: publicDirectory)
        self.server = Server(configuration: http) { request in router.respond(to: request) }
    }

    public func start() throws(ServerError) { try server.start() }

    public var port: Int { server.port }

    /// Graceful stop: live runs end as `interrupted`, streams close, the daemon stops.
    public func stop() {
        playground.shutdown()
        server.stop()
    }
}
