/// A value decoded from a pickle: plain data only, never a live Python object.
public indirect enum PickleValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    /// Keys may be any hashable Python value.
    case dict([PickleValue: PickleValue])
    case set([PickleValue])
    /// A reference to a whitelisted class or function (`module.name`), e.g. `numpy.ndarray`.
    case global(String)
    /// An instance of a whitelisted class: its arguments and its `__setstate__` state.
    case object(className: String, arguments: [PickleValue], state: PickleValue?)
    case ndarray(NDArray)
    case dtype(DType)

    /// Dictionary member by string key.
    public subscript(key: String) -> PickleValue? {
        if case .dict(let d) = self { return d[.string(key)] }
        if case .object(_, _, let state?) = self { return state[key] }
        return nil
    }

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

    public var isNone: Bool { self == .none }

    /// The items of a list or tuple.
    public var items: [PickleValue]? {
        switch self {
        case .list(let l), .tuple(let l): l
        default: nil
        }
    }
}

extension PickleValue: Hashable {
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .none: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .int(let i): hasher.combine(i)
        case .float(let d): hasher.combine(d)
        case .string(let s): hasher.combine(s)
        case .bytes(let b): hasher.combine(b)
        case .tuple(let t): hasher.combine(t)
        case .global(let g): hasher.combine(g)
        default: hasher.combine(99)
        }
    }
}

/// A numpy dtype: kind (`f`, `i`, `u`, `b`, `O`), item size, byte order.
public struct DType: Sendable, Hashable {
    public let kind: Character
    public let itemSize: Int
    public var littleEndian: Bool

    /// From numpy's pickled name: `f8`, `i4`, `b1`, `O8`, `U12`...
    init?(name: String, littleEndian: Bool = true) {
        guard let first = name.first else { return nil }
        let size = Int(name.dropFirst()) ?? 0
        switch first {
        case "f" where size == 4 || size == 8, "i" where [1, 2, 4, 8].contains(size), "u" where [1, 2, 4, 8].contains(size):
            self.kind = first
            self.itemSize = size
        case "b" where size == 1:
            self.kind = "b"
            self.itemSize = 1
        case "O":
            self.kind = "O"
            self.itemSize = 8
        default: return nil
        }
        self.littleEndian = littleEndian
    }

    public var description: String { "\(littleEndian ? "<" : ">")\(kind)\(itemSize)" }
}

/// A decoded numpy array: numbers as `Double` (every dtype the scalers use converts exactly),
/// or, for object arrays, the objects (`feature_names_in_` is an object array of str).
public struct NDArray: Sendable, Equatable, Hashable {
    public let dtype: DType
    public let shape: [Int]
    public let numbers: [Double]
    public let objects: [PickleValue]

    public var count: Int { shape.reduce(1, *) }

    /// One-dimensional numeric contents.
    public var doubles: [Double]? { dtype.kind == "O" ? nil : numbers }

    /// One-dimensional string contents (object array of str).
    public var strings: [String]? {
        guard dtype.kind == "O" else { return nil }
        let strings = objects.compactMap(\.stringValue)
        return strings.count == objects.count ? strings : nil
    }

    /// Decodes raw C-order bytes of `dtype`.
    static func decode(dtype: DType, shape: [Int], bytes: ArraySlice<UInt8>) -> NDArray? {
        let count = shape.reduce(1, *)
        guard dtype.kind != "O", count >= 0, bytes.count == count * dtype.itemSize else { return nil }
        var numbers = [Double](repeating: 0, count: count)
        let base = bytes.startIndex
        for i in 0..<count {
            var raw: UInt64 = 0
            for b in 0..<dtype.itemSize {
                let byte = UInt64(bytes[base + i * dtype.itemSize + (dtype.littleEndian ? b : dtype.itemSize - 1 - b)])
                raw |= byte << (8 * UInt64(b))
            }
            let bits = UInt64(dtype.itemSize * 8)
            switch dtype.kind {
            case "f": numbers[i] = dtype.itemSize == 8 ? Double(bitPattern: raw) : Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw)))
            case "i":
                let shift = 64 - bits
                numbers[i] = Double(Int64(bitPattern: raw << shift) >> shift)
            case "u": numbers[i] = Double(raw)
            case "b": numbers[i] = raw == 0 ? 0 : 1
            default: return nil
            }
        }
        return NDArray(dtype: dtype, shape: shape, numbers: numbers, objects: [])
    }
}
