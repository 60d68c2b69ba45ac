import CSystem
import Glibc
import JSON
import Synchronization

/// One event as a traced thread writes it: plain data, exactly one 64-byte cache line
/// (chunks are page-aligned), no references, so writing it is a few stores into one line
/// the thread already owns, and the merger reading a published record never shares a
/// line with the record being written next.
struct Record {
    // The typed payload, flattened (a `TraceFields` nested here would add padding).
    var k0: UInt32, k1: UInt32, k2: UInt32
    /// The event's seq (its ticket); a recorder's capacity is below 2^31.
    var seq: UInt32
    /// A `TraceName` id, or `Record.slow`: then `v0` holds a retained `SlowEvent`.
    var type: UInt32
    var lane: UInt32
    var v0: Int, v1: Int, v2: Int
    /// Nanoseconds since the run started (arithmetic << 16) | the CPU (low 16 bits, 0xFFFF unknown).
    var nsAndCPU: Int64
    /// `Record.noFlow` when none.
    var flow: Int

    static let slow = UInt32.max
    /// `v0` holds a retained `MergeBatch` of `v1` events, which took `v1` tickets from `seq` on.
    static let batch = UInt32.max - 1
    /// In `lane`: a name of the recorder's own (`TraceRecorder.localName`), not the process's.
    static let localName: UInt32 = 1 << 31
    static let noFlow = Int.min

    @inline(__always)
    init(seq: Int, ns: Int64, cpu: Int32, type: UInt32, lane: UInt32, flow: Int, fields: TraceFields) {
        (k0, k1, k2) = (fields.k0, fields.k1, fields.k2)
        (v0, v1, v2) = (fields.v0, fields.v1, fields.v2)
        self.seq = UInt32(truncatingIfNeeded: seq)
        self.type = type
        self.lane = lane
        nsAndCPU = ns << 16 | Int64(UInt16(truncatingIfNeeded: cpu))
        self.flow = flow
    }

    var ns: Int64 { nsAndCPU >> 16 }
    /// -1 when unknown.
    var cpu: Int32 { Int32(Int16(truncatingIfNeeded: nsAndCPU)) }
    var fields: TraceFields {
        var fields = TraceFields()
        (fields.k0, fields.k1, fields.k2, fields.v0, fields.v1, fields.v2) = (k0, k1, k2, v0, v1, v2)
        return fields
    }
}

/// What the `JSONObject` API emits (and what `merge` brings from a child process):
/// kept whole in a box the record points at.
final class SlowEvent {
    let type: String
    let lane: String
    let pid: Int32?
    /// The emitting thread's tid (a merged event's own), which a record does not carry.
    let tid: Int32
    let fields: JSONObject

    init(type: String, lane: String, pid: Int32?, tid: Int32, fields: JSONObject) {
        self.type = type
        self.lane = lane
        self.pid = pid
        self.tid = tid
        self.fields = fields
    }
}

/// Fixed-size blocks of records, mapped by the tracer itself (not malloc, which would
/// hand pages back to the kernel on free) and reused across threads and runs: a block
/// that was written once has its pages mapped, so the next writer pays no page faults.
/// Spares are topped up, pages touched, off the traced threads (`refill`).
enum RecordChunks {
    static let records = 4096
    static let bytes = records * MemoryLayout<Record>.stride
    /// 64 spare chunks = 16 MB kept mapped at most; 8 (2 MB) while no run is live.
    static let pool = ChunkPool(keep: 64, idleKeep: 8)

    static func take() -> UnsafeMutablePointer<Record> { pool.take() }
    static func refill(to target: Int = 32) { pool.refill(to: target) }
    static func give(_ chunk: UnsafeMutablePointer<Record>) { pool.give(chunk) }
}

/// Spare record chunks: at most `keep` kept mapped while runs come and go, `idleKeep`
/// after `shrink` (no run is live). One process-wide pool serves the tracer; tests make
/// their own.
final class ChunkPool: Sendable {
    let keep: Int
    let idleKeep: Int
    /// Addresses of spare chunks (pointers are not Sendable; addresses are).
    private let spare = Mutex<[UInt]>([])

    init(keep: Int, idleKeep: Int) {
        self.keep = keep
        self.idleKeep = min(idleKeep, keep)
    }

    deinit {
        for address in spare.withLock({ $0 }) { munmap(UnsafeMutableRawPointer(bitPattern: address), RecordChunks.bytes) }
    }

    func take() -> UnsafeMutablePointer<Record> {
        if let address = spare.withLock({ $0.popLast() }), let chunk = UnsafeMutablePointer<Record>(bitPattern: address) {
            return chunk
        }
        return Self.map(populate: false)
    }

    /// A fresh chunk; with `populate`, its pages are mapped now (by the calling thread).
    private static func map(populate: Bool) -> UnsafeMutablePointer<Record> {
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0)
        guard let raw = mmap(nil, RecordChunks.bytes, PROT_READ | PROT_WRITE, flags, -1, 0), raw != MAP_FAILED else {
            fatalError("the tracer could not map \(RecordChunks.bytes) bytes for its records")
        }
        return raw.bindMemory(to: Record.self, capacity: RecordChunks.records)
    }

    /// Tops the spares up to `target` chunks with their pages already mapped, so writers
    /// that need a chunk soon take one without faulting. Runs off the traced threads.
    func refill(to target: Int) {
        while spare.withLock({ $0.count }) < min(target, keep) {
            give(Self.map(populate: true))
        }
    }

    func give(_ chunk: UnsafeMutablePointer<Record>) {
        let kept = spare.withLock { spare in
            guard spare.count < keep else { return false }
            spare.append(UInt(bitPattern: chunk))
            return true
        }
        if !kept { munmap(UnsafeMutableRawPointer(chunk), RecordChunks.bytes) }
    }

    var count: Int { spare.withLock { $0.count } }

    /// Unmaps the spares beyond `idleKeep` (called when no run is live); returns how many.
    /// The ones kept are the most recently given back, whose pages are the likeliest mapped.
    func shrink() -> Int {
        let extra: [UInt] = spare.withLock { spare in
            guard spare.count > idleKeep else { return [] }
            let extra = Array(spare[..<(spare.count - idleKeep)])
            spare.removeFirst(spare.count - idleKeep)
            return extra
        }
        for address in extra { munmap(UnsafeMutableRawPointer(bitPattern: address), RecordChunks.bytes) }
        return extra.count
    }
}

/// The tracer's own memory, for the server: record chunks are mapped by the tracer, not
/// malloc, so `malloc_trim` does not return them. Up to 64 spare chunks (16 MiB) are kept
/// mapped while runs are live, so traced threads take no page faults; when none is live,
/// `releaseIdle` keeps `idleSpareLimit` of them (2 MiB) and unmaps the rest.
public enum TracerMemory {
    public static let chunkBytes = RecordChunks.bytes
    public static var idleSpareLimit: Int { RecordChunks.pool.idleKeep }
    /// Spare chunks mapped now.
    public static var spareChunks: Int { RecordChunks.pool.count }
    /// Unmaps the spares beyond `idleSpareLimit`; returns how many were unmapped.
    @discardableResult
    public static func releaseIdle() -> Int { RecordChunks.pool.shrink() }
    /// Tops the spares back up (pages mapped) before a run emits, so its threads do not
    /// fault on their first chunks after an idle period shrank the pool. Call it off the
    /// traced threads.
    public static func prepare() { RecordChunks.refill() }
}

/// One thread's events for one recorder. Only its thread writes records (no lock);
/// `published` tells the recorder's merger, under the recorder's lock, how many it may
/// read. Chunks the merger has read go back to `RecordChunks`.
final class ThreadBuffer: @unchecked Sendable {
    // Stored properties are laid out in declaration order: the owning thread's hot state
    // first, then a pad, then what the merger writes, so the two never share a cache line
    // (the merger advancing `consumed` once per event would otherwise steal the writer's
    // line once per event).

    // Written only by the owning thread.
    private var chunk: UnsafeMutablePointer<Record>?
    private var index = RecordChunks.records
    private var written = 0
    private var untilSample = 2
    /// Records the merger may read: a release store after each record.
    let published = Atomic<Int>(0)
    let tid = interleave_tid()
    /// Chunks by number (written / records); the merger clears the ones it finished.
    private let directory: UnsafeMutablePointer<UnsafeMutablePointer<Record>?>
    private let directorySize: Int
    private let pad: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)

    // Read and written only by the merger, under the recorder's lock.
    private(set) var consumed = 0

    /// Records ahead whose line `append` prefetches (about the latency of a cache miss
    /// at back-to-back emits).
    static let prefetchAhead = 8

    /// Sampled emit costs, bucketed by `CostHistogram.bucket`.
    let costs: UnsafeMutablePointer<UInt32>
    static let buckets = CostHistogram.buckets
    /// One emit in `sampleEvery` measures its own cost (one extra clock read).
    static let sampleEvery = 64

    init(capacity: Int) {
        directorySize = capacity / RecordChunks.records + 2
        directory = .allocate(capacity: directorySize)
        directory.initialize(repeating: nil, count: directorySize)
        costs = .allocate(capacity: Self.buckets)
        costs.initialize(repeating: 0, count: Self.buckets)
    }

    deinit {
        release()
        directory.deallocate()
        costs.deallocate()
    }

    /// Writes the next record and publishes it. Owning thread only.
    @inline(__always)
    func append(_ record: Record) {
        if index == RecordChunks.records { nextChunk() }
        let slot = chunk.unsafelyUnwrapped + index
        slot.pointee = record
        // Past the chunk's end this asks for a line it does not own: harmless, a prefetch never faults.
        interleave_prefetch_write(slot + Self.prefetchAhead)
        index &+= 1
        written &+= 1
        published.store(written, ordering: .releasing)
    }

    /// Whether this emit should measure its cost. Owning thread only.
    @inline(__always)
    func shouldSample() -> Bool {
        untilSample &-= 1
        if untilSample != 0 { return false }
        untilSample = Self.sampleEvery
        return true
    }

    func recordCost(_ ns: UInt64) {
        let bucket = CostHistogram.bucket(ns)
        interleave_store_relaxed32(costs + bucket, interleave_load_relaxed32(costs + bucket) &+ 1)
    }

    @inline(never)
    private func nextChunk() {
        let number = written / RecordChunks.records
        precondition(number < directorySize, "more records than the recorder's capacity")
        let fresh = RecordChunks.take()
        directory[number] = fresh
        chunk = fresh
        index = 0
    }

    // MARK: merger side (under the recorder's lock)

    /// The next unread record, if published.
    @inline(__always)
    func head(available: Int) -> UnsafeMutablePointer<Record>? {
        guard consumed < available else { return nil }
        return directory[consumed / RecordChunks.records].unsafelyUnwrapped + consumed % RecordChunks.records
    }

    /// The head was read: a chunk read to its end goes back to the pool.
    @inline(__always)
    func advance() {
        consumed += 1
        if consumed % RecordChunks.records == 0 {
            let number = consumed / RecordChunks.records - 1
            if let done = directory[number] {
                directory[number] = nil
                RecordChunks.give(done)
            }
        }
    }

    /// Gives back every chunk still held, once all records were read (the run is over).
    func release() {
        for number in 0..<directorySize {
            if let chunk = directory[number] {
                directory[number] = nil
                RecordChunks.give(chunk)
            }
        }
    }
}

/// Emit costs as counts per bucket: one bucket per ns below 512 ns, then one per power of
/// two. Its median is what `summary.tracer.nsPerEvent` reports; `interleave bench` uses the
/// same to report its per-event medians, so the two compare directly.
public enum CostHistogram {
    public static let linear = 512
    public static let buckets = 512 + 24

    @inline(__always)
    public static func bucket(_ ns: UInt64) -> Int {
        ns < UInt64(linear) ? Int(ns) : min(linear + (63 - ns.leadingZeroBitCount) - 9, buckets - 1)
    }

    /// The median, interpolated within its bucket. A clock that ticks in steps of q ns (10
    /// on some virtual machines) gives only multiples of q: each reading v then stands for
    /// [v - q/2, v + q/2), and the median is placed inside that span by how many readings
    /// below and in it there are — so a typical cost of 34 ns reads 34, not 30 or 40.
    public static func median(_ counts: [Int]) -> Double {
        let total = counts.reduce(0, +)
        guard total > 0 else { return 0 }
        // The clock's step: the gcd of every reading seen in the 1-ns buckets.
        var step = 0
        for value in 1..<min(linear, counts.count) where counts[value] > 0 { step = gcd(step, value) }
        step = max(step, 1)
        var below = 0
        for (bucket, count) in counts.enumerated() where count > 0 {
            if Double(below + count) >= Double(total) / 2 {
                let inside = (Double(total) / 2 - Double(below)) / Double(count)
                if bucket < linear { return max(0, Double(bucket) - Double(step) / 2 + inside * Double(step)) }
                let low = Double(1 << (bucket - linear + 9))
                return low + inside * low
            }
            below += count
        }
        return 0
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
