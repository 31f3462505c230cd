/// A pickle decoder (protocols 2 to 5) that builds data, never objects, and never runs code.
///
/// Why hand-written: no Swift package reads pickles, and the safety property is the point. A
/// Python unpickler imports any `module.name` a file names and calls it (`__reduce__`), so a
/// scaler file can run `os.system`. This decoder resolves globals only from a whitelist (the
/// scikit-learn scalers and Pipeline, numpy's array reconstruction, joblib's array wrapper) and
/// refuses anything else with `ArtifactError(.forbiddenClass)` naming it, before anything
/// is built. REDUCE and NEWOBJ on whitelisted names only record their arguments.
///
/// Safe on arbitrary bytes: every read is bounds-checked, lengths are checked against the
/// remaining input, the stack and memo are validated on every use, nesting is limited.
struct PickleDecoder {
    /// Classes that may be instantiated (as data) and functions that may be "called" (as data).
    static let allowedClasses: Set<String> = [
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn.preprocessing._data.RobustScaler",
        "sklearn.preprocessing._data.MaxAbsScaler",
        "sklearn.pipeline.Pipeline",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "numpy.ndarray",
        "numpy.dtype",
        "builtins.object",
    ]
    static let allowedFunctions: Set<String> = [
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
        "copyreg._reconstructor", "copy_reg._reconstructor",
        "copyreg.__newobj__",
        // How protocol 2 spells bytes: `_codecs.encode("\x00...", "latin1")`. Pure, so safe.
        "_codecs.encode",
    ]

    /// Python 2 module names as protocol-2 pickles may spell them.
    static let renamedModules = ["__builtin__": "builtins", "copy_reg": "copyreg"]

    let bytes: [UInt8]
    var offset: Int
    let path: String?
    /// Called at BUILD of a joblib `NumpyArrayWrapper`: reads the array that follows in the stream.
    var arrayReader: ((inout PickleDecoder, Node) throws -> Node)?

    private var stack: [Node] = []
    private var marks: [Int] = []
    private var memo: [Int: Node] = [:]

    init(bytes: [UInt8], offset: Int = 0, path: String?) {
        self.bytes = bytes
        self.offset = offset
        self.path = path
    }

    /// Mutable containers are references while decoding (APPEND/SETITEM mutate what the memo holds).
    final class Ref {
        var node: Node
        init(_ node: Node) { self.node = node }
    }

    indirect enum Node {
        case value(PickleValue)
        case list(Ref)   // node: .listItems
        case dict(Ref)   // node: .dictItems
        case set(Ref)    // node: .listItems
        case object(Ref) // node: .objectParts
        case listItems([Node])
        case dictItems([(Node, Node)])
        case objectParts(className: String, arguments: [Node], state: Node?)
        case tuple([Node])
        case global(String)
    }

    // MARK: - Errors

    func malformed(_ message: String) -> ArtifactError {
        ArtifactError(.malformed, "invalid pickle at byte \(offset): \(message)", path: path)
    }

    // MARK: - Reading

    mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw malformed("unexpected end of data") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - offset else { throw malformed("length \(n) runs past the end of the data") }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    mutating func uint(_ width: Int) throws -> UInt64 {
        let raw = try take(width)
        var v: UInt64 = 0
        for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    mutating func line() throws -> String {
        guard let end = bytes[offset...].firstIndex(of: 0x0A) else { throw malformed("unterminated line") }
        defer { offset = end + 1 }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }

    mutating func pop() throws -> Node {
        guard let top = stack.popLast(), stack.count >= (marks.last ?? 0) else { throw malformed("stack underflow") }
        return top
    }

    mutating func popMark() throws -> [Node] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw malformed("no mark") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    mutating func top() throws -> Node {
        guard let top = stack.last, stack.count > (marks.last ?? 0) else { throw malformed("empty stack") }
        return top
    }

    // MARK: - Decoding

    /// Decodes one pickle (up to and including STOP) from `offset`.
    mutating func decode() throws -> PickleValue {
        var steps = 0
        while true {
            steps += 1
            guard steps < 50_000_000 else { throw malformed("too many operations") }
            let opcode = try byte()
            switch opcode {
            case 0x80: // PROTO
                let version = try byte()
                guard version >= 2, version <= 5 else {
                    throw ArtifactError(.unsupported, "pickle protocol \(version) is not supported (2 to 5 are)", path: path)
                }
            case 0x95: _ = try uint(8) // FRAME: framing is transparent here
            case 0x2E: // STOP
                let value = try pop()
                var seen = Set<ObjectIdentifier>()
                return try freeze(value, depth: 0, seen: &seen)
            case 0x28: marks.append(stack.count) // MARK
            case 0x30: _ = try pop() // POP
            case 0x31: _ = try popMark() // POP_MARK
            case 0x32: stack.append(try top()) // DUP
            case 0x4E: stack.append(.value(.none)) // NONE
            case 0x88: stack.append(.value(.bool(true))) // NEWTRUE
            case 0x89: stack.append(.value(.bool(false))) // NEWFALSE
            case 0x4A: stack.append(.value(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))) // BININT
            case 0x4B: stack.append(.value(.int(Int(try byte())))) // BININT1
            case 0x4D: stack.append(.value(.int(Int(try uint(2))))) // BININT2
            case 0x8A: stack.append(.value(try long(Int(try byte())))) // LONG1
            case 0x8B: // LONG4
                let n = Int(Int32(truncatingIfNeeded: try uint(4)))
                stack.append(.value(try long(n)))
            case 0x47: stack.append(.value(.float(Double(bitPattern: try uint(8).byteSwapped)))) // BINFLOAT (big-endian)
            case 0x49: // INT (text)
                let text = try line()
                if text == "01" { stack.append(.value(.bool(true))) } else if text == "00" { stack.append(.value(.bool(false))) } else {
                    guard let v = Int(text) else { throw malformed("bad INT") }
                    stack.append(.value(.int(v)))
                }
            case 0x46: // FLOAT (text)
                guard let v = Double(try line()) else { throw malformed("bad FLOAT") }
                stack.append(.value(.float(v)))
            case 0x8C: stack.append(.value(.string(try text(Int(try byte()))))) // SHORT_BINUNICODE
            case 0x58: stack.append(.value(.string(try text(Int(try uint(4)))))) // BINUNICODE
            case 0x8D: stack.append(.value(.string(try text(try length(8))))) // BINUNICODE8
            case 0x55: stack.append(.value(.string(String(decoding: try take(Int(try byte())), as: UTF8.self)))) // SHORT_BINSTRING
            case 0x54: stack.append(.value(.string(String(decoding: try take(try length(4)), as: UTF8.self)))) // BINSTRING
            case 0x43: stack.append(.value(.bytes(Array(try take(Int(try byte())))))) // SHORT_BINBYTES
            case 0x42: stack.append(.value(.bytes(Array(try take(try length(4)))))) // BINBYTES
            case 0x8E: stack.append(.value(.bytes(Array(try take(try length(8)))))) // BINBYTES8
            case 0x96: stack.append(.value(.bytes(Array(try take(try length(8)))))) // BYTEARRAY8
            case 0x97: throw ArtifactError(.unsupported, "out-of-band pickle buffers are not supported", path: path) // NEXT_BUFFER
            case 0x98: break // READONLY_BUFFER: no-op on in-band data
            case 0x29: stack.append(.tuple([])) // EMPTY_TUPLE
            case 0x85: stack.append(.tuple([try pop()])) // TUPLE1
            case 0x86: // TUPLE2
                let b = try pop(), a = try pop()
                stack.append(.tuple([a, b]))
            case 0x87: // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(.tuple([a, b, c]))
            case 0x74: stack.append(.tuple(try popMark())) // TUPLE
            case 0x5D: stack.append(.list(Ref(.listItems([])))) // EMPTY_LIST
            case 0x6C: stack.append(.list(Ref(.listItems(try popMark())))) // LIST
            case 0x61: // APPEND
                let item = try pop()
                try append([item], to: try top())
            case 0x65: // APPENDS
                let items = try popMark()
                try append(items, to: try top())
            case 0x7D: stack.append(.dict(Ref(.dictItems([])))) // EMPTY_DICT
            case 0x64: // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw malformed("odd DICT") }
                stack.append(.dict(Ref(.dictItems(stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }))))
            case 0x73: // SETITEM
                let value = try pop(), key = try pop()
                try setItems([(key, value)], on: try top())
            case 0x75: // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0 else { throw malformed("odd SETITEMS") }
                try setItems(stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }, on: try top())
            case 0x8F: stack.append(.set(Ref(.listItems([])))) // EMPTY_SET
            case 0x90: // ADDITEMS
                let items = try popMark()
                guard case .set(let ref) = try top(), case .listItems(let existing) = ref.node else { throw malformed("ADDITEMS needs a set") }
                ref.node = .listItems(existing + items)
            case 0x91: stack.append(.set(Ref(.listItems(try popMark())))) // FROZENSET
            case 0x94: memo[memo.count] = try top() // MEMOIZE
            case 0x71: memo[Int(try byte())] = try top() // BINPUT
            case 0x72: memo[Int(try uint(4))] = try top() // LONG_BINPUT
            case 0x70: // PUT
                guard let index = Int(try line()) else { throw malformed("bad PUT") }
                memo[index] = try top()
            case 0x68: stack.append(try memoized(Int(try byte()))) // BINGET
            case 0x6A: stack.append(try memoized(Int(try uint(4)))) // LONG_BINGET
            case 0x67: // GET
                guard let index = Int(try line()) else { throw malformed("bad GET") }
                stack.append(try memoized(index))
            case 0x63: // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                stack.append(.global(try allow(module: module, name: name)))
            case 0x93: // STACK_GLOBAL
                let nameNode = try pop(), moduleNode = try pop()
                guard case .value(.string(let name)) = nameNode, case .value(.string(let module)) = moduleNode else {
                    throw malformed("STACK_GLOBAL needs two strings")
                }
                stack.append(.global(try allow(module: module, name: name)))
            case 0x52: // REDUCE
                let arguments = try pop(), callable = try pop()
                stack.append(try reduce(callable, arguments))
            case 0x81: // NEWOBJ
                let arguments = try pop(), cls = try pop()
                stack.append(try newObject(cls, arguments))
            case 0x92: // NEWOBJ_EX
                _ = try pop() // kwargs
                let arguments = try pop(), cls = try pop()
                stack.append(try newObject(cls, arguments))
            case 0x62: // BUILD
                let state = try pop()
                let target = try pop()
                stack.append(try build(target, state))
            default:
                throw malformed(String(format: "unsupported opcode 0x%02X", opcode))
            }
            guard stack.count <= 1_000_000, marks.count <= 100_000 else { throw malformed("stack too deep") }
        }
    }

    private mutating func length(_ width: Int) throws -> Int {
        let n = try uint(width)
        guard n <= UInt64(bytes.count - offset) else { throw malformed("length \(n) runs past the end of the data") }
        return Int(n)
    }

    private mutating func text(_ n: Int) throws -> String {
        String(decoding: try take(n), as: UTF8.self)
    }

    /// LONG1/LONG4: little-endian two's complement; only values that fit in Int are data we use.
    private mutating func long(_ n: Int) throws -> PickleValue {
        guard n >= 0 else { throw malformed("negative LONG length") }
        let raw = try take(n)
        if n == 0 { return .int(0) }
        guard n <= 8 else { throw ArtifactError(.unsupported, "integer wider than 64 bits", path: path) }
        var v: UInt64 = 0
        for (i, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        let shift = UInt64(64 - 8 * n)
        return .int(Int(Int64(bitPattern: v << shift) >> shift))
    }

    private func memoized(_ index: Int) throws -> Node {
        guard let node = memo[index] else { throw malformed("memo \(index) is empty") }
        return node
    }

    private func allow(module: String, name: String) throws -> String {
        let full = "\(Self.renamedModules[module] ?? module).\(name)"
        guard Self.allowedClasses.contains(full) || Self.allowedFunctions.contains(full) else {
            throw ArtifactError(
                .forbiddenClass,
                "the pickle names '\(MLflowStore.printable(full))', which is not on the whitelist of classes this service decodes; nothing was executed",
                path: path)
        }
        return full
    }

    private func append(_ items: [Node], to target: Node) throws {
        guard case .list(let ref) = target, case .listItems(let existing) = ref.node else { throw malformed("APPEND needs a list") }
        ref.node = .listItems(existing + items)
    }

    private func setItems(_ pairs: [(Node, Node)], on target: Node) throws {
        guard case .dict(let ref) = target, case .dictItems(let existing) = ref.node else { throw malformed("SETITEM needs a dict") }
        ref.node = .dictItems(existing + pairs)
    }

    private func tupleItems(_ node: Node) throws -> [Node] {
        guard case .tuple(let items) = node else { throw malformed("arguments must be a tuple") }
        return items
    }

    /// REDUCE on a whitelisted callable: record data, run nothing.
    private mutating func reduce(_ callable: Node, _ arguments: Node) throws -> Node {
        guard case .global(let name) = callable else { throw malformed("REDUCE needs a global") }
        let args = try tupleItems(arguments)
        switch name {
        case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
            // (numpy.ndarray, (0,), b'b'): an empty array that BUILD fills.
            return .object(Ref(.objectParts(className: "numpy.ndarray", arguments: [], state: nil)))
        case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
            guard args.count == 2 else { throw malformed("scalar needs (dtype, bytes)") }
            var seen = Set<ObjectIdentifier>()
            guard case .dtype(let dtype) = try freeze(args[0], depth: 0, seen: &seen),
                case .value(.bytes(let raw)) = args[1],
                let array = NDArray.decode(dtype: dtype, shape: [1], bytes: raw[...]), let number = array.numbers.first
            else { throw malformed("unreadable numpy scalar") }
            return .value(dtype.kind == "f" ? .float(number) : dtype.kind == "b" ? .bool(number != 0) : .int(Int(number)))
        case "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer":
            // (buffer, dtype, shape, order)
            guard args.count == 4, case .value(.bytes(let raw)) = args[0] else { throw malformed("_frombuffer needs (bytes, dtype, shape, order)") }
            var seen = Set<ObjectIdentifier>()
            guard case .dtype(let dtype) = try freeze(args[1], depth: 0, seen: &seen),
                case .tuple(let shapeItems) = try freeze(args[2], depth: 0, seen: &seen)
            else { throw malformed("unreadable _frombuffer arguments") }
            let shape = shapeItems.compactMap(\.intValue)
            if case .value(.string(let order)) = args[3], order == "F", shape.count > 1 {
                throw ArtifactError(.unsupported, "Fortran-ordered arrays are not supported", path: path)
            }
            guard shape.count == shapeItems.count, let array = NDArray.decode(dtype: dtype, shape: shape, bytes: raw[...]) else {
                throw malformed("array data does not match its shape")
            }
            return .value(.ndarray(array))
        case "copyreg._reconstructor", "copy_reg._reconstructor":
            guard args.count >= 1, case .global(let cls) = args[0], Self.allowedClasses.contains(cls) else {
                throw malformed("_reconstructor needs a whitelisted class")
            }
            return .object(Ref(.objectParts(className: cls, arguments: [], state: nil)))
        case "_codecs.encode":
            guard args.count == 2, case .value(.string(let text)) = args[0], case .value(.string(let encoding)) = args[1],
                encoding == "latin1" || encoding == "latin-1"
            else { throw malformed("_codecs.encode is only decoded for (str, 'latin1')") }
            var out: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard scalar.value <= 0xFF else { throw malformed("latin1 text out of range") }
                out.append(UInt8(scalar.value))
            }
            return .value(.bytes(out))
        case "numpy.dtype":
            return try newObject(callable, arguments)
        default:
            if Self.allowedClasses.contains(name) { return try newObject(callable, arguments) }
            throw ArtifactError(.forbiddenClass, "calling '\(name)' is not allowed", path: path)
        }
    }

    private func newObject(_ cls: Node, _ arguments: Node) throws -> Node {
        guard case .global(let name) = cls, Self.allowedClasses.contains(name) else {
            throw malformed("NEWOBJ needs a whitelisted class")
        }
        return .object(Ref(.objectParts(className: name, arguments: try tupleItems(arguments), state: nil)))
    }

    private mutating func build(_ target: Node, _ state: Node) throws -> Node {
        guard case .object(let ref) = target, case .objectParts(let cls, let args, _) = ref.node else {
            throw malformed("BUILD needs an object")
        }
        ref.node = .objectParts(className: cls, arguments: args, state: state)
        if cls == "joblib.numpy_pickle.NumpyArrayWrapper" {
            guard let reader = arrayReader else {
                throw ArtifactError(.malformed, "a joblib array wrapper outside a joblib file", path: path)
            }
            return try reader(&self, target)
        }
        return target
    }
}
