import CSystem
import Glibc

/// A block of memory shared between the server and its worker processes: a memfd
/// the parent creates and maps, and passes to each child as a descriptor, which the
/// child maps in turn. Nothing is named in /dev/shm, so nothing can leak there.
///
/// Unsafe on purpose: it hands out raw addresses for process-shared pthread
/// objects, which must stay put; the mapping lives exactly as long as this object.
public final class SharedMemory: @unchecked Sendable {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public let fd: Int32
    public let base: UnsafeMutableRawPointer
    public let size: Int
    private let ownsFd: Bool

    /// Creates `size` zeroed bytes (parent side).
    public init(size: Int) throws(Failure) {
        var address: UnsafeMutableRawPointer?
        let fd = interleave_shm_create(size, &address)
        guard fd >= 0, let address else { throw Failure(description: "memfd_create/mmap failed: \(String(cString: strerror(errno)))") }
        self.fd = fd
        self.base = address
        self.size = size
        self.ownsFd = true
    }

    /// Maps what the parent passed as `fd` (child side).
    public init(mapping fd: Int32) throws(Failure) {
        var size = 0
        guard let address = interleave_shm_map(fd, &size) else {
            throw Failure(description: "cannot map shared memory fd \(fd): \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.base = address
        self.size = size
        self.ownsFd = false
    }

    deinit {
        interleave_shm_unmap(base, size)
        if ownsFd { close(fd) }
    }

    /// Lays out consecutive parts at 64-byte aligned offsets.
    public struct Layout: Sendable {
        public private(set) var size = 0
        public init() {}
        public mutating func reserve(_ bytes: Int) -> Int {
            let offset = size
            size += (bytes + 63) / 64 * 64
            return offset
        }
    }
}

/// A process-shared, robust mutex in shared memory: `multiprocessing.Lock`.
public struct ProcessLock: @unchecked Sendable {
    public static var size: Int { interleave_plock_size() }
    let address: UnsafeMutableRawPointer

    public init(at address: UnsafeMutableRawPointer) { self.address = address }

    /// Once, by the parent, before any child uses it.
    public func initialize() { precondition(interleave_plock_init(address) == 0, "process-shared mutex init failed") }

    /// Blocks until taken; true if it was taken over from a holder that died.
    @discardableResult
    public func lock() -> Bool { interleave_plock_lock(address) == 1 }

    public func tryLock() -> Bool { interleave_plock_trylock(address) == 0 }

    public func unlock() { _ = interleave_plock_unlock(address) }
}

/// A process-shared barrier: every one of `count` processes waits for the last.
public struct ProcessBarrier: @unchecked Sendable {
    public static var size: Int { interleave_pbarrier_size() }
    let address: UnsafeMutableRawPointer

    public init(at address: UnsafeMutableRawPointer) { self.address = address }

    public func initialize(count: Int) {
        precondition(interleave_pbarrier_init(address, UInt32(count)) == 0, "process-shared barrier init failed")
    }

    public func wait() { _ = interleave_pbarrier_wait(address) }
}

/// A 64-bit integer in shared memory, read and written as separate steps, so a
/// read-modify-write by two processes can lose an update.
public struct SharedCounter: @unchecked Sendable {
    public static let size = 8
    let cell: UnsafeMutablePointer<Int64>

    public init(at address: UnsafeMutableRawPointer) { cell = address.assumingMemoryBound(to: Int64.self) }

    public func load() -> Int { Int(interleave_shared_load(cell)) }
    public func store(_ value: Int) { interleave_shared_store(cell, Int64(value)) }
    /// Stores `desired` only if the cell still holds `expected`; true if it did.
    public func compareExchange(expected: Int, desired: Int) -> Bool {
        interleave_shared_cas(cell, Int64(expected), Int64(desired)) == 1
    }
}

/// A bounded FIFO in shared memory guarded by a process-shared mutex and condition
/// variables: the queue between processes (`multiprocessing.Queue`).
public struct ProcessQueue: @unchecked Sendable {
    public static func size(capacity: Int) -> Int { interleave_pqueue_size(Int64(capacity)) }
    let address: UnsafeMutableRawPointer

    public init(at address: UnsafeMutableRawPointer) { self.address = address }

    public func initialize(capacity: Int) {
        precondition(interleave_pqueue_init(address, Int64(max(capacity, 1))) == 0, "process-shared queue init failed")
    }

    /// Blocks while full. Returns whether it had to wait, the depth after, and the
    /// monotonic moment the item went in (taken under the queue's lock).
    public func put(_ item: Int, flow: Int) -> (foundFull: Bool, size: Int, atNs: UInt64) {
        var full: Int32 = 0
        var size: Int64 = 0
        var at: UInt64 = 0
        _ = interleave_pqueue_put(address, Int64(item), Int64(flow), &full, &size, &at)
        return (full != 0, Int(size), at)
    }

    /// Never blocks: nil when the queue is full.
    public func tryPut(_ item: Int, flow: Int) -> (size: Int, atNs: UInt64)? {
        var size: Int64 = 0
        var at: UInt64 = 0
        guard interleave_pqueue_try_put(address, Int64(item), Int64(flow), &size, &at) == 0 else { return nil }
        return (Int(size), at)
    }

    /// Blocks while empty.
    public func get() -> (item: Int, flow: Int, foundEmpty: Bool, size: Int, atNs: UInt64) {
        var item: Int64 = 0, flow: Int64 = 0, size: Int64 = 0
        var empty: Int32 = 0
        var at: UInt64 = 0
        _ = interleave_pqueue_get(address, &item, &flow, &empty, &size, &at)
        return (Int(item), Int(flow), empty != 0, Int(size), at)
    }
}
