/// What the whitelisted globals mean, as data: instances, numpy dtypes and arrays built from
/// REDUCE, NEWOBJ and BUILD (never by calling anything), and freezing the decoder's arena into
/// `PickleValue` trees.
extension PickleDecoder {
    // MARK: - Globals and calls (data only)

    func resolve(module: String, name: String) throws -> Item {
        guard let resolved = PickleWhitelist.resolve(module: module, name: name) else {
            throw ArtifactError(
                .forbiddenClass,
                "the pickle names '\(Self.printable("\(module).\(name)"))', which is not on the whitelist of classes this service decodes; nothing was executed",
                path: path)
        }
        return .global(resolved.name, resolved.role)
    }

    private func forbiddenCall(_ name: String) -> ArtifactError {
        ArtifactError(.forbiddenClass, "the pickle calls '\(name)' in a way this decoder does not allow; nothing was executed", path: path)
    }

    /// NEWOBJ / INST / OBJ / `cls(*args)`: an instance of a whitelisted class, as data.
    mutating func instantiate(_ cls: Item, arguments: [Item]) throws -> Item {
        guard case .global(let name, let role) = cls else { throw malformed("instantiating something that is not a class") }
        guard role == .instance else { throw forbiddenCall(name) }
        return try store(.instance(className: name, arguments: arguments, state: nil))
    }

    /// REDUCE: what the whitelisted callable would have built, without calling anything.
    mutating func reduce(_ callable: Item, arguments: [Item]) throws -> Item {
        guard case .global(let name, let role) = callable else { throw malformed("REDUCE of something that is not a whitelisted global") }
        switch role {
        case .instance:
            return try instantiate(callable, arguments: arguments)
        case .newObject:
            guard let cls = arguments.first else { throw malformed("__newobj__ without a class") }
            return try instantiate(cls, arguments: Array(arguments.dropFirst()))
        case .reconstructor:
            // copyreg._reconstructor(cls, object, None): cls.__new__(cls)
            guard arguments.count == 3, case .global(_, .objectClass) = arguments[1], case .value(.none) = arguments[2] else {
                throw forbiddenCall(name)
            }
            return try instantiate(arguments[0], arguments: [])
        case .dtype:
            guard let first = arguments.first, case .value(.string(let dtypeName)) = first else { throw malformed("numpy.dtype without a name") }
            return try store(.dtype(name: dtypeName, byteOrder: nil, structured: false))
        case .reconstructArray:
            guard let cls = arguments.first, case .global(_, .ndarrayClass) = cls else { throw forbiddenCall(name) }
            return try store(.emptyArray)
        case .numpyScalar:
            guard arguments.count == 2 else { throw malformed("numpy scalar needs (dtype, bytes)") }
            let dtype = try dtype(of: arguments[0])
            guard dtype.kind != .object else { throw unsupported("numpy object scalars are not supported") }
            let array = try NDArray.decoding(try rawBytes(arguments[1]), dtype: dtype, shape: [], decoder: self)
            switch array.elements {
            case .float(let v): return .value(.float(v.first ?? 0))
            case .int(let v): return .value(.int(Int(v.first ?? 0)))
            case .bool(let v): return .value(.bool(v.first ?? false))
            case .object: throw unsupported("numpy object scalars are not supported")
            }
        case .fromBuffer:
            // _frombuffer(buffer, dtype, shape, order)
            guard arguments.count == 4 else { throw malformed("_frombuffer needs (buffer, dtype, shape, order)") }
            let dtype = try dtype(of: arguments[1])
            let shape = try self.shape(arguments[2])
            if case .value(.string("F")) = arguments[3], shape.count > 1 {
                throw unsupported("Fortran-ordered numpy arrays are not supported")
            }
            return try store(.array(try NDArray.decoding(try rawBytes(arguments[0]), dtype: dtype, shape: shape, decoder: self)))
        case .latin1Encode:
            guard arguments.count == 2, case .value(.string(let text)) = arguments[0], case .value(.string(let encoding)) = arguments[1],
                ["latin1", "latin-1", "iso-8859-1"].contains(encoding.lowercased())
            else { throw forbiddenCall(name) }
            return .value(.bytes(try latin1Bytes(text)))
        case .ndarrayClass, .objectClass:
            throw forbiddenCall(name)
        }
    }

    private func latin1Bytes(_ text: String) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard scalar.value <= 0xFF else { throw malformed("latin-1 text out of range") }
            out.append(UInt8(scalar.value))
        }
        return out
    }

    /// Array data: bytes, or (Python 2 / protocol 2) a latin-1 str.
    private func rawBytes(_ item: Item) throws -> ArraySlice<UInt8> {
        switch item {
        case .value(.bytes(let raw)): return raw[...]
        case .value(.string(let text)): return try latin1Bytes(text)[...]
        default: throw malformed("array data is not bytes")
        }
    }

    // MARK: - BUILD

    mutating func build(_ state: Item) throws {
        let target = try top()
        guard case .ref(let index) = target else { throw malformed("BUILD on something that is not an object") }
        switch heap[index] {
        case .instance(let className, let arguments, nil):
            heap[index] = .instance(className: className, arguments: arguments, state: state)
            if className == PickleWhitelist.arrayWrapperClass && readsJoblibArrays {
                // joblib.load: the wrapper is replaced on the stack by the array that follows it.
                let array = try readWrappedArray(state: state)
                _ = try pop()
                try push(try store(.array(array)))
            }
        case .instance:
            throw malformed("BUILD on an object that already has its state")
        case .dtype(let name, _, _):
            // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
            guard case .tuple(let items)? = container(state), items.count >= 2, case .value(.string(let order)) = items[1] else {
                throw malformed("unreadable numpy dtype state")
            }
            let structured = items.dropFirst(2).prefix(3).contains { if case .value(.none) = $0 { false } else { true } }
            heap[index] = .dtype(name: name, byteOrder: order, structured: structured)
        case .emptyArray:
            heap[index] = .array(try arrayFromState(state))
        default:
            throw malformed("BUILD on something that is not an object")
        }
    }

    /// `ndarray.__setstate__((version, shape, dtype, is_fortran, data))`.
    private mutating func arrayFromState(_ state: Item) throws -> NDArray {
        var items = try tupleItems(state)
        if items.count == 5 { items.removeFirst() }
        guard items.count == 4 else { throw malformed("unreadable numpy array state") }
        let shape = try self.shape(items[0])
        let dtype = try dtype(of: items[1])
        if shape.count > 1, case .value(let fortran) = items[2], fortran.boolValue == true {
            throw unsupported("Fortran-ordered numpy arrays are not supported")
        }
        guard dtype.kind == .object else {
            return try NDArray.decoding(try rawBytes(items[3]), dtype: dtype, shape: shape, decoder: self)
        }
        guard case .list(let objects)? = container(items[3]) else { throw malformed("object array data is not a list") }
        guard NDArray.elementCount(shape) == objects.count else { throw malformed("object array data does not match its shape") }
        return NDArray(dtype: dtype, shape: shape, elements: .object(try objects.map { try freeze($0) }))
    }

    // MARK: - Reading containers as data

    /// A tuple of non-negative ints.
    func shape(_ item: Item) throws -> [Int] {
        try tupleItems(item).map {
            guard case .value(.int(let n)) = $0, n >= 0 else { throw malformed("array shape is not a tuple of sizes") }
            return n
        }
    }

    func dtype(of item: Item) throws -> DType {
        guard case .dtype(let name, let byteOrder, let structured)? = container(item) else { throw malformed("expected a numpy dtype") }
        let described = "\(byteOrder ?? "")\(name)"
        guard !structured else { throw unsupported("structured numpy dtypes are not supported") }
        // Byte order: '<' little, '|' not applicable, '=' native (little on every supported host).
        let little = byteOrder == nil || byteOrder == "<" || byteOrder == "|" || byteOrder == "="
        let kind: DType.Kind? =
            switch name {
            case "f8": little ? .float64 : nil
            case "f4": little ? .float32 : nil
            case "i8": little ? .int64 : nil
            case "i4": little ? .int32 : nil
            case "b1": .bool
            case "O8", "O4": .object
            default: nil
            }
        guard let kind else {
            throw unsupported("numpy dtype '\(Self.printable(described))' is not supported (<f8, <f4, <i8, <i4, |b1 and object are)")
        }
        return DType(kind)
    }

    /// The value under string key `key` of a dict (the last one, as in Python).
    func member(_ item: Item, _ key: String) -> Item? {
        guard case .dict(let entries)? = container(item) else { return nil }
        return entries.last {
            if case .value(.string(key)) = $0.key { true } else { false }
        }?.value
    }

    // MARK: - Freezing into values

    /// The finished value of `item`: a tree, depth- and size-bounded, shared parts decoded once.
    mutating func freeze(_ item: Item) throws -> PickleValue {
        var cache: [Int: (value: PickleValue, size: Int)] = [:]
        var active = Set<Int>()
        return try freeze(item, depth: 0, cache: &cache, active: &active).value
    }

    private mutating func freeze(
        _ item: Item, depth: Int, cache: inout [Int: (value: PickleValue, size: Int)], active: inout Set<Int>
    ) throws -> (value: PickleValue, size: Int) {
        work -= 1
        guard work >= 0 else { throw malformed("the pickle is too large to decode") }
        let index: Int
        switch item {
        case .value(let value): return (value, 1)
        case .global(let name, _): return (.global(name), 1)
        case .ref(let i): index = i
        }
        if let done = cache[index] { return done }
        guard depth < limits.depth else { throw malformed("nested deeper than \(limits.depth) levels") }
        guard heap.indices.contains(index), active.insert(index).inserted else { throw malformed("recursive structure") }
        defer { active.remove(index) }

        var size = 1
        func child(_ item: Item) throws -> PickleValue {
            let (value, childSize) = try freeze(item, depth: depth + 1, cache: &cache, active: &active)
            size += childSize
            guard size <= limits.nodes else { throw malformed("the decoded value is larger than \(limits.nodes) nodes") }
            return value
        }

        let value: PickleValue
        switch heap[index] {
        case .list(let items): value = .list(try items.map(child))
        case .tuple(let items): value = .tuple(try items.map(child))
        case .set(let items): value = .set(try items.map(child))
        case .dict(let entries):
            value = .dict(try entries.map { PickleValue.Entry(key: try child($0.key), value: try child($0.value)) })
        case .instance(let className, let arguments, let state):
            value = .object(className: className, arguments: try arguments.map(child), state: try state.map(child))
        case .dtype:
            value = .dtype(try dtype(of: item))
        case .emptyArray:
            throw malformed("numpy array without data")
        case .array(let array):
            if case .object = array.elements { size += array.count }
            value = .ndarray(array)
        }
        cache[index] = (value, size)
        return (value, size)
    }
}


extension NDArray {
    /// Elements in `shape`, or nil when a size is negative or the product overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for size in shape {
            guard size >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    /// Raw little-endian C-order data of a numeric dtype; the byte count must match exactly.
    static func decoding(_ raw: ArraySlice<UInt8>, dtype: DType, shape: [Int], decoder: PickleDecoder) throws -> NDArray {
        guard dtype.kind != .object else { throw decoder.malformed("object arrays have no raw data") }
        let size = elementCount(shape).map { $0.multipliedReportingOverflow(by: dtype.itemSize) }
        guard let size, !size.overflow, size.partialValue == raw.count else {
            throw decoder.malformed("array data (\(raw.count) bytes) does not match shape \(shape) of \(dtype)")
        }
        let count = raw.count / dtype.itemSize
        let elements: Elements = raw.withUnsafeBytes { buffer in
            func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
                T(littleEndian: buffer.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
            }
            switch dtype.kind {
            case .float64: return .float((0..<count).map { Double(bitPattern: load(UInt64.self, $0)) })
            case .float32: return .float((0..<count).map { Double(Float(bitPattern: load(UInt32.self, $0))) })
            case .int64: return .int((0..<count).map { Int64(load(Int64.self, $0)) })
            case .int32: return .int((0..<count).map { Int64(load(Int32.self, $0)) })
            case .bool: return .bool((0..<count).map { load(UInt8.self, $0) != 0 })
            case .object: return .object([])
            }
        }
        return NDArray(dtype: dtype, shape: shape, elements: elements)
    }
}
