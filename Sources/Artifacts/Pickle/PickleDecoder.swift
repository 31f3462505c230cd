// Why this decoder is hand-written:
//
// No Swift library reads Python pickles, and the one property that matters here is safety.
// A Python unpickler imports whatever `module.name` a file names and calls it (`__reduce__`),
// so loading an untrusted `scaler.joblib` with Python can run `os.system`. This decoder is a
// pure data parser: it resolves globals only from `PickleWhitelist` (the scikit-learn scalers
// and Pipeline, numpy's array reconstruction, joblib's array wrapper), refuses any other name
// with `ArtifactError(.forbiddenClass)` the moment the file names it, and interprets REDUCE,
// NEWOBJ and BUILD on whitelisted names as recipes for plain data. It never executes anything.
//
// It is also safe on arbitrary bytes: every read is bounds-checked, every length is checked
// against the remaining input before anything is allocated, containers live in an arena and
// refer to each other by index (so hostile nesting cannot overflow the stack on release), and
// the stack, the arena, the output depth and the total work are bounded.

/// Decodes one pickle (protocols 2 to 5) into a `PickleValue`, never running code.
///
/// In joblib mode (the default, like `joblib.load`), BUILD of a `NumpyArrayWrapper` also reads
/// the array data that joblib writes into the stream right after it (see `Joblib`).
struct PickleDecoder {
    /// Bounds that keep hostile input from exhausting memory or time. Real scaler files are a few
    /// hundred nodes; these are orders of magnitude above that.
    struct Limits: Sendable {
        var stack = 1_000_000
        var containers = 1_000_000
        var containerItems = 4_000_000
        var depth = 64
        /// Logical size of the decoded tree, and total freezing work in one file.
        var nodes = 4_000_000
    }

    /// A stack or memo entry: a scalar, a whitelisted global, or a container in the arena.
    enum Item {
        case value(PickleValue)
        case global(String, PickleWhitelist.Role)
        case ref(Int)
    }

    /// Mutable while decoding (APPEND, SETITEM, BUILD change what the memo also refers to).
    enum Container {
        case list([Item])
        case tuple([Item])
        case dict([(key: Item, value: Item)])
        case set([Item])
        case instance(className: String, arguments: [Item], state: Item?)
        /// `numpy.dtype(name)`; BUILD adds the byte order and whether it has fields.
        case dtype(name: String, byteOrder: String?, structured: Bool)
        /// `_reconstruct(ndarray, ...)` before BUILD gives it data.
        case emptyArray
        case array(NDArray)
    }

    let bytes: [UInt8]
    var offset: Int
    let path: String?
    /// Whether BUILD of a `NumpyArrayWrapper` reads array data from the stream (joblib.load) or
    /// just records the wrapper (a plain unpickler, as for joblib's nested object-array pickles).
    let readsJoblibArrays: Bool
    let limits: Limits
    /// Freezing work left for this file (shared with nested pickles).
    var work: Int

    private var stack: [Item] = []
    private var marks: [Int] = []
    private var memo: [Int: Item] = [:]
    /// The arena: every container, addressed by `Item.ref`.
    var heap: [Container] = []
    private var itemCount = 0

    init(bytes: [UInt8], offset: Int = 0, path: String?, readsJoblibArrays: Bool = true, limits: Limits = Limits(), work: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.path = path
        self.readsJoblibArrays = readsJoblibArrays
        self.limits = limits
        self.work = work ?? limits.nodes
    }

    // MARK: - Errors

    func malformed(_ message: String) -> ArtifactError {
        ArtifactError(.malformed, "invalid pickle at byte \(offset): \(message)", path: path)
    }

    func unsupported(_ message: String) -> ArtifactError {
        ArtifactError(.unsupported, message, path: path)
    }

    /// A name from the file, safe to put in a message: no control characters, bounded length.
    static func printable(_ text: String) -> String {
        let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.prefix(120).map {
            $0.properties.generalCategory == .control ? "?" : $0
        }))
        return text.unicodeScalars.count > 120 ? cleaned + "…" : cleaned
    }

    // MARK: - Reading bytes

    mutating func readByte() throws -> UInt8 {
        guard offset < bytes.count else { throw malformed("unexpected end of data") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// The next `count` bytes; refuses lengths beyond the remaining input before allocating.
    mutating func read(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else {
            throw malformed("length \(count) runs past the end of the data (\(bytes.count - offset) bytes left)")
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    private mutating func readUInt(_ width: Int) throws -> UInt64 {
        var value: UInt64 = 0
        for (i, byte) in try read(width).enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        return value
    }

    /// A little-endian length of `width` bytes, no larger than what is left to read.
    private mutating func readLength(_ width: Int) throws -> Int {
        let length = try readUInt(width)
        guard length <= UInt64(bytes.count - offset) else {
            throw malformed("length \(length) runs past the end of the data (\(bytes.count - offset) bytes left)")
        }
        return Int(length)
    }

    /// Text up to the next newline (the text opcodes: GLOBAL, INST, INT, FLOAT, GET, PUT).
    private mutating func readLine() throws -> String {
        guard let end = bytes[offset...].firstIndex(of: 0x0A) else { throw malformed("unterminated line") }
        defer { offset = end + 1 }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }

    // MARK: - Stack, marks, memo, arena

    mutating func push(_ item: Item) throws {
        guard stack.count < limits.stack else { throw malformed("stack deeper than \(limits.stack)") }
        stack.append(item)
    }

    mutating func pop() throws -> Item {
        guard stack.count > (marks.last ?? 0), let item = stack.popLast() else { throw malformed("stack underflow") }
        return item
    }

    func top() throws -> Item {
        guard stack.count > (marks.last ?? 0), let item = stack.last else { throw malformed("empty stack") }
        return item
    }

    private mutating func popMark() throws -> [Item] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw malformed("no MARK to pop to") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    mutating func store(_ container: Container) throws -> Item {
        guard heap.count < limits.containers else { throw malformed("more than \(limits.containers) containers") }
        heap.append(container)
        return .ref(heap.count - 1)
    }

    private mutating func countItems(_ n: Int) throws {
        itemCount += n
        guard itemCount <= limits.containerItems else { throw malformed("more than \(limits.containerItems) container items") }
    }

    private mutating func memoize(_ index: Int) throws {
        guard memo.count < limits.containers || memo[index] != nil else { throw malformed("memo too large") }
        memo[index] = try top()
    }

    private func memoized(_ index: Int) throws -> Item {
        guard let item = memo[index] else { throw malformed("memo slot \(index) is empty") }
        return item
    }

    func container(_ item: Item) -> Container? {
        guard case .ref(let index) = item, heap.indices.contains(index) else { return nil }
        return heap[index]
    }

    // MARK: - Decoding

    private enum Opcode: UInt8 {
        case mark = 0x28, stop = 0x2E, pop = 0x30, popMark = 0x31, dup = 0x32
        case float = 0x46, int = 0x49, binInt = 0x4A, binInt1 = 0x4B, long = 0x4C, binInt2 = 0x4D, none = 0x4E
        case persistentID = 0x50, binaryPersistentID = 0x51, reduce = 0x52, string = 0x53, binString = 0x54
        case shortBinString = 0x55, unicode = 0x56, binUnicode = 0x58, emptyList = 0x5D
        case append = 0x61, build = 0x62, global = 0x63, dict = 0x64, appends = 0x65, get = 0x67, binGet = 0x68
        case inst = 0x69, longBinGet = 0x6A, list = 0x6C, obj = 0x6F, put = 0x70, binPut = 0x71, longBinPut = 0x72
        case setItem = 0x73, tuple = 0x74, setItems = 0x75, emptyTuple = 0x29, emptyDict = 0x7D, binFloat = 0x47
        // protocol 2
        case proto = 0x80, newObj = 0x81, ext1 = 0x82, ext2 = 0x83, ext4 = 0x84, tuple1 = 0x85, tuple2 = 0x86
        case tuple3 = 0x87, newTrue = 0x88, newFalse = 0x89, long1 = 0x8A, long4 = 0x8B
        // protocol 3
        case binBytes = 0x42, shortBinBytes = 0x43
        // protocol 4
        case shortBinUnicode = 0x8C, binUnicode8 = 0x8D, binBytes8 = 0x8E, emptySet = 0x8F, addItems = 0x90
        case frozenSet = 0x91, newObjEx = 0x92, stackGlobal = 0x93, memoize = 0x94, frame = 0x95
        // protocol 5
        case byteArray8 = 0x96, nextBuffer = 0x97, readOnlyBuffer = 0x98
    }

    /// Decodes one pickle from `offset` up to and including its STOP.
    /// - Throws: `ArtifactError` `.forbiddenClass` (a global outside the whitelist),
    ///   `.unsupported` (well-formed but not servable), `.malformed` (anything else).
    mutating func decode() throws -> PickleValue {
        while true {
            let at = offset
            let byte = try readByte()
            guard let opcode = Opcode(rawValue: byte) else {
                offset = at
                throw malformed("unknown opcode 0x\(String(byte, radix: 16, uppercase: true))")
            }
            switch opcode {
            case .proto:
                let version = try readByte()
                guard (2...5).contains(version) else { throw unsupported("pickle protocol \(version) is not supported (2 to 5 are)") }
            case .frame:
                _ = try readLength(8)  // frames only group opcodes; their contents follow inline
            case .stop:
                return try freeze(try pop())

            case .mark:
                guard marks.count < limits.stack else { throw malformed("too many MARKs") }
                marks.append(stack.count)
            case .pop: _ = try pop()
            case .popMark: _ = try popMark()
            case .dup: try push(try top())

            case .none: try push(.value(.none))
            case .newTrue: try push(.value(.bool(true)))
            case .newFalse: try push(.value(.bool(false)))
            case .binInt: try push(.value(.int(Int(Int32(truncatingIfNeeded: try readUInt(4))))))
            case .binInt1: try push(.value(.int(Int(try readByte()))))
            case .binInt2: try push(.value(.int(Int(try readUInt(2)))))
            case .long1: try push(.value(try long(try read(Int(try readByte())))))
            case .long4:
                let length = Int(Int32(truncatingIfNeeded: try readUInt(4)))
                guard length >= 0 else { throw malformed("negative LONG4 length") }
                try push(.value(try long(try read(length))))
            case .binFloat: try push(.value(.float(Double(bitPattern: try readUInt(8).byteSwapped))))  // big-endian
            case .int:
                let text = try readLine()
                switch text {
                case "00": try push(.value(.bool(false)))
                case "01": try push(.value(.bool(true)))
                default:
                    guard let value = Int(text) else { throw malformed("bad INT") }
                    try push(.value(.int(value)))
                }
            case .long:
                let text = try readLine()
                guard let value = Int(text.hasSuffix("L") ? String(text.dropLast()) : text) else { throw malformed("bad LONG") }
                try push(.value(.int(value)))
            case .float:
                guard let value = Double(try readLine()) else { throw malformed("bad FLOAT") }
                try push(.value(.float(value)))

            case .shortBinUnicode: try push(.value(.string(utf8(try read(Int(try readByte()))))))
            case .binUnicode: try push(.value(.string(utf8(try read(try readLength(4))))))
            case .binUnicode8: try push(.value(.string(utf8(try read(try readLength(8))))))
            // Python 2 `str`: bytes, read back as latin-1 text (so numpy data round-trips).
            case .shortBinString: try push(.value(.string(latin1(try read(Int(try readByte()))))))
            case .binString: try push(.value(.string(latin1(try read(try readLength(4))))))
            case .shortBinBytes: try push(.value(.bytes(Array(try read(Int(try readByte()))))))
            case .binBytes: try push(.value(.bytes(Array(try read(try readLength(4))))))
            case .binBytes8, .byteArray8: try push(.value(.bytes(Array(try read(try readLength(8))))))
            case .readOnlyBuffer: _ = try top()  // in-band data is already a value
            case .nextBuffer: throw unsupported("pickles with out-of-band buffers (protocol 5 buffer_callback) are not supported")
            case .string, .unicode: throw unsupported("protocol 0 string opcodes are not supported")
            case .persistentID, .binaryPersistentID: throw unsupported("pickles with persistent ids are not supported")
            case .ext1, .ext2, .ext4: throw unsupported("pickles using the copyreg extension registry are not supported")

            case .emptyTuple: try push(try store(.tuple([])))
            case .tuple1:
                let a = try pop()
                try push(try store(.tuple([a])))
            case .tuple2:
                let b = try pop(), a = try pop()
                try push(try store(.tuple([a, b])))
            case .tuple3:
                let c = try pop(), b = try pop(), a = try pop()
                try push(try store(.tuple([a, b, c])))
            case .tuple: try push(try store(.tuple(try popMark())))

            case .emptyList: try push(try store(.list([])))
            case .list: try push(try store(.list(try popMark())))
            case .append:
                let item = try pop()
                try append([item], to: try top())
            case .appends:
                let items = try popMark()
                try append(items, to: try top())

            case .emptyDict: try push(try store(.dict([])))
            case .dict: try push(try store(.dict(try pairs(try popMark()))))
            case .setItem:
                let value = try pop(), key = try pop()
                try setItems([(key, value)], on: try top())
            case .setItems:
                let items = try popMark()
                try setItems(try pairs(items), on: try top())

            case .emptySet: try push(try store(.set([])))
            case .frozenSet: try push(try store(.set(try popMark())))
            case .addItems:
                let items = try popMark()
                try addItems(items, to: try top())

            case .memoize: try memoize(memo.count)
            case .binPut: try memoize(Int(try readByte()))
            case .longBinPut: try memoize(Int(try readUInt(4)))
            case .put:
                guard let index = Int(try readLine()), index >= 0 else { throw malformed("bad PUT") }
                try memoize(index)
            case .binGet: try push(try memoized(Int(try readByte())))
            case .longBinGet: try push(try memoized(Int(try readUInt(4))))
            case .get:
                guard let index = Int(try readLine()) else { throw malformed("bad GET") }
                try push(try memoized(index))

            case .global:
                let module = try readLine(), name = try readLine()
                try push(try resolve(module: module, name: name))
            case .stackGlobal:
                let name = try pop(), module = try pop()
                guard case .value(.string(let n)) = name, case .value(.string(let m)) = module else {
                    throw malformed("STACK_GLOBAL needs two strings")
                }
                try push(try resolve(module: m, name: n))
            case .inst:
                let module = try readLine(), name = try readLine()
                let cls = try resolve(module: module, name: name)
                try push(try instantiate(cls, arguments: try popMark()))
            case .obj:
                let items = try popMark()
                guard let cls = items.first else { throw malformed("OBJ without a class") }
                try push(try instantiate(cls, arguments: Array(items.dropFirst())))

            case .reduce:
                let arguments = try pop(), callable = try pop()
                try push(try reduce(callable, arguments: try tupleItems(arguments)))
            case .newObj:
                let arguments = try pop(), cls = try pop()
                try push(try instantiate(cls, arguments: try tupleItems(arguments)))
            case .newObjEx:
                let keywords = try pop(), arguments = try pop(), cls = try pop()
                guard case .dict(let pairs)? = container(keywords), pairs.isEmpty else {
                    throw unsupported("NEWOBJ_EX with keyword arguments is not supported")
                }
                try push(try instantiate(cls, arguments: try tupleItems(arguments)))
            case .build:
                let state = try pop()
                try build(state)
            }
        }
    }

    private func utf8(_ raw: ArraySlice<UInt8>) -> String { String(decoding: raw, as: UTF8.self) }

    private func latin1(_ raw: ArraySlice<UInt8>) -> String {
        String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) }))
    }

    /// LONG1/LONG4: little-endian two's complement of any width.
    private func long(_ raw: ArraySlice<UInt8>) throws -> PickleValue {
        guard !raw.isEmpty else { return .int(0) }
        guard raw.count <= 8 else { return .bigInt(Array(raw)) }
        var value: UInt64 = 0
        for (i, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        let shift = UInt64(64 - 8 * raw.count)
        return .int(Int(Int64(bitPattern: value << shift) >> shift))
    }

    private func pairs(_ items: [Item]) throws -> [(key: Item, value: Item)] {
        guard items.count % 2 == 0 else { throw malformed("odd number of items for a dict") }
        return stride(from: 0, to: items.count, by: 2).map { (key: items[$0], value: items[$0 + 1]) }
    }

    // The arena entry is replaced by a placeholder while it grows, so the array is uniquely
    // referenced and grows in place (no copy per APPEND).
    private mutating func append(_ items: [Item], to target: Item) throws {
        guard case .ref(let index) = target, case .list(var list) = heap[index] else { throw malformed("APPEND to something that is not a list") }
        try countItems(items.count)
        heap[index] = .emptyArray
        list.append(contentsOf: items)
        heap[index] = .list(list)
    }

    private mutating func setItems(_ new: [(key: Item, value: Item)], on target: Item) throws {
        guard case .ref(let index) = target, case .dict(var entries) = heap[index] else { throw malformed("SETITEM on something that is not a dict") }
        try countItems(new.count * 2)
        heap[index] = .emptyArray
        entries.append(contentsOf: new)
        heap[index] = .dict(entries)
    }

    private mutating func addItems(_ items: [Item], to target: Item) throws {
        guard case .ref(let index) = target, case .set(var set) = heap[index] else { throw malformed("ADDITEMS to something that is not a set") }
        try countItems(items.count)
        heap[index] = .emptyArray
        set.append(contentsOf: items)
        heap[index] = .set(set)
    }

    func tupleItems(_ item: Item) throws -> [Item] {
        guard case .tuple(let items)? = container(item) else { throw malformed("arguments are not a tuple") }
        return items
    }
}
