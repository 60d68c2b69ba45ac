extension Catalog {
    /// What the kernel does with threads: cores, scheduling policies (seed 000 §2.4, 004).
    static let osExperiments: [Experiment] = [.parallelVsConcurrent, .scheduling]
}
