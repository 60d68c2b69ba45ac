import JSON

/// The schema of one experiment parameter, as published in the catalog.
public struct ParameterSpec: Sendable {
    public enum Kind: String, Sendable {
        case integer, number, boolean, string
        /// A list of short strings (`maximum` is the most items), e.g. a schedule's lane choices.
        case array
    }

    public let name: String
    public let kind: Kind
    public let defaultValue: JSONValue
    public let minimum: Double?
    public let maximum: Double?
    public let allowed: [String]?
    public let description: String
    /// Extra rules for a free-form string (e.g. a list of "arrival:burst" pairs): returns
    /// what is wrong, naming the allowed form, or nil.
    public var check: (@Sendable (String) -> String?)? = nil

    public static func integer(_ name: String, _ range: ClosedRange<Int>, default value: Int, _ description: String) -> Self {
        precondition(range.contains(value), "default of \(name) outside its range")
        return Self(name: name, kind: .integer, defaultValue: .int(value), minimum: Double(range.lowerBound),
                    maximum: Double(range.upperBound), allowed: nil, description: description)
    }

    public static func number(_ name: String, _ range: ClosedRange<Double>, default value: Double, _ description: String) -> Self {
        precondition(range.contains(value), "default of \(name) outside its range")
        return Self(name: name, kind: .number, defaultValue: .double(value), minimum: range.lowerBound,
                    maximum: range.upperBound, allowed: nil, description: description)
    }

    public static func boolean(_ name: String, default value: Bool, _ description: String) -> Self {
        Self(name: name, kind: .boolean, defaultValue: .bool(value), minimum: nil, maximum: nil, allowed: nil,
             description: description)
    }

    public static func choice(_ name: String, _ allowed: [String], default value: String, _ description: String) -> Self {
        precondition(allowed.contains(value), "default of \(name) not among its choices")
        return Self(name: name, kind: .string, defaultValue: .string(value), minimum: nil, maximum: nil,
                    allowed: allowed, description: description)
    }

    /// A free-form string that `check` validates (nil: fine; else the problem's detail).
    public static func text(_ name: String, default value: String, _ description: String,
                            check: @escaping @Sendable (String) -> String?) -> Self {
        precondition(check(value) == nil, "default of \(name) fails its own check")
        var spec = Self(name: name, kind: .string, defaultValue: .string(value), minimum: nil, maximum: nil,
                        allowed: nil, description: description)
        spec.check = check
        return spec
    }

    public static func strings(_ name: String, maxItems: Int, _ description: String) -> Self {
        Self(name: name, kind: .array, defaultValue: .array([]), minimum: 0, maximum: Double(maxItems), allowed: nil,
             description: description)
    }

    public var json: JSONValue {
        var object: JSONObject = [
            "name": .string(name), "type": .string(kind.rawValue), "default": defaultValue,
        ]
        if kind == .array {
            object["maxItems"] = .int(Int(maximum ?? 0))
        } else {
            if let minimum { object["minimum"] = kind == .integer ? .int(Int(minimum)) : .double(minimum) }
            if let maximum { object["maximum"] = kind == .integer ? .int(Int(maximum)) : .double(maximum) }
        }
        if let allowed { object["enum"] = JSONValue(allowed) }
        object["description"] = .string(description)
        return .object(object)
    }

    /// The allowed values in words, for error messages.
    var rangeText: String {
        switch kind {
        case .integer: "an integer between \(Int(minimum!)) and \(Int(maximum!))"
        case .number: "a number between \(format(minimum!)) and \(format(maximum!))"
        case .boolean: "true or false"
        case .string: "one of " + (allowed ?? []).map { "\"\($0)\"" }.joined(separator: ", ")
        case .array: "a list of at most \(Int(maximum!)) strings of at most 64 characters"
        }
    }

    private func format(_ value: Double) -> String {
        value.rounded() == value ? String(Int(value)) : String(value)
    }

    /// Checks one supplied value against the schema; returns it normalised.
    func validate(_ value: JSONValue) throws(ParameterError) -> JSONValue {
        switch kind {
        case .integer:
            guard let int = value.intValue else {
                throw ParameterError(parameter: name, detail: "\(name) must be \(rangeText) (got \(describe(value)))")
            }
            guard Double(int) >= minimum!, Double(int) <= maximum! else {
                throw ParameterError(parameter: name, detail: "\(name) must be between \(Int(minimum!)) and \(Int(maximum!)) (got \(int))")
            }
            return .int(int)
        case .number:
            guard let number = value.doubleValue else {
                throw ParameterError(parameter: name, detail: "\(name) must be \(rangeText) (got \(describe(value)))")
            }
            guard number >= minimum!, number <= maximum! else {
                throw ParameterError(parameter: name, detail: "\(name) must be \(rangeText) (got \(format(number)))")
            }
            return .double(number)
        case .boolean:
            guard let bool = value.boolValue else {
                throw ParameterError(parameter: name, detail: "\(name) must be \(rangeText) (got \(describe(value)))")
            }
            return .bool(bool)
        case .string:
            guard let string = value.stringValue, allowed?.contains(string) ?? true else {
                throw ParameterError(parameter: name, detail: "\(name) must be \(rangeText) (got \(describe(value)))")
            }
            if let check, let problem = check(string) { throw ParameterError(parameter: name, detail: problem) }
            return .string(string)
        case .array:
            guard let items = value.arrayValue, items.count <= Int(maximum!),
                  items.allSatisfy({ ($0.stringValue?.count ?? 65) <= 64 })
            else {
                throw ParameterError(parameter: name, detail: "\(name) must be \(rangeText) (got \(describe(value)))")
            }
            return .array(items)
        }
    }

    private func describe(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): "\"\(s.count > 40 ? String(s.prefix(40)) + "…" : s)\""
        case .int, .double, .bool, .null: value.jsonString
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A parameter block that does not fit the schema; `detail` names the field and the
/// allowed range, ready for a problem+json answer.
public struct ParameterError: Error, Sendable, Equatable {
    public let parameter: String?
    public let detail: String
}

/// Validated parameters: every schema entry present, with the right type.
public struct Parameters: Sendable, Equatable {
    public let values: JSONObject

    /// Resolves a client's `params` (nil or an object) against `specs`: unknown names,
    /// wrong types and out-of-range values are refused; missing ones get defaults.
    public init(resolving supplied: JSONValue?, against specs: [ParameterSpec]) throws(ParameterError) {
        let object: JSONObject
        switch supplied {
        case nil, .null?: object = [:]
        case .object(let o)?: object = o
        case let other?:
            throw ParameterError(parameter: "params", detail: "params must be an object (got \(other.typeName))")
        }
        for key in object.keys where !specs.contains(where: { $0.name == key }) {
            let known = specs.map(\.name).joined(separator: ", ")
            throw ParameterError(parameter: key, detail: "unknown parameter \"\(key)\"; known parameters: \(known.isEmpty ? "none" : known)")
        }
        var resolved = JSONObject()
        for spec in specs {
            resolved[spec.name] = try object[spec.name].map { v throws(ParameterError) in try spec.validate(v) } ?? spec.defaultValue
        }
        values = resolved
    }

    public subscript(name: String) -> JSONValue? { values[name] }

    public func int(_ name: String) -> Int {
        guard let value = values[name]?.intValue else { preconditionFailure("no integer parameter \(name)") }
        return value
    }

    public func double(_ name: String) -> Double {
        guard let value = values[name]?.doubleValue else { preconditionFailure("no number parameter \(name)") }
        return value
    }

    public func bool(_ name: String) -> Bool {
        guard let value = values[name]?.boolValue else { preconditionFailure("no boolean parameter \(name)") }
        return value
    }

    public func strings(_ name: String) -> [String] {
        values[name]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    public func string(_ name: String) -> String {
        guard let value = values[name]?.stringValue else { preconditionFailure("no string parameter \(name)") }
        return value
    }
}
