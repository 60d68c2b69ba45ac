import Primitives

extension RunContext {
    /// The run's deadlock detector: every traced lock, semaphore and condition of the
    /// run should be made with it, so they all feed one wait-for graph.
    public var deadlockDetector: DeadlockDetector { .forRun(control) }
}
