/// Routes by method and path pattern (`/api/runs/{id}/events`). A path that matches
/// with another method gets 405 with `Allow`; anything unmatched goes to `fallback`.
public struct Router: Sendable {
    public typealias Handler = @Sendable (Request) throws(Problem) -> Response

    private struct Route {
        let method: String
        let pattern: String
        let segments: [Substring]
        let handler: Handler
    }

    /// What a request would reach, without calling anything: the route's pattern
    /// (for metrics labels and middleware), or the methods the path allows.
    public enum Match: Sendable, Equatable {
        case route(pattern: String)
        case methodNotAllowed(allow: [String])
        case fallback
    }

    private var routes: [Route] = []
    public var fallback: Handler = { request throws(Problem) in
        throw Problem.notFound("no resource at \(request.path)")
    }

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping Handler) {
        routes.append(Route(method: method, pattern: pattern, segments: pattern.split(separator: "/"), handler: handler))
    }

    public func match(_ request: Request) -> Match {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [String] = []
        for route in routes {
            guard match(route.segments, segments) != nil else { continue }
            if route.method == request.method || (route.method == "GET" && request.method == "HEAD") {
                return .route(pattern: route.pattern)
            }
            allowed.append(route.method)
        }
        return allowed.isEmpty ? .fallback : .methodNotAllowed(allow: allow(for: segments))
    }

    /// The methods of the most specific patterns matching `segments`: `/api/runs/import`
    /// allows what its literal route allows, not also what `/api/runs/{id}` would.
    private func allow(for segments: [Substring]) -> [String] {
        let matching = routes.filter { match($0.segments, segments) != nil }
        let fewest = matching.map { $0.segments.filter { $0.hasPrefix("{") }.count }.min() ?? 0
        let methods = matching.filter { $0.segments.filter { $0.hasPrefix("{") }.count == fewest }.map(\.method)
        return Array(Set(methods)).sorted()
    }

    public func respond(to request: Request) -> Response {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [String] = []
        for route in routes {
            guard let parameters = match(route.segments, segments) else { continue }
            guard route.method == request.method || (route.method == "GET" && request.method == "HEAD") else {
                allowed.append(route.method)
                continue
            }
            var routed = request
            routed.pathParameters = parameters
            return call(route.handler, routed)
        }
        if !allowed.isEmpty {
            let allow = allow(for: segments).joined(separator: ", ")
            return Problem(status: 405, title: "Method not allowed",
                           detail: "\(request.method) is not allowed on \(request.path); use \(allow)",
                           slug: "method-not-allowed", headers: [("Allow", allow)]).response
        }
        return call(fallback, request)
    }

    private func call(_ handler: Handler, _ request: Request) -> Response {
        do {
            return try handler(request)
        } catch {
            return error.response
        }
    }

    private func match(_ pattern: [Substring], _ path: [Substring]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (expected, actual) in zip(pattern, path) {
            if expected.hasPrefix("{"), expected.hasSuffix("}") {
                parameters[String(expected.dropFirst().dropLast())] = String(actual)
            } else if expected != actual {
                return nil
            }
        }
        return parameters
    }
}
