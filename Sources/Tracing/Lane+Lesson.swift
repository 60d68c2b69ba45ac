import JSON

/// The events that make a lesson visible rather than only said (DESIGN.md: `var.read`,
/// `var.write`, `insight`, `phase.begin/end`). Every experiment uses these helpers, so the
/// viewer can rely on one shape for each.
extension Lane {
    /// `var.read {var, value}`: this actor read shared state.
    @discardableResult
    public func read(_ variable: String, _ value: Int, _ extra: JSONObject = [:]) -> Int? {
        var fields: JSONObject = ["var": .string(variable), "value": .int(value)]
        for (key, field) in extra { fields[key] = field }
        return emit("var.read", fields)
    }

    /// `var.write {var, value, lost?, overwrote?}`: this actor wrote shared state. A write
    /// that threw away another actor's update is `lost: true` and names, in `overwrote`, the
    /// seq of the write it overwrote (the viewer links the two).
    @discardableResult
    public func write(_ variable: String, _ value: Int, lost: Bool = false, overwrote: Int? = nil,
                      _ extra: JSONObject = [:]) -> Int? {
        var fields: JSONObject = ["var": .string(variable), "value": .int(value)]
        if lost { fields["lost"] = true }
        if let overwrote { fields["overwrote"] = .int(overwrote) }
        for (key, field) in extra { fields[key] = field }
        return emit("var.write", fields)
    }

    /// `insight {text, refs, kind}`: what a learner should notice, pointing at the events
    /// (by seq) that show it. Text speaks of what is drawn ("both W markers write 1"), not
    /// of event names. Refs that are nil (an event the trace dropped) are left out.
    @discardableResult
    public func insight(_ text: String, refs: [Int?] = [], kind: InsightKind = .info) -> Int? {
        emit("insight", ["text": .string(text), "refs": .array(refs.compactMap { $0 }.map(JSONValue.int)),
                         "kind": .string(kind.rawValue)])
    }

    /// `phase.begin {name}`: a labelled part of the run starts (sequential / threads / round 2).
    @discardableResult
    public func phaseBegin(_ name: String) -> Int? { emit("phase.begin", ["name": .string(name)]) }

    /// `phase.end {name}`.
    @discardableResult
    public func phaseEnd(_ name: String) -> Int? { emit("phase.end", ["name": .string(name)]) }

    /// Runs `body` between `phase.begin` and `phase.end` (also when it throws).
    public func phase<T, E: Error>(_ name: String, _ body: () throws(E) -> T) throws(E) -> T {
        phaseBegin(name)
        defer { phaseEnd(name) }
        return try body()
    }
}

/// What an `insight` is about; the viewer picks its colour and icon from this.
public enum InsightKind: String, Sendable, CaseIterable {
    /// Something went wrong that the lesson is about: a lost update, a torn read, a deadlock.
    case problem
    /// The lesson's rule held: the lock kept every update, the ordered philosophers finished.
    case success
    /// An order worth seeing: priority order, gather's argument order, pid reuse.
    case order
    /// Who ran what: a callback on a worker thread, a parse in the parent.
    case actor
    /// Time: a speedup, a stall, a pool saturating, a wait.
    case timing
    /// Anything else worth a look.
    case info
}
