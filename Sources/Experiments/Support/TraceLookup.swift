import Tracing

/// Finding events already recorded, so an `insight` can point at the events that show it
/// (the traced primitives emit their own events and do not hand back their seqs).
extension RunContext {
    /// Recorded events of the given types (all types when empty), oldest first, that match.
    func recorded(_ types: Set<String> = [], lane: String? = nil,
                  where match: (TraceEvent) -> Bool = { _ in true }) -> [TraceEvent] {
        recorder.events.filter { event in
            (types.isEmpty || types.contains(event.type)) && (lane == nil || event.lane == lane) && match(event)
        }
    }

    /// The seq of the first recorded event of `type` that matches.
    func firstSeq(_ type: String, lane: String? = nil, where match: (TraceEvent) -> Bool = { _ in true }) -> Int? {
        recorder.events.first { $0.type == type && (lane == nil || $0.lane == lane) && match($0) }?.seq
    }

    /// The seq of the last recorded event of `type` that matches.
    func lastSeq(_ type: String, lane: String? = nil, where match: (TraceEvent) -> Bool = { _ in true }) -> Int? {
        recorder.events.last { $0.type == type && (lane == nil || $0.lane == lane) && match($0) }?.seq
    }
}

extension TraceEvent {
    func int(_ key: String) -> Int? { self[key]?.intValue }
    func string(_ key: String) -> String? { self[key]?.stringValue }
    func bool(_ key: String) -> Bool { self[key]?.boolValue ?? false }
}
