extension Catalog {
    /// Sockets, a crawler, IO multiplexing (seed 001, 002, 004).
    static let ioExperiments: [Experiment] = [.crawler, .echoServer, .ioMultiplexing]
}
