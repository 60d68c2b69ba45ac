extension Catalog {
    /// Threads and synchronization: locks, events, semaphores, conditions, barriers, queues.
    static let threadExperiments: [Experiment] = []
}
