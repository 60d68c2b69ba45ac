import Foundation
import Glibc
import JSON
import Testing

/// Every bad input gets a problem+json answer that names what is wrong.
@Suite struct ErrorsE2ETests {
    struct Case: CustomTestStringConvertible, Sendable {
        let method: String, path: String, body: String?, status: Int, detail: String
        var testDescription: String { "\(method) \(path) \(body ?? "") → \(status)" }
    }

    static let cases: [Case] = [
        Case(method: "POST", path: "/api/runs", body: "{not json", status: 400, detail: "not valid JSON"),
        Case(method: "POST", path: "/api/runs", body: "[1,2]", status: 400, detail: "must be a JSON object"),
        Case(method: "POST", path: "/api/runs", body: #"{"params":{}}"#, status: 400, detail: "must name an experiment"),
        Case(method: "POST", path: "/api/runs", body: #"{"experiment":"nope"}"#, status: 404, detail: "no experiment \"nope\""),
        Case(method: "POST", path: "/api/runs", body: #"{"experiment":42}"#, status: 400, detail: "experiment must be a string"),
        Case(method: "POST", path: "/api/runs", body: #"{"experiment":"thread-pool","params":{"wrokers":3}}"#, status: 400,
             detail: "unknown parameter \"wrokers\""),
        Case(method: "POST", path: "/api/runs", body: #"{"experiment":"thread-pool","params":{"workers":"many"}}"#, status: 400,
             detail: "workers must be an integer between 1 and 64"),
        Case(method: "POST", path: "/api/runs", body: #"{"experiment":"thread-pool","params":{"workers":1000}}"#, status: 400,
             detail: "workers must be between 1 and 64 (got 1000)"),
        Case(method: "POST", path: "/api/runs", body: #"{"experiment":"thread-pool","params":{"mode":"turbo"}}"#, status: 400,
             detail: "mode must be one of"),
        Case(method: "POST", path: "/api/runs", body: #"{"experiment":"thread-pool","extra":1}"#, status: 400, detail: "unknown field \"extra\""),
        Case(method: "POST", path: "/api/runs", body: String(repeating: "[", count: 10_000), status: 400, detail: "nesting deeper"),
        Case(method: "GET", path: "/api/runs/doesnotexist", body: nil, status: 404, detail: "no run \"doesnotexist\""),
        Case(method: "GET", path: "/api/runs/doesnotexist/events", body: nil, status: 404, detail: "no run"),
        Case(method: "DELETE", path: "/api/runs/doesnotexist", body: nil, status: 404, detail: "no run"),
        Case(method: "GET", path: "/api/experiments/nope", body: nil, status: 404, detail: "no experiment"),
        Case(method: "PUT", path: "/api/runs", body: "{}", status: 405, detail: "PUT is not allowed"),
        Case(method: "GET", path: "/api/nothing-here", body: nil, status: 404, detail: "no API endpoint"),
    ]

    @Test(arguments: cases)
    func badInputGetsAProblem(_ c: Case) throws {
        let server = try ServerProcess.shared()
        let response = try server.request(c.method, c.path, body: c.body)
        #expect(response.status == c.status)
        #expect(response.header("content-type") == "application/problem+json")
        #expect(response.json["status"]?.intValue == c.status)
        #expect(response.json["title"]?.stringValue?.isEmpty == false)
        #expect(response.json["type"]?.stringValue?.isEmpty == false)
        #expect(response.json["detail"]?.stringValue?.contains(c.detail) == true, "detail was: \(response.json["detail"] ?? .null)")
    }

    @Test func invalidParameterNamesTheField() throws {
        let response = try ServerProcess.shared().request("POST", "/api/runs",
                                                          body: #"{"experiment":"thread-pool","params":{"tasks":-5}}"#)
        #expect(response.json["field"] == "params.tasks")
        #expect(response.json["title"] == "Invalid parameter")
    }

    @Test func wrongMethodListsTheAllowedOnes() throws {
        let response = try ServerProcess.shared().request("PUT", "/api/runs/abc")
        #expect(response.status == 405)
        #expect(response.header("allow") == "DELETE, GET, PATCH")
    }

    @Test func oversizedBodiesGet413() throws {
        let body = #"{"experiment":"thread-pool","params":{},"pad":""# + String(repeating: "x", count: 70_000) + #""}"#
        let response = try ServerProcess.shared().request("POST", "/api/runs", body: body)
        #expect(response.status == 413)
        #expect(response.header("content-type") == "application/problem+json")
        #expect(response.json["detail"]?.stringValue?.contains("65536") == true)
    }

    @Test func badQueryAndHeaderValuesAreRefused() throws {
        let server = try ServerProcess.shared()
        let (run, _) = try server.runToEnd("thread-pool", ["tasks": 1, "taskMs": 1])
        let id = run["id"]!.stringValue!
        #expect(try server.get("/api/runs/\(id)/events?from=-3").json["field"] == "from")
        #expect(try server.get("/api/runs/\(id)/trace?format=pdf").status == 400)
        let sse = try server.request("GET", "/api/runs/\(id)/events", headers: ["Accept": "text/event-stream", "Last-Event-ID": "x"])
        #expect(sse.status == 400)
    }

    @Test func garbageOnTheWireDoesNotHurtTheServer() throws {
        let server = try ServerProcess.shared()
        for garbage in ["\u{0}\u{1}\u{2}\r\n\r\n", "GET /" + String(repeating: "a", count: 20_000) + " HTTP/1.1\r\n\r\n",
                        "POST /api/runs HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{", "GET /api/health HTTP/9.9\r\n\r\n"] {
            let connection = try HTTPConnection(port: server.port)
            try? connection.sendAll(Array(garbage.utf8))
            connection.close()
        }
        #expect(try server.get("/api/health").json["status"] == "ok")
    }
}

extension ServerProcess {
    /// A fresh server per test. (A lazily started shared one deadlocks: starting a
    /// Process inside a `static let` initializer hangs on Linux Foundation.)
    static func shared() throws -> ServerProcess { try start() }
}
