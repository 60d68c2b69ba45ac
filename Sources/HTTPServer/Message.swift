import JSON

/// An HTTP request, fully read (body included) before a handler sees it.
public struct Request: Sendable {
    public let method: String
    /// The decoded path, without the query string.
    public let path: String
    public let query: [String: String]
    /// Header values by lower-cased name.
    public let headers: [String: String]
    public let body: [UInt8]
    /// Values captured by `{name}` segments of the matched route.
    public var pathParameters: [String: String] = [:]

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:],
                body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// An HTTP response: a status, headers, and either bytes or a live stream.
public struct Response: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// Bytes answered many times with the same headers: built into a response once.
        case shared(SharedBody)
        /// An open file the kernel sends (`sendfile`).
        case file(FileBody)
        case stream(any StreamSource)
    }

    public var status: Int
    public var headers: [(String, String)]
    public var body: Body

    public init(status: Int, headers: [(String, String)] = [], body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ value: JSONValue, status: Int = 200, headers: [(String, String)] = []) -> Response {
        var bytes = value.encoded()
        bytes.append(0x0A)
        return Response(status: status, headers: [("Content-Type", "application/json")] + headers, body: .bytes(bytes))
    }

    public static func text(_ text: String, status: Int = 200, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [("Content-Type", contentType)], body: .bytes(Array(text.utf8)))
    }

    public static func stream(_ source: any StreamSource, contentType: String) -> Response {
        Response(status: 200, headers: [
            ("Content-Type", contentType), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
        ], body: .stream(source))
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Bytes a stream source hands over without copying them (a run's encoded events: the
/// same memory for every subscriber). The connection copies them straight into its send
/// buffer and keeps the value — and so the memory — only until they are sent.
public protocol StreamBytes: Sendable {
    var count: Int { get }
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: StreamBytes where Element == UInt8 {}

/// What a stream source hands the connection next.
public enum StreamChunk: Sendable {
    case data([UInt8])
    /// Bytes shared with other streams.
    case shared(any StreamBytes)
    /// Nothing yet: the source will call `wake` once when there is.
    case wait
    case end
}

/// A live response body (a run's events). The connection pulls from it; when it has
/// nothing it answers `.wait` and later calls the `wake` it was given, exactly once,
/// so the connection sleeps (suspended, holding no thread) until there is more.
public protocol StreamSource: AnyObject, Sendable {
    func next(wake: @escaping @Sendable () -> Void) -> StreamChunk
    /// The connection is gone (finished, client vanished, or server stopping).
    func close()
}

/// RFC 9457 problem details, served as `application/problem+json`.
public struct Problem: Error, Sendable {
    public var status: Int
    public var title: String
    public var detail: String
    /// A short slug; the problem's `type` is `/problems/<slug>` (documented in the OpenAPI document).
    public var slug: String
    public var extra: JSONObject
    public var headers: [(String, String)]

    public init(status: Int, title: String, detail: String, slug: String, extra: JSONObject = [:],
                headers: [(String, String)] = []) {
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug
        self.extra = extra
        self.headers = headers
    }

    public var json: JSONValue {
        var object: JSONObject = [
            "type": .string("/problems/\(slug)"), "title": .string(title), "status": .int(status),
            "detail": .string(detail),
        ]
        for (key, value) in extra { object[key] = value }
        return .object(object)
    }

    public var response: Response {
        var bytes = json.encoded()
        bytes.append(0x0A)
        return Response(status: status, headers: [("Content-Type", "application/problem+json")] + headers,
                        body: .bytes(bytes))
    }

    public static func notFound(_ detail: String) -> Problem {
        Problem(status: 404, title: "Not found", detail: detail, slug: "not-found")
    }

    public static func badRequest(_ detail: String, title: String = "Bad request", slug: String = "bad-request",
                                  extra: JSONObject = [:]) -> Problem {
        Problem(status: 400, title: title, detail: detail, slug: slug, extra: extra)
    }
}
