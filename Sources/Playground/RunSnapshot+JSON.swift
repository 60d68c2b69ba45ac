import JSON
import Store

extension RunSnapshot {
    /// The run as the API shows it (DESIGN.md's fields, then the recording's).
    public var json: JSONValue {
        let base = "/api/runs/\(id)"
        return [
            "id": .string(id), "experiment": .string(experiment), "params": .object(params),
            "status": .string(status.rawValue), "createdAt": .string(createdAt),
            "startedAt": JSONValue(startedAt), "endedAt": JSONValue(endedAt),
            "summary": summary.map(JSONValue.object) ?? .null,
            "eventCount": .int(eventCount), "bytes": .int(bytes),
            "title": JSONValue(title), "description": JSONValue(description), "tags": JSONValue(tags),
            "pinned": .bool(pinned), "origin": .string(origin),
            "links": [
                "self": .string(base), "events": .string(base + "/events"),
                "trace": .string(base + "/trace?format=chrome"), "notes": .string(base + "/notes"),
                "export": .string(base + "/export.html"),
            ],
        ]
    }
}

extension RunNote {
    public var json: JSONValue {
        ["id": .int(id), "run": .string(run), "seq": .int(seq), "text": .string(text), "createdAt": .string(createdAt)]
    }
}

extension Lesson {
    public var json: JSONValue {
        ["id": .string(id), "title": .string(title), "description": .string(description),
         "steps": LessonCoding.json(steps), "createdAt": .string(createdAt), "updatedAt": .string(updatedAt),
         "links": ["self": .string("/api/lessons/\(id)"), "export": .string("/api/lessons/\(id)/export.html")]]
    }
}
