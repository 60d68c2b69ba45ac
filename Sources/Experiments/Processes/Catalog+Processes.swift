extension Catalog {
    /// Processes and IPC: child processes, pools, pipes, queues, shared memory.
    static let processExperiments: [Experiment] = [.processes, .processPool, .processQueue, .pipe]
}
