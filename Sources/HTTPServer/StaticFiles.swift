import Glibc
import Synchronization

/// Serves files below one directory. Refuses anything that could step outside it:
/// `..` segments (also percent-encoded), NUL bytes, hidden files (also as the target
/// of a symlink), symlinks that resolve elsewhere (checked on the real path), and
/// anything that is not a regular file (a FIFO would block the serving thread).
///
/// Small files are cached with their 200 and 304 responses prepared once (see
/// `SharedBody`) and revalidated against the file at most every `revalidateMs`, so a
/// request for a cached file makes no system call of its own; larger ones are sent by
/// the kernel from the open file (`sendfile`). Every answer carries `Cache-Control:
/// no-cache`, an `ETag` and `Last-Modified`, and a matching `If-None-Match` /
/// `If-Modified-Since` gets 304 without the body.
public final class StaticFiles: Sendable {
    public let root: String
    /// Files up to this size are kept in memory.
    public let cacheLimit: Int
    public let revalidateMs: UInt64
    private let cache = Mutex<[String: Entry]>([:])
    private static let cacheEntries = 512

    /// One file as served: validators and prepared 200 and 304 answers. A class, so a
    /// cache hit copies one reference out of the lock.
    private final class Entry: Sendable {
        let realPath: String
        let device: UInt64
        let inode: UInt64
        let size: Int
        let mtimeNs: Int64
        let checkedNs: UInt64
        let etag: String
        let lastModified: String
        let contentType: String
        let ok: SharedBody?  // nil: too large to cache, sent from the file
        let notModified: SharedBody

        init(realPath: String, device: UInt64, inode: UInt64, size: Int, mtimeNs: Int64, checkedNs: UInt64, etag: String,
             lastModified: String, contentType: String, ok: SharedBody?, notModified: SharedBody) {
            self.realPath = realPath
            self.device = device
            self.inode = inode
            self.size = size
            self.mtimeNs = mtimeNs
            self.checkedNs = checkedNs
            self.etag = etag
            self.lastModified = lastModified
            self.contentType = contentType
            self.ok = ok
            self.notModified = notModified
        }

        /// The same file, checked again at `now`.
        func checked(at now: UInt64) -> Entry {
            Entry(realPath: realPath, device: device, inode: inode, size: size, mtimeNs: mtimeNs, checkedNs: now, etag: etag,
                  lastModified: lastModified, contentType: contentType, ok: ok, notModified: notModified)
        }

        var validators: [(String, String)] {
            [("Cache-Control", "no-cache"), ("ETag", etag), ("Last-Modified", lastModified)]
        }

        var okHeaders: [(String, String)] {
            [("Content-Type", contentType)] + validators + [("X-Content-Type-Options", "nosniff")]
        }
    }

    /// `root` must exist; it is resolved to its real path once.
    public init?(root: String, cacheLimit: Int = 256 * 1024, revalidateMs: UInt64 = 1_000) {
        guard let real = Self.realPath(root) else { return nil }
        self.root = real
        self.cacheLimit = cacheLimit
        self.revalidateMs = revalidateMs
    }

    public func respond(to request: Request) throws(Problem) -> Response {
        guard request.method == "GET" || request.method == "HEAD" else {
            throw Problem(status: 405, title: "Method not allowed", detail: "\(request.method) is not allowed on \(request.path); use GET",
                          slug: "method-not-allowed", headers: [("Allow", "GET, HEAD")])
        }
        let entry = try lookup(request.path)
        if notModified(ifNoneMatch: request.header("If-None-Match"), ifModifiedSince: request.header("If-Modified-Since"), entry) {
            return Response(status: 304, headers: entry.notModified.headers, body: .shared(entry.notModified))
        }
        if let body = entry.ok {
            return Response(status: 200, headers: body.headers, body: .shared(body))
        }
        // Not cached: open it again, checking it is still the same regular file.
        let fd = open(entry.realPath, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
        var info = stat()
        guard fd >= 0, fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            if fd >= 0 { close(fd) }
            throw notFound(request.path)
        }
        return Response(status: 200, headers: entry.okHeaders, body: .file(FileBody(fd: fd, size: UInt64(info.st_size))))
    }

    /// The fast path (`ServerConfiguration.quick`): the prepared 200 or 304 of a cached
    /// file, or nil for anything else (not found, refused, too large to cache), which
    /// then takes the full path through `respond` and gets its answer there.
    public func quickAnswer(_ request: QuickRequest) -> QuickAnswer? {
        guard let entry = try? lookup(request.path) else { return nil }
        if notModified(ifNoneMatch: request.header("If-None-Match"), ifModifiedSince: request.header("If-Modified-Since"), entry) {
            return QuickAnswer(status: 304, body: entry.notModified)
        }
        return entry.ok.map { QuickAnswer(status: 200, body: $0) }
    }

    /// RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since only without it.
    private func notModified(ifNoneMatch: String?, ifModifiedSince: String?, _ entry: Entry) -> Bool {
        if let tags = ifNoneMatch {
            return tags.split(separator: ",").contains { tag in
                let trimmed = tag.trimmingSpaces()
                return trimmed == "*" || trimmed == entry.etag || trimmed == "W/" + entry.etag
            }
        }
        if let since = ifModifiedSince, let seconds = HTTPDate.parse(since) {
            return entry.mtimeNs / 1_000_000_000 <= seconds
        }
        return false
    }

    private func lookup(_ path: String) throws(Problem) -> Entry {
        let now = Server.nowNs()
        let previous = cache.withLock { $0[path] }
        if let previous, now &- previous.checkedNs < revalidateMs * 1_000_000 {
            return previous
        }
        guard let entry = resolve(path, now: now, previous: previous) else {
            _ = cache.withLock { $0.removeValue(forKey: path) }
            throw notFound(path)
        }
        cache.withLock { cache in
            if cache.count >= Self.cacheEntries, cache[path] == nil { cache.removeAll(keepingCapacity: true) }
            cache[path] = entry
        }
        return entry
    }

    /// The full check, done on a cache miss and on revalidation.
    private func resolve(_ path: String, now: UInt64, previous: Entry?) -> Entry? {
        let lowered = path.lowercased()
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !path.utf8.contains(0), !lowered.contains("%2e"), !lowered.contains("%2f"), !lowered.contains("%00"),
              !segments.contains(where: { $0 == ".." || $0.hasPrefix(".") })
        else { return nil }
        var candidate = root + "/" + segments.joined(separator: "/")
        if isDirectory(candidate) { candidate += "/index.html" }
        // The real path must stay inside the root, and no part of it below the root may
        // be hidden: a symlink to `.env` is refused like `.env` itself.
        guard let real = Self.realPath(candidate), real.hasPrefix(root + "/"),
              !real.dropFirst(root.count + 1).split(separator: "/").contains(where: { $0.hasPrefix(".") })
        else { return nil }
        // O_NONBLOCK: opening a FIFO must not wait for a writer. Then only a regular file passes.
        let fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let mtimeNs = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        let size = Int(info.st_size)
        if let previous, previous.realPath == real, previous.inode == UInt64(info.st_ino),
           previous.device == UInt64(info.st_dev), previous.size == size, previous.mtimeNs == mtimeNs {
            return previous.checked(at: now)
        }
        var bytes: [UInt8]?
        if size <= cacheLimit {
            guard let read = readAll(fd, expected: size) else { return nil }
            bytes = read
        }
        let etag = "\"\(String(UInt64(info.st_ino), radix: 16))-\(String(size, radix: 16))-\(String(mtimeNs, radix: 16))\""
        let lastModified = HTTPDate.format(Int(info.st_mtim.tv_sec))
        let validators = [("Cache-Control", "no-cache"), ("ETag", etag), ("Last-Modified", lastModified)]
        let contentType = Self.contentType(for: real)
        let ok = bytes.map {
            SharedBody($0, headers: [("Content-Type", contentType)] + validators + [("X-Content-Type-Options", "nosniff")])
        }
        return Entry(realPath: real, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: size, mtimeNs: mtimeNs,
                     checkedNs: now, etag: etag, lastModified: lastModified, contentType: contentType, ok: ok,
                     notModified: SharedBody([], headers: validators))
    }

    private func notFound(_ path: String) -> Problem {
        Problem(status: 404, title: "Not found", detail: "no file at \(sanitized(path))", slug: "not-found")
    }

    static func contentType(for path: String) -> String {
        let ext = path.split(separator: ".").last.map { $0.lowercased() } ?? ""
        switch ext {
        case "html", "htm": return "text/html; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "json": return "application/json"
        case "ndjson": return "application/x-ndjson"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "ico": return "image/x-icon"
        case "txt", "md": return "text/plain; charset=utf-8"
        case "woff2": return "font/woff2"
        default: return "application/octet-stream"
        }
    }

    private func sanitized(_ path: String) -> String {
        String(path.unicodeScalars.map { $0.value < 0x20 ? "?" : Character($0) }.prefix(200))
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    private func readAll(_ fd: Int32, expected: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(expected)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { return bytes }
            bytes.append(contentsOf: buffer[0..<count])
            if bytes.count > cacheLimit { return nil }
        }
    }
}

/// IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(pad(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)) GMT"
    }

    /// Seconds since the epoch, or nil for anything but an IMF-fixdate.
    static func parse(_ text: String) -> Int? {
        let fields = text.split(separator: " ")
        guard fields.count == 6, fields[5] == "GMT", let day = Int32(fields[1]),
              let month = months.firstIndex(of: String(fields[2])), let year = Int32(fields[3]) else { return nil }
        let clock = fields[4].split(separator: ":")
        guard clock.count == 3, let hour = Int32(clock[0]), let minute = Int32(clock[1]), let second = Int32(clock[2]) else {
            return nil
        }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = Int32(month)
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        let seconds = timegm(&parts)
        return seconds < 0 ? nil : Int(seconds)
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
