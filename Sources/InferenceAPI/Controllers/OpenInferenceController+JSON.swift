/// An inference request's JSON read with `JSONLexer`, numbers written straight into one flat
/// array. By hand because `JSONDecoder` built a tree of an enum per number first: 1,000 rows of 30
/// features took about 20 ms a request, slower than MLServer's Python (`make bench`'s OIP rows).
/// Same contract as the `Decodable` reading it replaced: unknown members are ignored, `null`
/// stands for an absent optional member, a value of the wrong type is a syntax error (one message
/// for all), and data that parses but is not `[n, features]` of finite numbers is a problem the
/// caller names.
extension OpenInferenceController.InferRequest {
    typealias Parameters = OpenInferenceController.Parameters

    init(json: UnsafeRawBufferPointer) throws(JSONSyntaxError) {
        guard let base = json.baseAddress?.assumingMemoryBound(to: UInt8.self) else { throw JSONSyntaxError("empty body") }
        var lexer = JSONLexer(bytes: base, end: json.count)
        var id: String?, inputs: [Input]?, outputs: [Output]?, parameters: Parameters?
        lexer.skipSpace()
        try lexer.members { (lexer, start, length, _) throws(JSONSyntaxError) in
            switch Self.key(lexer, start, length) {
            case "id": id = try Self.optional(&lexer) { (l) throws(JSONSyntaxError) in try Self.string(&l) }
            case "inputs": inputs = try Self.list(&lexer) { (l) throws(JSONSyntaxError) in try Input(&l) }
            case "outputs": outputs = try Self.optional(&lexer) { (l) throws(JSONSyntaxError) in try Self.list(&l) { (l) throws(JSONSyntaxError) in try Output(&l) } }
            case "parameters": parameters = try Self.optional(&lexer) { (l) throws(JSONSyntaxError) in try Parameters(&l) }
            default: _ = try lexer.skipValue()
            }
            return true
        }
        lexer.skipSpace()
        guard lexer.peek() == nil else { throw JSONSyntaxError("text after the body's object at byte \(lexer.i)") }
        guard let inputs else { throw JSONSyntaxError("no inputs") }
        self.init(id: id, inputs: inputs, outputs: outputs, parameters: parameters)
    }

    fileprivate static func key(_ lexer: JSONLexer, _ start: Int, _ length: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: lexer.bytes + start, count: length), as: UTF8.self)
    }

    fileprivate static func optional<T>(_ lexer: inout JSONLexer, _ read: (inout JSONLexer) throws(JSONSyntaxError) -> T) throws(JSONSyntaxError) -> T? {
        if lexer.peek() == UInt8(ascii: "n") {
            try lexer.literal("null")
            return nil
        }
        return try read(&lexer)
    }

    fileprivate static func list<T>(_ lexer: inout JSONLexer, _ read: (inout JSONLexer) throws(JSONSyntaxError) -> T) throws(JSONSyntaxError) -> [T] {
        guard lexer.peek() == UInt8(ascii: "[") else { throw JSONSyntaxError("expected a list at byte \(lexer.i)") }
        var items: [T] = []
        try lexer.elements { (l, _) throws(JSONSyntaxError) in
            items.append(try read(&l))
            return true
        }
        return items
    }

    fileprivate static func string(_ lexer: inout JSONLexer) throws(JSONSyntaxError) -> String {
        guard lexer.peek() == UInt8(ascii: "\"") else { throw JSONSyntaxError("expected a string at byte \(lexer.i)") }
        let (start, length, escaped) = try lexer.scanString()
        return String(decoding: escaped ? lexer.unescape(start, length) : Array(UnsafeBufferPointer(start: lexer.bytes + start, count: length)), as: UTF8.self)
    }

    fileprivate static func number(_ lexer: inout JSONLexer) throws(JSONSyntaxError) -> Double {
        guard let c = lexer.peek(), c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else {
            throw JSONSyntaxError("expected a number at byte \(lexer.i)")
        }
        return try lexer.parseNumber()
    }

    fileprivate static func int(_ lexer: inout JSONLexer) throws(JSONSyntaxError) -> Int {
        let value = try number(&lexer)
        guard value == value.rounded(), abs(value) < 9.0e15 else { throw JSONSyntaxError("expected a whole number at byte \(lexer.i)") }
        return Int(value)
    }

    fileprivate static func bool(_ lexer: inout JSONLexer) throws(JSONSyntaxError) -> Bool {
        if lexer.peek() == UInt8(ascii: "t") {
            try lexer.literal("true")
            return true
        }
        try lexer.literal("false")
        return false
    }
}

extension OpenInferenceController.Parameters {
    fileprivate init(_ lexer: inout JSONLexer) throws(JSONSyntaxError) {
        typealias R = OpenInferenceController.InferRequest
        var parameters = Self()
        try lexer.members { (l, start, length, _) throws(JSONSyntaxError) in
            switch R.key(l, start, length) {
            case "binary_data_size": parameters.binaryDataSize = try R.optional(&l) { (l) throws(JSONSyntaxError) in try R.int(&l) }
            case "binary_data": parameters.binaryData = try R.optional(&l) { (l) throws(JSONSyntaxError) in try R.bool(&l) }
            case "binary_data_output": parameters.binaryDataOutput = try R.optional(&l) { (l) throws(JSONSyntaxError) in try R.bool(&l) }
            default: _ = try l.skipValue()
            }
            return true
        }
        self = parameters
    }
}

extension OpenInferenceController.InferRequest.Input {
    fileprivate init(_ lexer: inout JSONLexer) throws(JSONSyntaxError) {
        typealias R = OpenInferenceController.InferRequest
        var name: String?, shape: [Int]?, datatype: String?, data: OpenInferenceController.TensorData?
        var parameters: OpenInferenceController.Parameters?
        try lexer.members { (l, start, length, _) throws(JSONSyntaxError) in
            switch R.key(l, start, length) {
            case "name": name = try R.optional(&l) { (l) throws(JSONSyntaxError) in try R.string(&l) }
            case "shape": shape = try R.list(&l) { (l) throws(JSONSyntaxError) in try R.int(&l) }
            case "datatype": datatype = try R.string(&l)
            case "data": data = try R.optional(&l) { (l) throws(JSONSyntaxError) in try OpenInferenceController.TensorData(&l) }
            case "parameters": parameters = try R.optional(&l) { (l) throws(JSONSyntaxError) in try OpenInferenceController.Parameters(&l) }
            default: _ = try l.skipValue()
            }
            return true
        }
        guard let shape, let datatype else { throw JSONSyntaxError("an input needs shape and datatype") }
        self.init(name: name, shape: shape, datatype: datatype, data: data, parameters: parameters)
    }
}

extension OpenInferenceController.InferRequest.Output {
    fileprivate init(_ lexer: inout JSONLexer) throws(JSONSyntaxError) {
        typealias R = OpenInferenceController.InferRequest
        var name: String?, parameters: OpenInferenceController.Parameters?
        try lexer.members { (l, start, length, _) throws(JSONSyntaxError) in
            switch R.key(l, start, length) {
            case "name": name = try R.string(&l)
            case "parameters": parameters = try R.optional(&l) { (l) throws(JSONSyntaxError) in try OpenInferenceController.Parameters(&l) }
            default: _ = try l.skipValue()
            }
            return true
        }
        guard let name else { throw JSONSyntaxError("an output needs a name") }
        self.init(name: name, parameters: parameters)
    }
}

extension OpenInferenceController.TensorData {
    /// A number, a list of numbers, or a list of lists of them (`[n, features]` row-major, flat
    /// or nested once); deeper lists and non-finite numbers are a problem, not a syntax error.
    fileprivate init(_ lexer: inout JSONLexer) throws(JSONSyntaxError) {
        var data = Self()
        data.values.reserveCapacity(lexer.end / 8)
        try Self.read(&lexer, depth: 0, into: &data)
        self = data
    }

    private static func read(_ lexer: inout JSONLexer, depth: Int, into data: inout Self) throws(JSONSyntaxError) {
        guard lexer.peek() == UInt8(ascii: "[") else {
            let value = try OpenInferenceController.InferRequest.number(&lexer)
            if !value.isFinite, data.problem == nil { data.problem = "input data must be finite numbers" }
            data.values.append(value)
            return
        }
        guard depth < 2 else {
            if data.problem == nil { data.problem = "input data is nested too deeply for shape [n, features]" }
            _ = try lexer.skipValue(depth: depth)
            return
        }
        try lexer.elements { (l, _) throws(JSONSyntaxError) in
            try read(&l, depth: depth + 1, into: &data)
            return true
        }
    }
}
