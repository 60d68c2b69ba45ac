extension Catalog {
    /// Threads and synchronization: locks, events, semaphores, conditions, barriers, queues.
    static let threadExperiments: [Experiment] = [
        .threads, .callbacks, .raceCondition, .mutexVsRLock, .deadlock,
        .event, .semaphore, .condition, .barrier, .queues, .producerConsumer,
    ]
}
