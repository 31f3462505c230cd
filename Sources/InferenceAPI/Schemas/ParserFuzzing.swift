import AnomalyDetection
import Foundation
import NIOCore
import Storage

/// The request parsers' contract, checked on arbitrary bytes by `inference-api fuzz-parsers`
/// (`make fuzz`): whatever a client sends to `/predict`, `/anomaly/detect` or the Open Inference
/// `infer` route, the parsers either
/// accept it or refuse it with an error the service answers as a 4xx JSON envelope, and the two
/// detect parsers (the one-pass fast path and the field-by-field slow path) agree on every body
/// the fast one accepts. A crash is found by the process dying.
public struct ParserFuzzing: Sendable {
    static let maxReadings = 1000
    static let maxSamples = 1000
    let decoder: ReadingsDecoder

    /// `featureNames`: the served model's, so the corpus's readings use real names.
    public init(featureNames: [String]) {
        decoder = ReadingsDecoder(featureNames: featureNames, maxReadings: Self.maxReadings, missingValues: .reject)
    }

    /// What one input did: accepted, refused (with the HTTP status), or broke the contract (why).
    public enum Outcome: Sendable, Equatable {
        case accepted
        case refused(status: Int)
        case violation(String)
    }

    /// The three routes' parsers on `body`; `.violation` describes the first broken rule.
    public func check(_ body: [UInt8]) -> (predict: Outcome, detect: Outcome, infer: Outcome) {
        (predict(body), detect(body), infer(body))
    }

    /// The Open Inference `infer` body as JSON (no binary part): a 4xx in the protocol's form, or
    /// `rows x features` finite values.
    func infer(_ body: [UInt8]) -> Outcome {
        if body.withUnsafeBytes({ JSONLexer.firstDuplicateKey(in: $0) }) != nil { return .refused(status: 400) }
        let features = decoder.featureNames.count
        switch OpenInferenceController.parseInfer(ByteBuffer(bytes: body), featureCount: features, maxRows: Self.maxReadings) {
        case .success(let parsed):
            guard parsed.values.count == parsed.rows * features, parsed.values.allSatisfy(\.isFinite), !parsed.outputs.isEmpty else {
                return .violation("/v2/.../infer accepted \(parsed.rows) rows with \(parsed.values.count) values, a non-finite one, or no output")
            }
            return .accepted
        case .failure(let error):
            guard (400..<500).contains(error.status.code) else { return .violation("/v2/.../infer refused with \(error.status.code)") }
            return .refused(status: error.status.code)
        }
    }

    func predict(_ body: [UInt8]) -> Outcome {
        do {
            if let key = body.withUnsafeBytes({ JSONLexer.firstDuplicateKey(in: $0) }) { throw APIError.duplicateKey(key) }
            let readings = try body.withUnsafeBytes { raw throws(ReadingsDecoder.Failure) in try decoder.decode(raw) }
            guard readings.values.count == readings.count * decoder.featureNames.count, readings.values.allSatisfy(\.isFinite) else {
                return .violation("/predict accepted \(readings.count) readings with \(readings.values.count) values, or a non-finite one")
            }
            return .accepted
        } catch {
            return Self.refusal(error, route: "/predict")
        }
    }

    func detect(_ body: [UInt8]) -> Outcome {
        let data = Data(body)
        let fast = data.withUnsafeBytes { DetectBodyParser.parse($0, maxSamples: Self.maxSamples) }
        do {
            let slow = try AnomalyRequests.detectExplained(data, maxSamples: Self.maxSamples)
            guard let fast else { return .accepted }
            guard fast.assetId == slow.assetId, fast.persist == slow.persist, fast.timestamps == slow.timestamps,
                fast.samples.map(\.timestamp) == slow.samples.map(\.timestamp), fast.samples.map(\.metrics) == slow.samples.map(\.metrics)
            else { return .violation("/anomaly/detect: the fast and the slow parser read the body differently") }
            return .accepted
        } catch {
            if fast != nil { return .violation("/anomaly/detect: the fast parser accepted what the slow one refuses (\(error))") }
            return Self.refusal(error, route: "/anomaly/detect")
        }
    }

    /// A refusal must be a domain error the service answers with a 4xx, in an envelope that encodes.
    static func refusal(_ error: any Error, route: String) -> Outcome {
        guard let answer = APIError.mapping(error) else { return .violation("\(route) threw \(String(reflecting: type(of: error))), which is answered 500") }
        guard (400..<500).contains(answer.status.code) else { return .violation("\(route) refused with \(answer.status.code) \(answer.code)") }
        guard let data = try? answer.envelope(requestId: "fuzz"), (try? JSONSerialization.jsonObject(with: data)) != nil else {
            return .violation("\(route): the \(answer.status.code) envelope does not encode as JSON")
        }
        return .refused(status: answer.status.code)
    }
}
