/// Turning the decoder's working nodes (mutable containers, objects) into `PickleValue`s, and
/// the numpy pieces: dtypes and arrays from their pickled state.
extension PickleDecoder {

    func freeze(_ node: Node, depth: Int, seen: inout Set<ObjectIdentifier>) throws -> PickleValue {
        guard depth < 200 else { throw malformed("nesting deeper than 200") }
        func guardCycle(_ ref: Ref) throws {
            guard !seen.contains(ObjectIdentifier(ref)) else { throw malformed("recursive structure") }
        }
        switch node {
        case .value(let v): return v
        case .global(let g): return .global(g)
        case .tuple(let items): return .tuple(try items.map { try freeze($0, depth: depth + 1, seen: &seen) })
        case .list(let ref), .set(let ref):
            try guardCycle(ref)
            seen.insert(ObjectIdentifier(ref))
            defer { seen.remove(ObjectIdentifier(ref)) }
            guard case .listItems(let items) = ref.node else { throw malformed("bad list") }
            let values = try items.map { try freeze($0, depth: depth + 1, seen: &seen) }
            if case .set = node { return .set(values) }
            return .list(values)
        case .dict(let ref):
            try guardCycle(ref)
            seen.insert(ObjectIdentifier(ref))
            defer { seen.remove(ObjectIdentifier(ref)) }
            guard case .dictItems(let pairs) = ref.node else { throw malformed("bad dict") }
            var out: [PickleValue: PickleValue] = [:]
            for (k, v) in pairs { out[try freeze(k, depth: depth + 1, seen: &seen)] = try freeze(v, depth: depth + 1, seen: &seen) }
            return .dict(out)
        case .object(let ref):
            try guardCycle(ref)
            seen.insert(ObjectIdentifier(ref))
            defer { seen.remove(ObjectIdentifier(ref)) }
            guard case .objectParts(let cls, let args, let state) = ref.node else { throw malformed("bad object") }
            let arguments = try args.map { try freeze($0, depth: depth + 1, seen: &seen) }
            let frozenState = try state.map { try freeze($0, depth: depth + 1, seen: &seen) }
            switch cls {
            case "numpy.dtype": return .dtype(try dtype(arguments, frozenState))
            case "numpy.ndarray": return .ndarray(try ndarray(frozenState))
            default: return .object(className: cls, arguments: arguments, state: frozenState)
            }
        case .listItems, .dictItems, .objectParts:
            throw malformed("internal node on the stack")
        }
    }

    /// numpy.dtype: arguments ('f8', False, True), state (3, '<', ...).
    func dtype(_ arguments: [PickleValue], _ state: PickleValue?) throws -> DType {
        guard let name = arguments.first?.stringValue else { throw malformed("dtype without a name") }
        var littleEndian = true
        if case .tuple(let s)? = state, s.count > 1, let order = s[1].stringValue {
            littleEndian = order != ">"
        }
        guard let dtype = DType(name: name, littleEndian: littleEndian) else {
            throw ArtifactError(.unsupported, "numpy dtype '\(MLflowStore.printable(name))' is not supported", path: path)
        }
        return dtype
    }

    /// ndarray BUILD state: (version, shape, dtype, is_fortran, data bytes | list of objects).
    func ndarray(_ state: PickleValue?) throws -> NDArray {
        guard case .tuple(let s)? = state, s.count == 5, case .tuple(let shapeItems) = s[1], case .dtype(let dtype) = s[2] else {
            throw malformed("unreadable ndarray state")
        }
        let shape = shapeItems.compactMap(\.intValue)
        guard shape.count == shapeItems.count, shape.allSatisfy({ $0 >= 0 }) else { throw malformed("bad ndarray shape") }
        if s[3].boolValue == true, shape.count > 1 {
            throw ArtifactError(.unsupported, "Fortran-ordered arrays are not supported", path: path)
        }
        if dtype.kind == "O" {
            guard let objects = s[4].items, objects.count == shape.reduce(1, *) else { throw malformed("object array size mismatch") }
            return NDArray(dtype: dtype, shape: shape, numbers: [], objects: objects)
        }
        let raw: [UInt8]
        switch s[4] {
        case .bytes(let b): raw = b
        case .string(let text): raw = text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) } // latin-1 encoded bytes
        default: throw malformed("ndarray data is not bytes")
        }
        guard let array = NDArray.decode(dtype: dtype, shape: shape, bytes: raw[...]) else { throw malformed("array data does not match its shape") }
        return array
    }
}
