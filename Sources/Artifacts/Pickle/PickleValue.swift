/// A value decoded from a pickle: plain data only, never a live Python object.
///
/// Containers hold values, never references, so a `PickleValue` is a finite tree (the decoder
/// refuses recursive structures and bounds the depth and total size).
public indirect enum PickleValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits, as Python's little-endian two's complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    /// `bytes` or `bytearray`.
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    /// A dict in insertion order; keys may be any value (Python allows any hashable key).
    case dict([Entry])
    /// A set or frozenset, in pickle order.
    case set([PickleValue])
    /// A reference to a whitelisted class or function, as `module.name` (`numpy.ndarray`).
    case global(String)
    /// An instance of a whitelisted class: its constructor arguments and its `__setstate__` state.
    case object(className: String, arguments: [PickleValue], state: PickleValue?)
    case ndarray(NDArray)
    case dtype(DType)

    /// One key and value of a `dict`.
    public struct Entry: Sendable, Equatable {
        public let key: PickleValue
        public let value: PickleValue

        public init(key: PickleValue, value: PickleValue) {
            self.key = key
            self.value = value
        }
    }

    /// The member named `key` of a dict, or of an object's state dict; the last one wins, as in Python.
    public subscript(key: String) -> PickleValue? {
        switch self {
        case .dict(let entries):
            return entries.last { $0.key == .string(key) }?.value
        case .object(_, _, let state?):
            return state[key]
        default:
            return nil
        }
    }

    /// A number as `Double`: Python int, float or bool (`True` is 1).
    public var doubleValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .float(let d): d
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    public var intValue: Int? {
        switch self {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    /// Python truthiness for the scalar kinds that scikit-learn flags use.
    public var boolValue: Bool? {
        switch self {
        case .bool(let b): b
        case .int(let i): i != 0
        default: nil
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var isNone: Bool {
        if case .none = self { return true }
        return false
    }

    /// The items of a list or tuple.
    public var items: [PickleValue]? {
        switch self {
        case .list(let l), .tuple(let l): l
        default: nil
        }
    }
}

/// The numpy dtypes this service reads: little-endian (or byte-sized) numbers and `object`.
public struct DType: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case float64 = "<f8"
        case float32 = "<f4"
        case int64 = "<i8"
        case int32 = "<i4"
        case bool = "|b1"
        case object = "|O"
    }

    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// Bytes per element in raw array data (object arrays carry no raw data).
    public var itemSize: Int {
        switch kind {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .bool: 1
        case .object: 8
        }
    }

    /// numpy's `dtype.str`, e.g. `<f8`.
    public var description: String { kind.rawValue }
}

/// A decoded numpy array in C order.
public struct NDArray: Sendable, Equatable {
    /// The elements, widened losslessly: `<f4` to `Double`, `<i4` to `Int64`.
    public enum Elements: Sendable, Equatable {
        case float([Double])
        case int([Int64])
        case bool([Bool])
        case object([PickleValue])
    }

    public let dtype: DType
    public let shape: [Int]
    public let elements: Elements

    public init(dtype: DType, shape: [Int], elements: Elements) {
        self.dtype = dtype
        self.shape = shape
        self.elements = elements
    }

    /// Number of elements.
    public var count: Int {
        switch elements {
        case .float(let v): v.count
        case .int(let v): v.count
        case .bool(let v): v.count
        case .object(let v): v.count
        }
    }

    /// Numeric contents as `Double` (exact for floats; integers beyond 2^53 round).
    public var doubles: [Double]? {
        switch elements {
        case .float(let v): v
        case .int(let v): v.map(Double.init)
        case .bool(let v): v.map { $0 ? 1 : 0 }
        case .object: nil
        }
    }

    /// Contents of an object array whose every element is a str (`feature_names_in_`).
    public var strings: [String]? {
        guard case .object(let objects) = elements else { return nil }
        let strings = objects.compactMap(\.stringValue)
        return strings.count == objects.count ? strings : nil
    }
}
