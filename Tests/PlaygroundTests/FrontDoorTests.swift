import HTTPServer
import JSON
@testable import Playground
import Testing

/// The checks in front of the router, called in-process (no sockets): `App.handler` is
/// exactly what the server calls for every request.
@Suite struct FrontDoorTests {
    static let token = "correct-horse-battery"

    static func app(token: String? = nil, host: String = "127.0.0.1") -> App {
        var http = ServerConfiguration()
        http.host = host
        return App(http: http, publicDirectory: ServerProcess.repositoryRoot + "/Public",
                   security: SecurityConfiguration(token: token, allowedHosts: SecurityConfiguration.hosts(servedOn: host)))
    }

    static func request(_ method: String, _ path: String, headers: [String: String] = [:], query: [String: String] = [:],
                        body: String? = nil) -> Request {
        var all = ["Host": "127.0.0.1:8080"]
        for (name, value) in headers { all[name] = value }
        return Request(method: method, path: path, query: query, headers: all, body: Array((body ?? "").utf8))
    }

    static func json(_ response: Response) -> JSONValue {
        guard case .bytes(let bytes) = response.body else { return .null }
        return (try? JSONParser.parse(bytes)) ?? .null
    }

    @Test func stateChangingRequestsNeedJSONContentType() {
        let app = Self.app()
        let body = #"{"experiment":"threads","params":{"count":1,"workMs":0}}"#
        for type in [nil, "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"] {
            let response = app.handler(Self.request("POST", "/api/runs", headers: type.map { ["Content-Type": $0] } ?? [:], body: body))
            #expect(response.status == 415, "Content-Type \(type ?? "none")")
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(Self.json(response)["field"]?.stringValue == "Content-Type")
        }
        // A DELETE with a body must type it; one without a body has nothing to type.
        #expect(app.handler(Self.request("DELETE", "/api/runs/nope", body: "{}")).status == 415)
        #expect(app.handler(Self.request("DELETE", "/api/runs/nope")).status == 404)
        // With the right type the router answers (404: no such run).
        let typed = app.handler(Self.request("DELETE", "/api/runs/nope", headers: ["Content-Type": "application/json; charset=utf-8"]))
        #expect(typed.status == 404)
        // A method the path does not allow is still 405, whatever the type.
        #expect(app.handler(Self.request("POST", "/api/health")).status == 405)
    }

    @Test func foreignHostIsRefusedAndLoopbackNamesAreAccepted() {
        let app = Self.app()
        let rebound = app.handler(Self.request("GET", "/api/health", headers: ["Host": "attacker.example:8080"]))
        #expect(rebound.status == 421)
        #expect(Self.json(rebound)["field"]?.stringValue == "Host")
        #expect(app.handler(Self.request("GET", "/index.html", headers: ["Host": "attacker.example"])).status == 421)
        for host in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080"] {
            #expect(app.handler(Self.request("GET", "/api/health", headers: ["Host": host])).status == 200, "Host \(host)")
        }
        // A wildcard bind cannot know its names: any Host (the token guards it instead).
        let open = Self.app(token: Self.token, host: "0.0.0.0")
        #expect(open.handler(Self.request("GET", "/api/health", headers: ["Host": "classroom.example", "Authorization": "Bearer \(Self.token)"])).status == 200)
    }

    @Test func foreignOriginIsRefusedOnTheAPI() {
        let app = Self.app()
        let body = #"{"experiment":"threads"}"#
        let crossSite = app.handler(Self.request("POST", "/api/runs", headers: [
            "Origin": "http://attacker.example", "Content-Type": "application/json"], body: body))
        #expect(crossSite.status == 403)
        #expect(Self.json(crossSite)["type"]?.stringValue == "/problems/cross-origin")
        #expect(app.handler(Self.request("GET", "/api/runs", headers: ["Origin": "null"])).status == 403)
        #expect(app.handler(Self.request("GET", "/api/runs", headers: ["Origin": "http://127.0.0.1:9999"])).status == 403)
        #expect(app.handler(Self.request("GET", "/api/runs", headers: ["Origin": "http://127.0.0.1:8080"])).status == 200)
    }

    @Test func tokenIsRequiredOnTheAPIButNotOnTheViewer() {
        let app = Self.app(token: Self.token)
        let missing = app.handler(Self.request("GET", "/api/runs"))
        #expect(missing.status == 401)
        #expect(missing.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        #expect(app.handler(Self.request("GET", "/api/runs", headers: ["Authorization": "Bearer wrong-token-value"])).status == 401)
        #expect(app.handler(Self.request("GET", "/api/runs", headers: ["Authorization": "Bearer \(Self.token)x"])).status == 401)
        #expect(app.handler(Self.request("GET", "/api/runs", headers: ["Authorization": "Basic \(Self.token)"])).status == 401)
        #expect(app.handler(Self.request("GET", "/api/runs", headers: ["Authorization": "Bearer \(Self.token)"])).status == 200)
        #expect(app.handler(Self.request("GET", "/metrics")).status == 401)
        // ?token= only on the stream and the trace download, never on the rest of the API.
        #expect(app.handler(Self.request("GET", "/api/runs", query: ["token": Self.token])).status == 401)
        #expect(app.handler(Self.request("GET", "/api/runs/nope/events", query: ["token": Self.token])).status == 404)
        #expect(app.handler(Self.request("GET", "/api/runs/nope/trace", query: ["token": Self.token])).status == 404)
        #expect(app.handler(Self.request("GET", "/api/runs/nope/events", query: ["token": "wrong"])).status == 401)
        // The viewer's files load without it (the page then takes ?token= itself).
        #expect(app.handler(Self.request("GET", "/index.html")).status == 200)
    }

    @Test func constantTimeCompareIsExact() {
        #expect(FrontDoor.constantTimeEqual("abcdefgh", "abcdefgh"))
        #expect(!FrontDoor.constantTimeEqual("abcdefgh", "abcdefgx"))
        #expect(!FrontDoor.constantTimeEqual("abcdefgh", "abcdefgh\u{0}"))
        #expect(!FrontDoor.constantTimeEqual("", "a"))
        #expect(!FrontDoor.constantTimeEqual("abcdefgh", "abcdefg"))
        #expect(SecurityConfiguration.isLoopback("127.0.0.2"))
        #expect(!SecurityConfiguration.isLoopback("10.0.0.1"))
        #expect(!SecurityConfiguration.isLoopback("0.0.0.0"))
        #expect(SecurityConfiguration.hosts(servedOn: "0.0.0.0") == nil)
    }

    @Test func metricsCountRequestsByRouteAndStatus() {
        let app = Self.app()
        _ = app.handler(Self.request("GET", "/api/health"))
        _ = app.handler(Self.request("GET", "/api/runs/abc"))
        let metrics = app.handler(Self.request("GET", "/metrics"))
        #expect(metrics.status == 200)
        guard case .bytes(let bytes) = metrics.body else { Issue.record("no body"); return }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#"interleave_http_requests_total{route="/api/health",method="GET",status="200"}"#))
        #expect(text.contains(#"interleave_http_requests_total{route="/api/runs/{id}",method="GET",status="404"}"#))
        #expect(text.contains(#"interleave_http_request_duration_seconds_bucket{route="/api/health",method="GET",le="#))
        for gauge in ["interleave_runs_live", "interleave_streams_live", "process_threads", "process_open_fds",
                      "process_resident_memory_bytes", "interleave_runs_in_memory", "interleave_tracer_spare_chunk_bytes"] {
            #expect(text.contains("\n\(gauge) ") || text.hasPrefix("\(gauge) ") || text.contains("# TYPE \(gauge) gauge"), "\(gauge)")
        }
        #expect(text.contains(#"process_malloc_bytes{state="held"}"#))
        #expect(text.contains(#"process_malloc_bytes{state="in_use"}"#))
    }
}
