import HTTPServer
import JSON
import Store
import Tracing

/// The routes for recording traces for lessons: a run's title, tags and pin; notes
/// on its events; lessons; imports; and offline hand-outs.
enum Recording {
    static let importPath = "/api/runs/import"
    /// Largest trace `POST /api/runs/import` takes.
    static let maxImportBytes = 64 << 20

    static func addRoutes(to router: inout Router, playground: Playground, publicDirectory: String?) {
        router.add("POST", importPath) { request throws(Problem) in
            let id = Playground.newID()
            let trace = try TraceImport.read(request.body, id: id, createdAt: Timestamp.now())
            try playground.record(trace.snapshot, lines: trace.lines, count: trace.count)
            return .json(try playground.snapshot(id).json, status: 201, headers: [("Location", "/api/runs/\(id)")])
        }

        router.add("GET", "/api/runs/{id}/export.html") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            let run = try playground.snapshot(id)
            let content = Handout.Content.run(run, trace: try playground.traceLines(id),
                                              notes: try playground.storeCall { () throws(StoreError) in try playground.store.notes(id) })
            return try handout(content, name: "interleave-\(id)", playground: playground, publicDirectory: publicDirectory)
        }

        router.add("GET", "/api/lessons/{id}/export.html") { request throws(Problem) in
            let lesson = try Lessons.find(request.pathParameters["id"]!, playground: playground)
            var runs: [RunSnapshot] = []
            var traces: [String: [UInt8]] = [:]
            var notes: [String: [RunNote]] = [:]
            for id in lesson.steps.map(\.run) where traces[id] == nil {
                guard let run = try? playground.snapshot(id) else { continue }
                runs.append(run)
                traces[id] = try playground.traceLines(id)
                notes[id] = try playground.storeCall { () throws(StoreError) in try playground.store.notes(id) }
            }
            let content = Handout.Content(runs: runs, traces: traces, notes: notes, lessons: [lesson],
                                          search: "?lesson=\(lesson.id)", title: lesson.title)
            return try handout(content, name: "interleave-lesson-\(lesson.id)", playground: playground,
                               publicDirectory: publicDirectory)
        }

        router.add("PATCH", "/api/runs/{id}") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            let body = try Body.object(request, allowed: ["title", "description", "tags", "pinned"])
            let title = try Body.optionalText(body, "title", max: 200)
            let description = try Body.optionalText(body, "description", max: 20_000)
            let tags = try Body.tags(body)
            let pinned = try Body.bool(body, "pinned")
            let run = try playground.edit(id) { run in
                if let title { run.title = title.isEmpty ? nil : title }
                if let description { run.description = description.isEmpty ? nil : description }
                if let tags { run.tags = tags }
                if let pinned { run.pinned = pinned }
            }
            return .json(run.json)
        }

        // MARK: Notes

        router.add("GET", "/api/runs/{id}/notes") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            _ = try playground.snapshot(id)
            let notes = try playground.storeCall { () throws(StoreError) in try playground.store.notes(id) }
            return .json(.array(notes.map(\.json)))
        }

        router.add("POST", "/api/runs/{id}/notes") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            let body = try Body.object(request, allowed: ["seq", "text"])
            let run = try playground.snapshot(id)
            guard let seqValue = body["seq"] else { throw Body.invalid("seq is required: the event the note is about", field: "seq") }
            guard let seq = seqValue.intValue, seq >= 0, seq < max(run.eventCount, 1) else {
                throw Body.invalid("seq must be an event of this run, between 0 and \(max(run.eventCount - 1, 0)) (got \(seqValue.jsonString.prefix(40)))",
                                   field: "seq")
            }
            guard let text = try Body.optionalText(body, "text", max: 5_000), !text.isEmpty else {
                throw Body.invalid("text is required: 1 to 5000 characters", field: "text")
            }
            let note = try playground.storeCall { () throws(StoreError) in
                try playground.store.addNote(run: id, seq: seq, text: text, createdAt: Timestamp.now())
            }
            return .json(note.json, status: 201, headers: [("Location", "/api/runs/\(id)/notes/\(note.id)")])
        }

        router.add("DELETE", "/api/runs/{id}/notes/{note}") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            let noteText = request.pathParameters["note"]!
            guard let note = Int(noteText),
                  try playground.storeCall({ () throws(StoreError) in try playground.store.deleteNote(run: id, id: note) })
            else { throw Problem.notFound("run \"\(id.prefix(80))\" has no note \"\(noteText.prefix(40))\"") }
            return Response(status: 204)
        }

        // MARK: Lessons

        router.add("GET", "/api/lessons") { _ throws(Problem) in
            .json(.array(try playground.storeCall { () throws(StoreError) in try playground.store.lessons() }.map(\.json)))
        }

        router.add("POST", "/api/lessons") { request throws(Problem) in
            let body = try Body.object(request, allowed: ["title", "description", "steps"])
            guard let title = try Body.optionalText(body, "title", max: 200), !title.isEmpty else {
                throw Body.invalid("title is required: 1 to 200 characters", field: "title")
            }
            let steps = try Lessons.steps(body["steps"] ?? .array([]), playground: playground)
            let now = Timestamp.now()
            let lesson = Lesson(id: Playground.newID(), title: title,
                                description: try Body.optionalText(body, "description", max: 20_000) ?? "",
                                steps: steps, createdAt: now, updatedAt: now)
            try Lessons.save(lesson, playground: playground)
            return .json(lesson.json, status: 201, headers: [("Location", "/api/lessons/\(lesson.id)")])
        }

        router.add("GET", "/api/lessons/{id}") { request throws(Problem) in
            .json(try Lessons.find(request.pathParameters["id"]!, playground: playground).json)
        }

        router.add("PATCH", "/api/lessons/{id}") { request throws(Problem) in
            var lesson = try Lessons.find(request.pathParameters["id"]!, playground: playground)
            let body = try Body.object(request, allowed: ["title", "description", "steps"])
            if let title = try Body.optionalText(body, "title", max: 200) {
                guard !title.isEmpty else { throw Body.invalid("title must not be empty", field: "title") }
                lesson.title = title
            }
            if let description = try Body.optionalText(body, "description", max: 20_000) { lesson.description = description }
            if let steps = body["steps"] { lesson.steps = try Lessons.steps(steps, playground: playground) }
            lesson.updatedAt = Timestamp.now()
            try Lessons.save(lesson, playground: playground)
            return .json(lesson.json)
        }

        router.add("DELETE", "/api/lessons/{id}") { request throws(Problem) in
            let id = request.pathParameters["id"]!
            guard try playground.storeCall({ () throws(StoreError) in try playground.store.deleteLesson(id) }) else {
                throw Problem.notFound("no lesson \"\(id.prefix(80))\"")
            }
            return Response(status: 204)
        }
    }
}

extension Recording {
    static func handout(_ content: Handout.Content, name: String, playground: Playground,
                        publicDirectory: String?) throws(Problem) -> Response {
        guard let publicDirectory else {
            throw Problem(status: 503, title: "Viewer missing", detail: "this server serves no viewer (no --public-dir), so it cannot make a hand-out",
                          slug: "viewer-missing")
        }
        let html = try Handout.html(content, publicDirectory: publicDirectory, version: playground.configuration.version)
        return Response(status: 200, headers: [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Disposition", "attachment; filename=\"\(name).html\""),
        ], body: .bytes(html))
    }
}

/// Lessons: validating steps, and keeping their runs from being evicted.
enum Lessons {
    static func find(_ id: String, playground: Playground) throws(Problem) -> Lesson {
        guard let lesson = try playground.storeCall({ () throws(StoreError) in try playground.store.lesson(id) }) else {
            throw Problem.notFound("no lesson \"\(id.prefix(80))\"")
        }
        return lesson
    }

    /// Saves the lesson and pins the runs its steps show: retention never takes a run
    /// a lesson needs.
    static func save(_ lesson: Lesson, playground: Playground) throws(Problem) {
        try playground.storeCall { () throws(StoreError) in try playground.store.save(lesson) }
        for run in Set(lesson.steps.map(\.run)) {
            _ = try playground.edit(run) { $0.pinned = true }
        }
    }

    static func steps(_ value: JSONValue, playground: Playground) throws(Problem) -> [LessonStep] {
        guard let items = value.arrayValue else {
            throw Body.invalid("steps must be an array of {run, view, seq, note} (got \(value.typeName))", field: "steps")
        }
        guard items.count <= 200 else { throw Body.invalid("a lesson has at most 200 steps (got \(items.count))", field: "steps") }
        var steps: [LessonStep] = []
        for (index, item) in items.enumerated() {
            let field = "steps[\(index)]"
            guard let object = item.objectValue else {
                throw Body.invalid("\(field) must be an object {run, view, seq, note} (got \(item.typeName))", field: field)
            }
            for key in object.keys where !["run", "view", "seq", "note"].contains(key) {
                throw Body.invalid("unknown field \"\(key.prefix(40))\" in \(field); a step has run, view, seq and note",
                                   field: "\(field).\(key.prefix(40))")
            }
            guard let run = object["run"]?.stringValue else {
                throw Body.invalid("\(field).run must name a recorded run", field: "\(field).run")
            }
            let snapshot: RunSnapshot
            do { snapshot = try playground.snapshot(run) } catch {
                // 422: the body names a run that is not there (404 would say the lesson is not).
                throw Problem(status: 422, title: "Unknown run", detail: "\(field).run: there is no run \"\(run.prefix(80))\"",
                              slug: "unknown-run", extra: ["field": .string("\(field).run")])
            }
            var view: [Int]?
            if let raw = object["view"], raw != .null {
                // (A window with t1 ≤ t0 is kept as given; the viewer leaves the view as it is for it.)
                guard let items = raw.arrayValue, items.count == 2, let pair = Optional(items.compactMap(\.intValue)),
                      pair.count == 2, pair[0] >= 0, pair[1] >= 0 else {
                    throw Body.invalid("\(field).view must be [t0, t1]: two non-negative integers, microseconds (got \(raw.jsonString.prefix(60)))",
                                       field: "\(field).view")
                }
                view = pair
            }
            var seq: Int?
            if let raw = object["seq"], raw != .null {
                guard let value = raw.intValue, value >= 0 else {
                    throw Body.invalid("\(field).seq must be a non-negative integer (got \(raw.jsonString.prefix(40)))", field: "\(field).seq")
                }
                guard value < max(snapshot.eventCount, 1) else {
                    throw Problem(status: 422, title: "Unknown event",
                                  detail: "\(field).seq: run \(run) has no event \(value); its events are 0 to \(max(snapshot.eventCount - 1, 0))",
                                  slug: "unknown-event", extra: ["field": .string("\(field).seq")])
                }
                seq = value
            }
            var note = ""
            if let raw = object["note"], raw != .null {
                guard let text = raw.stringValue, text.unicodeScalars.count <= 5_000 else {
                    throw Body.invalid("\(field).note must be a string of at most 5000 characters", field: "\(field).note")
                }
                note = text
            }
            steps.append(LessonStep(run: run, view: view, seq: seq, note: note))
        }
        return steps
    }
}

/// Reading JSON request bodies with problems that name the field.
enum Body {
    static func invalid(_ detail: String, field: String) -> Problem {
        Problem.badRequest(detail, title: "Invalid request", slug: "invalid-request", extra: ["field": .string(field)])
    }

    static func object(_ request: Request, allowed: [String]) throws(Problem) -> JSONObject {
        let body: JSONValue
        do {
            body = try JSONParser.parse(request.body)
        } catch {
            throw Problem.badRequest("the body is not valid JSON: \(error)", title: "Invalid JSON", slug: "invalid-json")
        }
        guard let object = body.objectValue else {
            throw Problem.badRequest("the body must be a JSON object with \(allowed.joined(separator: ", ")) (got \(body.typeName))",
                                     title: "Invalid request", slug: "invalid-request")
        }
        for key in object.keys where !allowed.contains(key) {
            throw invalid("unknown field \"\(key.prefix(80))\"; the body may have \(allowed.joined(separator: ", "))",
                          field: String(key.prefix(80)))
        }
        return object
    }

    /// A string field: nil when absent, "" when null (clears it).
    static func optionalText(_ object: JSONObject, _ key: String, max: Int) throws(Problem) -> String? {
        guard let value = object[key] else { return nil }
        if value == .null { return "" }
        guard let text = value.stringValue else { throw invalid("\(key) must be a string (got \(value.typeName))", field: key) }
        guard text.unicodeScalars.count <= max else { throw invalid("\(key) must be at most \(max) characters (got \(text.unicodeScalars.count))", field: key) }
        return text
    }

    static func bool(_ object: JSONObject, _ key: String) throws(Problem) -> Bool? {
        guard let value = object[key] else { return nil }
        guard let flag = value.boolValue else { throw invalid("\(key) must be true or false (got \(value.typeName))", field: key) }
        return flag
    }

    static func tags(_ object: JSONObject) throws(Problem) -> [String]? {
        guard let value = object["tags"] else { return nil }
        guard let items = value.arrayValue else { throw invalid("tags must be an array of strings (got \(value.typeName))", field: "tags") }
        guard items.count <= 20 else { throw invalid("at most 20 tags (got \(items.count))", field: "tags") }
        var tags: [String] = []
        for (index, item) in items.enumerated() {
            guard let tag = item.stringValue, !tag.isEmpty, tag.unicodeScalars.count <= 40 else {
                throw invalid("tags[\(index)] must be a string of 1 to 40 characters", field: "tags[\(index)]")
            }
            tags.append(tag)
        }
        return tags
    }
}
