/// Any JSON (or YAML) value. ImageStream files keep their documents as these, so the fields Wharf
/// does not model (labels, uid, annotations on tags, conditions…) survive when Wharf rewrites a
/// stream: an import or a PUT never loses what a user or a cluster wrote.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        if var list = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !list.isAtEnd { items.append(try list.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        if let map = try? decoder.container(keyedBy: AnyKey.self) {
            var members: [String: JSONValue] = [:]
            for key in map.allKeys { members[key.stringValue] = try map.decode(JSONValue.self, forKey: key) }
            self = .object(members)
            return
        }
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            self = .null
        } else if let bool = try? value.decode(Bool.self) {
            self = .bool(bool)
        } else if let integer = try? value.decode(Int64.self) {
            self = .integer(integer)
        } else if let number = try? value.decode(Double.self) {
            self = .number(number)
        } else {
            self = .string(try value.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .array(let items):
            var list = encoder.unkeyedContainer()
            for item in items { try list.encode(item) }
        case .object(let members):
            var map = encoder.container(keyedBy: AnyKey.self)
            for (key, member) in members { try map.encode(member, forKey: AnyKey(key)) }
        case .null, .bool, .integer, .number, .string:
            var value = encoder.singleValueContainer()
            switch self {
            case .bool(let bool): try value.encode(bool)
            case .integer(let integer): try value.encode(integer)
            case .number(let number): try value.encode(number)
            case .string(let string): try value.encode(string)
            default: try value.encodeNil()
            }
        }
    }

    /// `modeled` laid over this document: every value Wharf models comes from `modeled`, every key
    /// it does not model keeps this document's value. Lists of objects are matched element by
    /// element on their identity (`name`, `tag` or `image`): `modeled` decides which elements
    /// there are, the document adds what Wharf does not model to each.
    public func overlaid(with modeled: JSONValue) -> JSONValue {
        switch (self, modeled) {
        case (.object(var members), .object(let modeledMembers)):
            for (key, value) in modeledMembers {
                members[key] = members[key].map { $0.overlaid(with: value) } ?? value
            }
            return .object(members)
        case (.array(let items), .array(let modeledItems)):
            return .array(modeledItems.map { item in
                guard let identity = item.identity, let original = items.first(where: { $0.identity == identity }) else { return item }
                return original.overlaid(with: item)
            })
        default:
            return modeled
        }
    }

    /// What tells two elements of an ImageStream list apart.
    private var identity: String? {
        guard case .object(let members) = self else { return nil }
        for key in ["name", "tag", "image"] {
            if case .string(let value)? = members[key] { return "\(key)=\(value)" }
        }
        return nil
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
