import JSON

/// The recording endpoints in the OpenAPI document: a run's title, tags and pin,
/// notes, lessons, imports and offline hand-outs.
extension OpenAPI {
    static func addRecording(paths: inout JSONObject, schemas: inout JSONObject) {
        func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
        func content(_ type: String, _ schema: JSONValue) -> JSONValue { [.init(stringLiteral: type): ["schema": schema]] }
        func json(_ description: String, _ schema: JSONValue) -> JSONValue {
            ["description": .string(description), "content": content("application/json", schema)]
        }
        let problem: JSONValue = ["description": "Problem details (RFC 9457)", "content": content("application/problem+json", ref("Problem"))]
        let runID: JSONValue = ["name": "id", "in": "path", "required": true, "schema": ["type": "string"], "description": "Run id"]
        let lessonID: JSONValue = ["name": "id", "in": "path", "required": true, "schema": ["type": "string"], "description": "Lesson id"]
        let html: JSONValue = ["description": "One self-contained HTML file (viewer, styles, traces inlined) that opens from file:// with no network",
                               "headers": ["Content-Disposition": ["schema": ["type": "string"]]],
                               "content": content("text/html", ["type": "string"])]
        let created: JSONValue = ["Location": ["schema": ["type": "string"]]]

        if var run = paths["/api/runs/{id}"]?.objectValue {
            run["patch"] = [
                "summary": "Edit a run's title, description, tags or pinned flag (pinned runs are never evicted)",
                "operationId": "editRun", "parameters": [runID],
                "requestBody": ["required": true, "content": content("application/json", ref("RunPatch"))],
                "responses": ["200": json("The run", ref("Run")), "400": problem, "404": problem, "413": problem, "415": problem, "500": problem],
            ]
            paths["/api/runs/{id}"] = .object(run)
        }
        paths["/api/runs/{id}/notes"] = [
            "get": [
                "summary": "Notes pinned to the run's events, by seq", "operationId": "listNotes", "parameters": [runID],
                "responses": ["200": json("Notes", ["type": "array", "items": ref("Note")]), "404": problem, "500": problem],
            ],
            "post": [
                "summary": "Pin a note to one event of the run", "operationId": "addNote", "parameters": [runID],
                "requestBody": ["required": true, "content": content("application/json", ref("NoteRequest"))],
                "responses": ["201": ["description": "Added", "headers": created, "content": content("application/json", ref("Note"))],
                              "400": problem, "404": problem, "413": problem, "415": problem, "500": problem],
            ],
        ]
        paths["/api/runs/{id}/notes/{note}"] = ["delete": [
            "summary": "Delete a note", "operationId": "deleteNote",
            "parameters": [runID, ["name": "note", "in": "path", "required": true, "schema": ["type": "integer", "minimum": 1], "description": "Note id"]],
            "responses": ["204": ["description": "Deleted"], "404": problem, "415": problem, "500": problem],
        ]]
        paths["/api/runs/{id}/export.html"] = ["get": [
            "summary": "The run as an offline hand-out", "operationId": "exportRunHTML", "parameters": [runID],
            "responses": ["200": html, "404": problem, "500": problem, "503": problem],
        ]]
        paths["/api/runs/import"] = ["post": [
            "summary": "Record an NDJSON trace as a run",
            "description": "Each non-blank line is one trace event; seq counts 0, 1, 2, … and ts never decreases. The first bad line gets a 400 whose `line` names it. The run's status and summary come from its run.end (interrupted without one). Up to 64 MiB.",
            "operationId": "importRun",
            "requestBody": ["required": true, "content": [
                "application/x-ndjson": ["schema": ["type": "string", "description": "NDJSON: one TraceEvent per line"]],
            ]],
            "responses": ["201": ["description": "Recorded", "headers": created, "content": content("application/json", ref("Run"))],
                          "400": ["description": "A line that is not a trace event: `line` names it",
                                  "content": content("application/problem+json", ref("Problem"))],
                          "413": problem, "415": problem, "500": problem],
        ]]
        paths["/api/lessons"] = [
            "get": [
                "summary": "Lessons, oldest first", "operationId": "listLessons",
                "responses": ["200": json("Lessons", ["type": "array", "items": ref("Lesson")]), "500": problem],
            ],
            "post": [
                "summary": "Make a lesson: ordered steps, each a run, a time window, an event and a note (its runs are pinned)",
                "operationId": "createLesson",
                "requestBody": ["required": true, "content": content("application/json", ref("LessonRequest"))],
                "responses": ["201": ["description": "Made", "headers": created, "content": content("application/json", ref("Lesson"))],
                              "400": problem,
                              "422": ["description": "A step names a run (or event) that is not there",
                                      "content": content("application/problem+json", ref("Problem"))],
                              "413": problem, "415": problem, "500": problem],
            ],
        ]
        paths["/api/lessons/{id}"] = [
            "get": [
                "summary": "One lesson", "operationId": "getLesson", "parameters": [lessonID],
                "responses": ["200": json("The lesson", ref("Lesson")), "404": problem, "500": problem],
            ],
            "patch": [
                "summary": "Edit a lesson's title, description or steps", "operationId": "editLesson", "parameters": [lessonID],
                "requestBody": ["required": true, "content": content("application/json", ref("LessonPatch"))],
                "responses": ["200": json("The lesson", ref("Lesson")), "400": problem, "404": problem,
                          "422": ["description": "A step names a run (or event) that is not there",
                                  "content": content("application/problem+json", ref("Problem"))],
                          "413": problem, "415": problem, "500": problem],
            ],
            "delete": [
                "summary": "Delete a lesson (its runs stay)", "operationId": "deleteLesson", "parameters": [lessonID],
                "responses": ["204": ["description": "Deleted"], "404": problem, "415": problem, "500": problem],
            ],
        ]
        paths["/api/lessons/{id}/export.html"] = ["get": [
            "summary": "The lesson as an offline hand-out: its runs, notes and steps, presentable with → / ←",
            "operationId": "exportLessonHTML", "parameters": [lessonID],
            "responses": ["200": html, "404": problem, "500": problem, "503": problem],
        ]]

        if var run = schemas["Run"]?.objectValue, var properties = run["properties"]?.objectValue {
            properties["bytes"] = ["type": "integer", "description": "Size of its trace as NDJSON"]
            properties["title"] = ["type": ["string", "null"]]
            properties["description"] = ["type": ["string", "null"]]
            properties["tags"] = ["type": "array", "items": ["type": "string"]]
            properties["pinned"] = ["type": "boolean", "description": "Pinned runs are never evicted by retention"]
            properties["origin"] = ["type": "string", "enum": ["live", "import"]]
            run["properties"] = .object(properties)
            schemas["Run"] = .object(run)
        }
        let text: (Int, Int) -> JSONValue = { min, max in ["type": "string", "minLength": .int(min), "maxLength": .int(max)] }
        let nullableText: (Int) -> JSONValue = { max in ["type": ["string", "null"], "maxLength": .int(max), "description": "null or \"\" clears it"] }
        schemas["RunPatch"] = ["type": "object", "additionalProperties": false, "properties": [
            "title": nullableText(200), "description": nullableText(20_000),
            "tags": ["type": "array", "maxItems": 20, "items": text(1, 40)], "pinned": ["type": "boolean"],
        ]]
        schemas["NoteRequest"] = ["type": "object", "additionalProperties": false, "required": ["seq", "text"], "properties": [
            "seq": ["type": "integer", "minimum": 0, "description": "The event (< the run's eventCount)"], "text": text(1, 5_000),
        ]]
        schemas["Note"] = ["type": "object", "required": ["id", "run", "seq", "text", "createdAt"], "properties": [
            "id": ["type": "integer"], "run": ["type": "string"], "seq": ["type": "integer"], "text": ["type": "string"],
            "createdAt": ["type": "string", "format": "date-time"],
        ]]
        schemas["LessonStep"] = ["type": "object", "additionalProperties": false, "required": ["run"], "properties": [
            "run": ["type": "string", "description": "A recorded run's id"],
            "view": ["type": ["array", "null"], "items": ["type": "integer", "minimum": 0], "minItems": 2, "maxItems": 2,
                     "description": "[t0, t1]: the time window to show, microseconds since the run started (the viewer ignores t1 ≤ t0)"],
            "seq": ["type": ["integer", "null"], "minimum": 0, "description": "The event to select"],
            "note": ["type": ["string", "null"], "maxLength": 5_000, "description": "What to say at this step"],
        ]]
        schemas["LessonRequest"] = ["type": "object", "additionalProperties": false, "required": ["title"], "properties": [
            "title": text(1, 200), "description": nullableText(20_000),
            "steps": ["type": "array", "maxItems": 200, "items": ref("LessonStep")],
        ]]
        schemas["LessonPatch"] = ["type": "object", "additionalProperties": false, "properties": [
            "title": text(1, 200), "description": nullableText(20_000),
            "steps": ["type": "array", "maxItems": 200, "items": ref("LessonStep")],
        ]]
        schemas["Lesson"] = ["type": "object", "required": ["id", "title", "description", "steps", "createdAt", "updatedAt"], "properties": [
            "id": ["type": "string"], "title": ["type": "string"], "description": ["type": "string"],
            "steps": ["type": "array", "items": ref("LessonStep")],
            "createdAt": ["type": "string", "format": "date-time"], "updatedAt": ["type": "string", "format": "date-time"],
            "links": ["type": "object", "properties": ["self": ["type": "string"], "export": ["type": "string"]]],
        ]]
    }
}
