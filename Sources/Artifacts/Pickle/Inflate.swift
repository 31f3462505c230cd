import CZlib

/// zlib and gzip decompression through the system zlib, bounded against decompression bombs.
///
/// The only file that touches zlib pointers. Ownership: the `z_stream` is heap-allocated here
/// (zlib keeps a pointer back to it, so it must not move), initialised, and ended and freed on
/// every path out of `inflate`; `next_in`/`next_out` point into buffers pinned for the whole
/// loop and are never used after it.
enum Inflate {
    enum Format {
        /// `joblib.dump(compress=3)`: a zlib stream (RFC 1950).
        case zlib
        /// `joblib.dump(compress=('gzip', n))`: a gzip member (RFC 1952).
        case gzip

        var windowBits: Int32 {
            switch self {
            case .zlib: 15
            case .gzip: 15 + 16
            }
        }
    }

    /// The decompressed bytes of the first stream in `input` (trailing bytes are ignored, as
    /// joblib does). Throws `.malformed` for corrupt or truncated data and `.unsupported` past
    /// `limit` bytes of output.
    static func inflate(_ input: [UInt8], format: Format, limit: Int, path: String?) throws -> [UInt8] {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer {
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        guard inflateInit2_(stream, format.windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ArtifactError(.malformed, "zlib could not start: \(String(cString: zError(Z_MEM_ERROR)))", path: path)
        }
        defer { inflateEnd(stream) }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        return try input.withUnsafeBufferPointer { source in
            try chunk.withUnsafeMutableBufferPointer { buffer in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.pointee.avail_in = uInt(source.count)
                while true {
                    stream.pointee.next_out = buffer.baseAddress
                    stream.pointee.avail_out = uInt(buffer.count)
                    let status = CZlib.inflate(stream, Z_NO_FLUSH)
                    let produced = buffer.count - Int(stream.pointee.avail_out)
                    guard produced <= limit - output.count else {
                        throw ArtifactError(.unsupported, "the file inflates to more than \(limit) bytes", path: path)
                    }
                    output.append(contentsOf: buffer[0..<produced])
                    switch status {
                    case Z_STREAM_END:
                        return output
                    case Z_OK:
                        continue
                    case Z_BUF_ERROR where stream.pointee.avail_in == 0:
                        throw ArtifactError(.malformed, "the compressed data is truncated", path: path)
                    default:
                        let reason = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                        throw ArtifactError(.malformed, "the compressed data is corrupt (\(reason))", path: path)
                    }
                }
            }
        }
    }
}
