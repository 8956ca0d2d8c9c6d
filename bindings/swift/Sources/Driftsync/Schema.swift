import CDriftsync
import Foundation

/// The type of a property (for a list: of its elements).
public enum PropertyType: String, Sendable {
    case bool, int, double, string, binary, timestamp, objectId, uuid, link
    /// Any value: null, a scalar, a `.typedLink`, or (in a single property) a nested list or
    /// dictionary (`Realm.mixedSet`). Always optional.
    case mixed
}

/// One property of a class.
public struct Property: Sendable {
    public var name: String
    public var type: PropertyType
    public var isOptional: Bool
    public var isList: Bool
    /// For links and lists of links: the target class.
    public var target: String?
    /// An int counter: `Realm.counterAdd` increments merge additively across clients.
    public var isCounter: Bool
    /// A set of `type` values: `Realm.setAdd` / `setRemove` / `setClear`, no order, no duplicates.
    public var isSet: Bool
    /// A dictionary from string keys to `type` values (of links: optional): `Realm.dictSet` /
    /// `dictErase` / `dictClear`.
    public var isDictionary: Bool

    public init(
        _ name: String, _ type: PropertyType, optional: Bool = false, list: Bool = false, target: String? = nil,
        counter: Bool = false, set: Bool = false, dictionary: Bool = false
    ) {
        self.name = name
        self.type = type
        self.isOptional = optional
        self.isList = list
        self.target = target
        self.isCounter = counter
        self.isSet = set
        self.isDictionary = dictionary
    }

    /// A dictionary from string keys to `type` values (for `.link`: optional links to `target`).
    public static func dictionary(_ name: String, _ type: PropertyType, optional: Bool = false, target: String? = nil) -> Property {
        Property(name, type, optional: optional || type == .link, target: target, dictionary: true)
    }

    /// A set of `type` values (for `.link`: of links to `target`).
    public static func set(_ name: String, _ type: PropertyType, optional: Bool = false, target: String? = nil) -> Property {
        Property(name, type, optional: optional, target: target, set: true)
    }

    /// An int counter property.
    public static func counter(_ name: String, optional: Bool = false) -> Property {
        Property(name, .int, optional: optional, counter: true)
    }
}

/// One class: its name, the name of its primary-key property and its properties (the primary
/// key among them, as an int, string, objectId or uuid property). An embedded class has no
/// primary key (`primaryKey` ""): its objects live inside one parent object, reached through a
/// link (or list of links) property whose target it is (see `ObjectSchema.embedded`).
public struct ObjectSchema: Sendable {
    public var className: String
    public var primaryKey: String
    public var properties: [Property]
    public var isEmbedded: Bool

    public init(_ className: String, primaryKey: String, properties: [Property], embedded: Bool = false) {
        self.className = className
        self.primaryKey = primaryKey
        self.properties = properties
        self.isEmbedded = embedded
    }

    /// An embedded class (no primary key).
    public static func embedded(_ className: String, properties: [Property]) -> ObjectSchema {
        ObjectSchema(className, primaryKey: "", properties: properties, embedded: true)
    }
}

/// A realm's schema. It is validated when a realm is opened with it (`.invalidSchema` says
/// what is wrong).
public struct Schema: Sendable {
    /// The schema's JSON form (the format of `driftsync_schema_from_json`).
    public let json: String

    /// From the JSON form: `{"classes":[{"name":"Dog","primaryKey":"id","properties":[...]}]}`.
    public init(json: String) { self.json = json }

    public init(_ classes: [ObjectSchema]) {
        let doc: [String: Any] = ["classes": classes.map { c -> [String: Any] in
            var d: [String: Any] = ["name": c.className, "primaryKey": c.primaryKey, "properties": c.properties.map { p -> [String: Any] in
                var d: [String: Any] = ["name": p.name, "type": p.type.rawValue, "optional": p.isOptional, "list": p.isList]
                if let t = p.target { d["target"] = t }
                if p.isCounter { d["counter"] = true }
                if p.isSet { d["set"] = true }
                if p.isDictionary { d["dictionary"] = true }
                return d
            }]
            if c.isEmbedded { d["embedded"] = true }
            return d
        }]
        let data = (try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])) ?? Data()
        self.json = String(decoding: data, as: UTF8.self)
    }

    /// The native schema (free it with `driftsync_schema_free`).
    func native() throws -> OpaquePointer {
        var out: OpaquePointer?
        try check { driftsync_schema_from_json(json, json.utf8.count, &out, $0) }
        return out!
    }
}
