import Testing
@testable import Tracing

/// The tracer's spare record chunks: kept while runs come and go (so traced threads take
/// no page faults), cut to a few once no run is live. Each test has its own pool: the
/// process-wide one is shared with every test that records.
@Suite struct ChunkPoolTests {
    @Test func givingBackKeepsAtMostKeepSpares() {
        let pool = ChunkPool(keep: 6, idleKeep: 2)
        let chunks = (0..<10).map { _ in pool.take() }
        #expect(pool.count == 0)
        for chunk in chunks { pool.give(chunk) }
        #expect(pool.count == 6, "the other 4 are unmapped as they come back")
    }

    @Test func shrinkingUnmapsAllButTheIdleReserve() {
        let pool = ChunkPool(keep: 16, idleKeep: 3)
        pool.refill(to: 12)
        #expect(pool.count == 12)
        #expect(pool.shrink() == 9)
        #expect(pool.count == 3)
        #expect(pool.shrink() == 0, "nothing more to release")
        // The reserve is still usable: taken without mapping anything new.
        let taken = (0..<3).map { _ in pool.take() }
        #expect(pool.count == 0)
        for chunk in taken { pool.give(chunk) }
        #expect(pool.count == 3)
    }
}
