import CZlib
import Foundation

/// Reads files written by `joblib.dump` (and plain `pickle.dump`), safely.
///
/// joblib pickles numpy arrays as `NumpyArrayWrapper` objects and writes each array's raw bytes
/// straight into the stream right after the wrapper's BUILD opcode (after a one-byte padding
/// length and that many padding bytes when the wrapper records `numpy_array_alignment_bytes`);
/// object arrays (`feature_names_in_`) follow as a nested, complete pickle instead. Compressed
/// files (`compress=3` is zlib, `('gzip', n)` is gzip) are inflated first; other compressors
/// are refused by name.
public enum Joblib {
    /// Largest inflated size accepted: a scaler is kilobytes; this stops decompression bombs.
    public static let maxInflatedBytes = 256 * 1024 * 1024

    public static func load(contentsOf url: URL) throws -> PickleValue {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ArtifactError(.notFound, "cannot read pickle file", path: url.path)
        }
        return try load(bytes: [UInt8](data), path: url.path)
    }

    public static func load(bytes: [UInt8], path: String? = nil) throws -> PickleValue {
        let raw = try decompressed(bytes, path: path)
        var decoder = PickleDecoder(bytes: raw, path: path)
        decoder.arrayReader = readWrappedArray
        let value = try decoder.decode()
        return value
    }

    /// Inflates zlib/gzip input; returns other input unchanged; refuses other compressors.
    static func decompressed(_ bytes: [UInt8], path: String?) throws -> [UInt8] {
        guard let first = bytes.first else { throw ArtifactError(.malformed, "the file is empty", path: path) }
        if first == 0x80 { return bytes }  // PROTO: an uncompressed pickle
        if first == 0x78 || (bytes.count > 1 && first == 0x1F && bytes[1] == 0x8B) { return try inflate(bytes, path: path) }
        let compressor: String
        if bytes.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A]) { compressor = "xz/lzma" }
        else if bytes.starts(with: [0x42, 0x5A, 0x68]) { compressor = "bz2" }
        else if bytes.starts(with: [0x04, 0x22, 0x4D, 0x18]) { compressor = "lz4" }
        else if bytes.starts(with: Array("ZF".utf8)) { compressor = "joblib < 0.10 zfile" }
        else { throw ArtifactError(.malformed, "not a pickle or joblib file (first byte 0x\(String(first, radix: 16)))", path: path) }
        throw ArtifactError(.unsupported, "joblib files compressed with \(compressor) are not supported; use compress=3 (zlib) or gzip", path: path)
    }

    private static func inflate(_ input: [UInt8], path: String?) throws -> [UInt8] {
        var stream = z_stream()
        // 15 + 32: accept a zlib or a gzip header.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ArtifactError(.malformed, "zlib could not start", path: path)
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = input
        return try input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                output += chunk[0..<produced]
                guard output.count <= maxInflatedBytes else {
                    throw ArtifactError(.unsupported, "the file inflates to more than \(maxInflatedBytes) bytes", path: path)
                }
                if status == Z_STREAM_END { return output }
                guard status == Z_OK else { throw ArtifactError(.malformed, "the compressed data is corrupt (zlib \(status))", path: path) }
                if stream.avail_in == 0 && produced == 0 { throw ArtifactError(.malformed, "the compressed data is truncated", path: path) }
            }
        }
    }

    /// BUILD of a `NumpyArrayWrapper`: read the array that follows it in the stream.
    static func readWrappedArray(_ decoder: inout PickleDecoder, _ wrapper: PickleDecoder.Node) throws -> PickleDecoder.Node {
        var seen = Set<ObjectIdentifier>()
        let frozen = try decoder.freeze(wrapper, depth: 0, seen: &seen)
        guard case .object(_, _, let state?) = frozen, case .dtype(let dtype)? = state["dtype"],
            let shapeItems = state["shape"]?.items
        else { throw decoder.malformed("unreadable joblib array wrapper") }
        let shape = shapeItems.compactMap(\.intValue)
        guard shape.count == shapeItems.count, shape.allSatisfy({ $0 >= 0 }) else { throw decoder.malformed("bad array shape") }
        if state["order"]?.stringValue == "F", shape.count > 1 {
            throw ArtifactError(.unsupported, "Fortran-ordered arrays are not supported", path: decoder.path)
        }
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        if dtype.kind == "O" {
            var nested = PickleDecoder(bytes: decoder.bytes, offset: decoder.offset, path: decoder.path)
            let value = try nested.decode()
            decoder.offset = nested.offset
            guard case .ndarray(let array) = value, array.count == count else { throw decoder.malformed("object array does not match its wrapper") }
            return .value(.ndarray(array))
        }
        if let alignment = state["numpy_array_alignment_bytes"], !alignment.isNone {
            let padding = Int(try decoder.byte())
            _ = try decoder.take(padding)
        }
        guard count != Int.max else { throw decoder.malformed("array too large") }
        let (size, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
        guard !overflow else { throw decoder.malformed("array too large") }
        let raw = try decoder.take(size)
        guard let array = NDArray.decode(dtype: dtype, shape: shape, bytes: raw) else { throw decoder.malformed("array data does not match its shape") }
        return .value(.ndarray(array))
    }
}
