import JSON
import Testing

@Suite struct OpenAPIE2ETests {
    @Test func theDocumentDescribesEveryEndpointAndExperiment() throws {
        let server = try ServerProcess.start()
        let document = try server.get("/api/openapi.json").json
        #expect(document["openapi"] == "3.1.0")
        let paths = document["paths"]?.objectValue?.keys ?? []
        for path in ["/api/health", "/api/experiments", "/api/experiments/{id}", "/api/runs", "/api/runs/{id}",
                     "/api/runs/{id}/events", "/api/runs/{id}/trace", "/api/openapi.json"] {
            #expect(paths.contains(path), "missing \(path)")
        }
        let ids = try server.get("/api/experiments").json.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        let documented = document["components"]?["schemas"]?["RunRequest"]?["properties"]?["experiment"]?["enum"]?
            .arrayValue?.compactMap(\.stringValue) ?? []
        #expect(documented == ids)
        #expect(document["components"]?["schemas"]?["Problem"] != nil)
    }
}
