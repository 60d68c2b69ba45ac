import Glibc

/// Serves files below one directory. Refuses anything that could step outside it:
/// `..` segments (also percent-encoded), NUL bytes, hidden files, and symlinks that
/// resolve elsewhere (checked on the real path).
public struct StaticFiles: Sendable {
    public let root: String

    /// `root` must exist; it is resolved to its real path once.
    public init?(root: String) {
        guard let real = Self.realPath(root) else { return nil }
        self.root = real
    }

    public func respond(to request: Request) throws(Problem) -> Response {
        guard request.method == "GET" || request.method == "HEAD" else {
            throw Problem(status: 405, title: "Method not allowed", detail: "\(request.method) is not allowed on \(request.path); use GET",
                          slug: "method-not-allowed", headers: [("Allow", "GET, HEAD")])
        }
        let path = request.path
        let lowered = path.lowercased()
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !path.utf8.contains(0), !lowered.contains("%2e"), !lowered.contains("%2f"), !lowered.contains("%00"),
              !segments.contains(where: { $0 == ".." || $0.hasPrefix(".") })
        else {
            throw Problem(status: 404, title: "Not found", detail: "no file at \(sanitized(path))", slug: "not-found")
        }
        var candidate = root + "/" + segments.joined(separator: "/")
        if isDirectory(candidate) { candidate += "/index.html" }
        guard let real = Self.realPath(candidate), real.hasPrefix(root + "/"), !isDirectory(real),
              let bytes = readFile(real)
        else {
            throw Problem(status: 404, title: "Not found", detail: "no file at \(sanitized(path))", slug: "not-found")
        }
        return Response(status: 200, headers: [
            ("Content-Type", Self.contentType(for: real)), ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
        ], body: .bytes(bytes))
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

    private func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { return bytes }
            bytes.append(contentsOf: buffer[0..<count])
        }
    }
}
