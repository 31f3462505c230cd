import CompressNIO
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Storage
import Synchronization

/// `Idempotency-Key` on the routes that write (`POST /anomaly/detect` with persist,
/// `/anomaly/train`, `/feedback`): the first answer is stored with the rows, in their
/// transaction, so a retry after a lost answer gets that answer back and writes nothing.
///
/// - Same key, same route and body, within the retention: the stored status and body, with
///   `Idempotent-Replayed: true`.
/// - Same key, another request: 422 `idempotency_key_reused`.
/// - Two requests with one key at once: one commits; the other's transaction finds the key taken,
///   rolls back, and answers as a retry would.
/// Keys are per tenant; a receipt is kept `retention` (at least 24 h), then the key is free again.
///
/// Receipts of 1 KiB or more are stored gzip-compressed (a 10,000-sample detect answer, 1.7 MB,
/// is kept in about a tenth of that). One whose compressed size passes `maxStoredBytes` (1 MiB;
/// an answer of roughly 10 MB) is not kept byte for byte: its retry gets the same status and a
/// short body saying so (the writes were made once either way).
final class Idempotency: Sendable {
    static let header = HTTPField.Name("Idempotency-Key")!
    static let replayed = HTTPField.Name("Idempotent-Replayed")!
    static let maxKeyLength = 255

    let store: any IdempotencyStore
    let retention: TimeInterval
    private let telemetry: Telemetry?
    /// Expired receipts are deleted at most this often, by the request that notices.
    private static let purgeInterval: TimeInterval = 3600
    private let nextPurge = Mutex(Date.distantPast)

    init(store: any IdempotencyStore, retentionHours: Int, telemetry: Telemetry? = nil) {
        self.store = store
        self.retention = TimeInterval(retentionHours) * 3600
        self.telemetry = telemetry
    }

    /// One write request's key: whose, which request, and until when its answer is kept.
    struct Key: Sendable {
        let tenant: String
        let value: String
        let fingerprint: String
        let expiresAt: Date

        /// What the store keeps: the answer about to be given, compressed where the one offload
        /// rule puts compression of its size.
        func receipt(status: HTTPResponse.Status, body: ByteBuffer) async throws -> IdempotencyReceipt {
            try await Offload.run(.compress(bytes: body.readableBytes)) { receiptNow(status: status, body: body) }
        }

        /// The same, here and now: for answers known to be small (a training's, feedback's).
        func receiptNow(status: HTTPResponse.Status, body: ByteBuffer) -> IdempotencyReceipt {
            IdempotencyReceipt(
                tenantId: tenant, key: value, fingerprint: fingerprint, status: status.code, body: Idempotency.stored(body), expiresAt: expiresAt)
        }
    }

    /// The request's key (nil without the header), bound to its route and body.
    /// - Throws: 400 `invalid_idempotency_key` for an empty, overlong or non-printable key, or two of them.
    func key(of request: Request, body: ByteBuffer, tenant: String) throws -> Key? {
        let values = request.headers[values: Self.header]
        guard let value = values.first else { return nil }
        guard values.count == 1, (1...Self.maxKeyLength).contains(value.utf8.count), value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError(
                .badRequest, code: "invalid_idempotency_key",
                message: "Idempotency-Key must be one value of 1 to \(Self.maxKeyLength) printable ASCII characters without spaces")
        }
        var digest = SHA256()
        digest.update(data: Array("\(request.method.rawValue) \(request.uri.path)\n".utf8))
        body.withUnsafeReadableBytes { digest.update(bufferPointer: $0) }
        let fingerprint = digest.finalize().map { String(format: "%02x", $0) }.joined()
        return Key(tenant: tenant, value: value, fingerprint: fingerprint, expiresAt: Date().addingTimeInterval(retention))
    }

    /// Runs `write` unless `key` already has an answer; `write` must claim the key with the rows
    /// it stores (pass `key.receipt(...)` to the store).
    func once(_ key: Key?, _ write: () async throws -> Response) async throws -> Response {
        guard let key else { return try await write() }
        purgeIfDue()
        if let earlier = try await replay(key) { return earlier }
        do {
            return try await write()
        } catch is IdempotencyKeyTaken {
            // A request with the same key committed between the look-up and this write.
            if let earlier = try await replay(key) { return earlier }
            throw ServiceError(.unavailable, code: "idempotency_conflict", "a request with this Idempotency-Key is being answered; retry")
        }
    }

    /// The earlier answer for `key`, or nil; 422 when the key was used for another request.
    private func replay(_ key: Key) async throws -> Response? {
        guard let receipt = try await store.receipt(tenantId: key.tenant, key: key.value, now: Date()) else { return nil }
        guard receipt.fingerprint == key.fingerprint else {
            throw ServiceError(
                .unprocessable, code: "idempotency_key_reused",
                "this Idempotency-Key was used for another request (other route or body); use a new key for a new request")
        }
        telemetry?.idempotentReplay()
        let body = try await Offload.run(.decompress(bytes: receipt.body.count)) { try Self.answer(stored: receipt.body) }
        return Response(
            status: HTTPResponse.Status(code: receipt.status),
            headers: [.contentType: "application/json", Self.replayed: "true"],
            body: .init(byteBuffer: body))
    }

    // MARK: - Stored bytes

    /// Answers this big or bigger are stored compressed.
    static let compressFromBytes = 1024
    /// A compressed answer bigger than this is not kept byte for byte (see the type's notes).
    static let maxStoredBytes = 1 << 20
    /// A stored answer inflates to at most this (more than any answer `maxStoredBytes` keeps).
    static let maxAnswerBytes = 256 << 20
    static let gzipMagic: [UInt8] = [0x1F, 0x8B]

    /// The bytes to store for `body`: as is when small (JSON never starts with gzip's magic
    /// bytes, so receipts stored before compression replay as they were), else gzip.
    static func stored(_ body: ByteBuffer) -> [UInt8] {
        guard body.readableBytes >= compressFromBytes else { return Array(body.readableBytesView) }
        do {
            let compressor = try ZlibCompressor(algorithm: .gzip, configuration: .init(compressionLevel: .fastestCompression))
            var input = body
            var output = ByteBufferAllocator().buffer(capacity: compressor.maxSize(from: input))
            try compressor.deflate(from: &input, to: &output, flush: .finish)
            if output.readableBytes <= maxStoredBytes { return Array(output.readableBytesView) }
        } catch {
            // zlib failing to compress (out of memory): keep the note below rather than fail a
            // write whose rows are about to commit.
        }
        let note = JSONWriter.sortedObject([
            "message":
                "the first answer to this request was \(body.readableBytes) bytes, more than this service keeps for retries (\(maxStoredBytes) bytes compressed); its writes were made once: read them back through the API",
            "replayed_in_full": "false",
        ])
        return Array(note.utf8)
    }

    /// The answer a stored receipt holds.
    static func answer(stored: [UInt8]) throws -> ByteBuffer {
        guard stored.starts(with: gzipMagic) else { return ByteBuffer(bytes: stored) }
        do {
            var input = ByteBuffer(bytes: stored)
            return try input.decompress(with: .gzip(), maxSize: maxAnswerBytes)
        } catch {
            // Not the client's doing: the server's own row (a 500, logged with this).
            throw ReceiptUnreadable(reason: "\(error)")
        }
    }

    struct ReceiptUnreadable: Error, CustomStringConvertible {
        let reason: String
        var description: String { "the stored answer for this Idempotency-Key cannot be inflated: \(reason)" }
    }

    private func purgeIfDue() {
        let now = Date()
        let due = nextPurge.withLock { next in
            guard now >= next else { return false }
            next = now.addingTimeInterval(Self.purgeInterval)
            return true
        }
        guard due else { return }
        let store = self.store
        Task { _ = try? await store.purge(now: now) }
    }
}

extension Response {
    /// A JSON answer whose bytes are already written (the same bytes a replay gives).
    static func json(_ status: HTTPResponse.Status, _ body: ByteBuffer) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }
}
