extension Catalog {
    /// Processes and IPC: child processes, pools, pipes, queues, shared memory.
    static let processExperiments: [Experiment] = [
        .sequentialVsConcurrent, .processes, .processPool, .processQueue, .pipe, .sharedMemory, .manager, .spawnCost,
    ]
}
