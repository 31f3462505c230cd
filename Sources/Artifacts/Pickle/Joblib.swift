import Foundation

/// Reads files written by `joblib.dump` (joblib >= 0.10) and by plain `pickle.dump`, safely.
///
/// The format, as joblib's `numpy_pickle.py` writes it:
/// - The file is one pickle, optionally compressed as a whole. The compressor is recognised by
///   its magic bytes, as joblib does: `0x78` zlib (`compress=3`), `1f 8b` gzip; bz2, lzma, xz,
///   lz4 and the pre-0.10 `ZF` format are refused by name.
/// - Each numpy array is pickled as a `NumpyArrayWrapper` (subclass, shape, order, dtype, and
///   from joblib 1.2 `numpy_array_alignment_bytes`). When the unpickler BUILDs a wrapper, the
///   array's bytes follow directly in the stream: for numeric dtypes, one byte holding a padding
///   length (1 to 16 — never 0: joblib pads to the *next* 16-byte boundary after that byte), that
///   many padding bytes, then the raw data in the wrapper's order (only when the wrapper has an
///   alignment; older files have neither); for object dtypes (`feature_names_in_`) a complete,
///   separate pickle read by a plain unpickler. With protocol >= 4, joblib ends the current
///   frame before writing the data, so frames never span it.
/// - A plain pickle needs none of this; joblib reads it unchanged, and so does this.
///
/// Everything is decoded by `PickleDecoder`'s whitelist: nothing in the file is executed.
public enum Joblib {
    /// Largest file and largest inflated pickle accepted: a scaler is a few kilobytes; this
    /// bounds memory against hostile or mistaken files (decompression bombs included).
    public static let maxBytes = 64 * 1024 * 1024

    /// Decodes the joblib or pickle file at `url`.
    /// - Throws: `ArtifactError`: `.notFound` when the file cannot be read, `.forbiddenClass`
    ///   for a global outside the whitelist, `.unsupported` for a compressor, dtype or protocol
    ///   this reader does not handle, `.malformed` for anything that is not a valid pickle.
    public static func load(contentsOf url: URL) throws -> PickleValue {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw ArtifactError(.notFound, "cannot read the pickle file: \(error.localizedDescription)", path: url.path)
        }
        guard data.count <= maxBytes else {
            throw ArtifactError(.unsupported, "the file is larger than \(maxBytes) bytes", path: url.path)
        }
        return try load(bytes: [UInt8](data), path: url.path)
    }

    /// Decodes joblib or pickle bytes (compressed or not); `path` only labels errors.
    public static func load(bytes: [UInt8], path: String? = nil) throws -> PickleValue {
        try load(bytes: bytes, path: path, maxBytes: maxBytes)
    }

    static func load(bytes: [UInt8], path: String?, maxBytes: Int) throws -> PickleValue {
        guard bytes.count <= maxBytes else {
            throw ArtifactError(.unsupported, "the file is larger than \(maxBytes) bytes", path: path)
        }
        let pickle: [UInt8]
        switch try compression(of: bytes, path: path) {
        case nil: pickle = bytes
        case let format?: pickle = try Inflate.inflate(bytes, format: format, limit: maxBytes, path: path)
        }
        var decoder = PickleDecoder(bytes: pickle, path: path)
        return try decoder.decode()
    }

    /// joblib's `_detect_compressor`, in its order: nil for an uncompressed pickle.
    static func compression(of bytes: [UInt8], path: String?) throws -> Inflate.Format? {
        guard !bytes.isEmpty else { throw ArtifactError(.malformed, "the file is empty", path: path) }
        let refused: [(prefix: [UInt8], name: String)] = [
            (Array("ZF".utf8), "the joblib < 0.10 zfile format"),
            (Array("BZ".utf8), "bz2"),
            ([0x5D, 0x00], "lzma"),
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A], "xz"),
            ([0x04, 0x22, 0x4D, 0x18], "lz4"),
        ]
        if bytes.starts(with: refused[0].prefix) {
            throw ArtifactError(.unsupported, "files written in \(refused[0].name) are not supported; re-save with joblib >= 0.10", path: path)
        }
        if bytes.starts(with: [0x78]) { return .zlib }
        if bytes.starts(with: [0x1F, 0x8B]) { return .gzip }
        for (prefix, name) in refused.dropFirst() where bytes.starts(with: prefix) {
            throw ArtifactError(
                .unsupported, "joblib files compressed with \(name) are not supported; save with compress=3 (zlib), ('gzip', n) or none",
                path: path)
        }
        return nil
    }
}

extension PickleDecoder {
    /// BUILD of a `NumpyArrayWrapper` under joblib.load: reads the array that follows it.
    mutating func readWrappedArray(state: Item) throws -> NDArray {
        guard let subclass = member(state, "subclass"), case .global(_, .ndarrayClass) = subclass else {
            throw malformed("a joblib array wrapper that is not a plain numpy.ndarray")
        }
        guard let shapeItem = member(state, "shape"), let dtypeItem = member(state, "dtype") else {
            throw malformed("a joblib array wrapper without shape or dtype")
        }
        let shape = try shape(shapeItem)
        let dtype = try dtype(of: dtypeItem)
        if let order = member(state, "order"), case .value(.string("F")) = order, shape.count > 1 {
            throw unsupported("Fortran-ordered numpy arrays are not supported")
        }

        if dtype.kind == .object {
            // A separate, complete pickle, read by a plain unpickler with the same whitelist.
            var nested = PickleDecoder(bytes: bytes, offset: offset, path: path, readsJoblibArrays: false, limits: limits, work: work)
            let value = try nested.decode()
            offset = nested.offset
            work = nested.work
            guard case .ndarray(let array) = value, array.dtype.kind == .object, array.shape == shape else {
                throw malformed("the object array after a joblib wrapper does not match it")
            }
            return array
        }

        // joblib <= 1.1 wrote no alignment attribute and no padding; None means no padding too.
        if let alignment = member(state, "numpy_array_alignment_bytes"), !isNone(alignment) {
            let padding = Int(try readByte())
            _ = try read(padding)
        }
        let size = NDArray.elementCount(shape).map { $0.multipliedReportingOverflow(by: dtype.itemSize) }
        guard let size, !size.overflow else { throw malformed("array shape \(shape) is too large") }
        return try NDArray.decoding(try read(size.partialValue), dtype: dtype, shape: shape, decoder: self)
    }

    private func isNone(_ item: Item) -> Bool {
        if case .value(.none) = item { return true }
        return false
    }
}
