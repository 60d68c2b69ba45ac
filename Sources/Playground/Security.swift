import HTTPServer
import JSON

/// Who may talk to the server, and how.
public struct SecurityConfiguration: Sendable {
    /// When set, every `/api/*` request (and `/metrics`) needs `Authorization: Bearer <token>`;
    /// the event stream and trace download also accept `?token=`.
    public var token: String?
    /// Host names (no port) a request's `Host` may name; `nil` accepts any (a wildcard bind).
    public var allowedHosts: Set<String>?

    public init(token: String? = nil, allowedHosts: Set<String>? = nil) {
        self.token = token
        self.allowedHosts = allowedHosts
    }

    /// The host names a server bound to `host` answers to: the loopback names for a
    /// loopback bind, plus the address itself; any for a wildcard bind.
    public static func hosts(servedOn host: String) -> Set<String>? {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if ["0.0.0.0", "::", ""].contains(bare) { return nil }
        var names: Set<String> = [bare.lowercased()]
        if isLoopback(bare) { names.formUnion(["127.0.0.1", "localhost", "::1"]) }
        return names
    }

    /// True for `localhost`, `::1` and 127.0.0.0/8.
    public static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }
}

/// The checks in front of the router, in order: `Host` (DNS rebinding), `Origin`
/// (another web page), the bearer token, and `Content-Type: application/json` on
/// requests that change state (so a cross-site form post cannot start runs).
struct FrontDoor: Sendable {
    let security: SecurityConfiguration
    let router: Router

    private static let stateChanging: Set<String> = ["POST", "PATCH", "DELETE", "PUT"]

    func check(_ request: Request, match: Router.Match) -> Problem? {
        let host = request.header("Host")
        if let allowed = security.allowedHosts, let host {
            let name = Self.hostName(host)
            guard allowed.contains(name) else {
                return Problem(status: 421, title: "Misdirected request",
                               detail: "this server does not answer to the host \"\(Self.clip(host))\"; use \(allowed.sorted().joined(separator: " or "))",
                               slug: "unknown-host", extra: ["field": "Host"])
            }
        }
        let guarded = request.path.hasPrefix("/api/") || request.path == "/metrics"
        if guarded, let origin = request.header("Origin") {
            // Same origin only: the Origin's host[:port] must be the Host this request was sent to.
            let authority = Self.authority(ofOrigin: origin)
            guard let host, let authority, authority == host.lowercased() else {
                return Problem(status: 403, title: "Cross-origin request refused",
                               detail: "requests from the page at \"\(Self.clip(origin))\" are not accepted; only this server's own pages may call its API",
                               slug: "cross-origin", extra: ["field": "Origin"])
            }
        }
        if guarded, let token = security.token {
            var presented: String?
            if let authorization = request.header("Authorization") {
                let parts = authorization.split(separator: " ", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == "bearer" {
                    presented = Self.trimmed(parts[1])
                }
            } else if request.method == "GET" || request.method == "HEAD",
                      request.path.hasSuffix("/events") || request.path.hasSuffix("/trace") {
                presented = request.query["token"]
            }
            guard let presented, Self.constantTimeEqual(presented, token) else {
                return Problem(status: 401, title: "Unauthorized",
                               detail: presented == nil
                                   ? "this server needs a token: send Authorization: Bearer <token>"
                                   : "the token is not the one this server was started with",
                               slug: "unauthorized", headers: [("WWW-Authenticate", "Bearer realm=\"interleave\"")])
            }
        }
        // POST/PATCH/PUT always; DELETE only when it carries a body (a bodiless DELETE has
        // nothing to type, and no cross-site form can send one).
        let needsType = Self.stateChanging.contains(request.method) && (request.method != "DELETE" || !request.body.isEmpty)
        if needsType, guarded, case .route = match {
            let type = request.header("Content-Type")?.split(separator: ";").first.map { Self.trimmed($0).lowercased() }
            // An import's body is an NDJSON trace; like JSON, no cross-site form can send that type.
            guard type == "application/json" || (type == "application/x-ndjson" && request.path == "/api/runs/import") else {
                return Problem(status: 415, title: "Unsupported media type",
                               detail: "\(request.method) requests must send Content-Type: application/json (got \(type.map { "\"\(Self.clip($0))\"" } ?? "none"))",
                               slug: "unsupported-media-type", extra: ["field": "Content-Type"],
                               headers: [("Accept-Post", "application/json")])
            }
        }
        return nil
    }

    static func trimmed(_ text: Substring) -> String {
        String(text.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }

    /// `example.org:8080` → `example.org`; `[::1]:8080` → `::1`.
    static func hostName(_ host: String) -> String {
        let lowered = host.lowercased()
        if lowered.hasPrefix("["), let close = lowered.firstIndex(of: "]") {
            return String(lowered[lowered.index(after: lowered.startIndex)..<close])
        }
        if let colon = lowered.lastIndex(of: ":") { return String(lowered[..<colon]) }
        return lowered
    }

    /// `http://example.org:8080` → `example.org:8080`; nil for `null` or nonsense.
    static func authority(ofOrigin origin: String) -> String? {
        let lowered = origin.lowercased()
        for scheme in ["http://", "https://"] where lowered.hasPrefix(scheme) {
            let rest = lowered.dropFirst(scheme.count)
            guard !rest.isEmpty, !rest.contains("/") else { return nil }
            return String(rest)
        }
        return nil
    }

    /// Compares every byte whatever the first difference, so the time taken does not
    /// tell an attacker how much of a guess was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        difference |= x.count == y.count ? 0 : 1
        for index in 0..<max(x.count, y.count) {
            let p = index < x.count ? x[index] : 0
            let q = index < y.count ? y[index] : 0
            difference |= p ^ q
        }
        return difference == 0
    }

    private static func clip(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) }.prefix(100))
    }
}
