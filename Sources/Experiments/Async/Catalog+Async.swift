extension Catalog {
    /// The GIL, asyncio, coroutines (seed 000 §8–9, 001, 003).
    static let asyncExperiments: [Experiment] = [.cpuVsIO, .asyncGather, .coroutines]
}
