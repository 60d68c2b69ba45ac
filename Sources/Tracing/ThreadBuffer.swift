import CSystem
import Glibc
import JSON
import Synchronization

/// One event as a traced thread writes it: plain data, 80 bytes, no references, so
/// writing it is a few stores into memory the thread already owns.
struct Record {
    /// The event's seq (its ticket).
    var seq: Int
    /// Nanoseconds since the run started.
    var ns: Int64
    /// A `TraceName` id, or `Record.slow`: then `fields.v0` holds a retained `SlowEvent`.
    var type: UInt32
    var lane: UInt32
    var tid: Int32
    /// -1 when unknown.
    var cpu: Int32
    /// `Record.noFlow` when none.
    var flow: Int
    var fields: TraceFields

    static let slow = UInt32.max
    static let noFlow = Int.min
}

/// What the `JSONObject` API emits (and what `merge` brings from a child process):
/// kept whole in a box the record points at.
final class SlowEvent {
    let type: String
    let lane: String
    let pid: Int32?
    let fields: JSONObject

    init(type: String, lane: String, pid: Int32?, fields: JSONObject) {
        self.type = type
        self.lane = lane
        self.pid = pid
        self.fields = fields
    }
}

/// Fixed-size blocks of records, reused across threads and runs: a block that was
/// written once has its pages mapped, so the next writer pays no page faults.
enum RecordChunks {
    static let records = 4096
    /// Addresses of spare chunks (pointers are not Sendable; addresses are).
    private static let spare = Mutex<[UInt]>([])
    private static let keep = 64

    static func take() -> UnsafeMutablePointer<Record> {
        if let address = spare.withLock({ $0.popLast() }), let chunk = UnsafeMutablePointer<Record>(bitPattern: address) {
            return chunk
        }
        return UnsafeMutablePointer<Record>.allocate(capacity: records)
    }

    /// Tops the spares up to `target` chunks with their pages already mapped, so writers
    /// that need a chunk soon take one without faulting. Runs off the traced threads.
    static func refill(to target: Int = 24) {
        while spare.withLock({ $0.count }) < target {
            let chunk = UnsafeMutablePointer<Record>.allocate(capacity: records)
            let raw = UnsafeMutableRawPointer(chunk)
            for page in stride(from: 0, to: records * MemoryLayout<Record>.stride, by: 4096) {
                raw.storeBytes(of: 0, toByteOffset: page, as: UInt8.self)
            }
            give(chunk)
        }
    }

    static func give(_ chunk: UnsafeMutablePointer<Record>) {
        let kept = spare.withLock { spare in
            guard spare.count < keep else { return false }
            spare.append(UInt(bitPattern: chunk))
            return true
        }
        if !kept { chunk.deallocate() }
    }
}

/// One thread's events for one recorder. Only its thread writes records (no lock);
/// `published` tells the recorder's merger, under the recorder's lock, how many it may
/// read. Chunks the merger has read go back to `RecordChunks`.
final class ThreadBuffer: @unchecked Sendable {
    let tid = interleave_tid()

    // Written only by the owning thread.
    private var chunk: UnsafeMutablePointer<Record>?
    private var index = RecordChunks.records
    private var written = 0
    private var untilSample = 2
    /// Chunks by number (written / records); the merger clears the ones it finished.
    private let directory: UnsafeMutablePointer<UnsafeMutablePointer<Record>?>
    private let directorySize: Int

    /// Records the merger may read: a release store after each record.
    let published = Atomic<Int>(0)

    // Read and written only by the merger, under the recorder's lock.
    private(set) var consumed = 0

    /// Sampled emit costs: `costs[ns]` for 0..<512 ns, then one bucket per power of two.
    let costs: UnsafeMutablePointer<UInt32>
    static let linearBuckets = 512, buckets = 512 + 24
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
        chunk.unsafelyUnwrapped[index] = record
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
        let bucket = ns < UInt64(Self.linearBuckets)
            ? Int(ns) : min(Self.linearBuckets + (63 - ns.leadingZeroBitCount) - 9, Self.buckets - 1)
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
