import Foundation
import Testing

@testable import InferenceAPI

/// The oracle `make fuzz` runs on a million inputs, and the bodies it found.
@Suite("Parser fuzzing oracle")
struct ParserFuzzingTests {
    static let fuzzing = ParserFuzzing(featureNames: ["soc_pct", "temp_c"])

    /// Found by `make fuzz`: numbers of more than 17 digits. The slow detect path read them with
    /// JSONSerialization (an NSDecimalNumber, an ulp off); both paths now round as Python does.
    @Test(arguments: ["20.259007199254740993", "9999999999999999999999999999999999999999999999999999999999999999999991.5", "20.999999999999999999999999999925", "1e-400"])
    func testLongNumbersReadTheSameOnBothDetectPaths(_ number: String) throws {
        let body = Array(#"{"asset_id":"a-1","samples":[{"timestamp":"2026-01-01T00:00:00Z","metrics":{"cpu_pct":\#(number)}}]}"#.utf8)
        #expect(Self.fuzzing.check(body).detect == .accepted)
        let slow = try AnomalyRequests.detectExplained(Data(body), maxSamples: 10)
        #expect(slow.samples.first?.metrics["cpu_pct"] == strtod(number, nil), "correctly rounded, as Python's float()")
    }

    @Test func testRefusalsMustBe4xxEnvelopes() {
        struct Unmapped: Error {}
        guard case .violation(let why) = ParserFuzzing.refusal(Unmapped(), route: "/predict") else {
            Issue.record("an unmapped error passed the oracle")
            return
        }
        #expect(why.contains("answered 500"))
        #expect(ParserFuzzing.refusal(APIError.validation("bad"), route: "/predict") == .refused(status: 400))
        #expect(ParserFuzzing.refusal(ServiceError.noModel, route: "/predict") == .violation("/predict refused with 503 unavailable"))
    }

    @Test(arguments: [
        #"{"readings":[{"soc_pct":1,"temp_c":2}],"readings":[]}"#, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        #"{"readings":[{"soc_pct":NaN,"temp_c":2}]}"#, "\u{FEFF}{}", #"{"asset_id":"\ud800","samples":[]}"#, "",
        // Found by `make fuzz`: finite in JSON, infinite as FP32 (the model read an infinity).
        #"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1.5e39,1]}]}"#,
        #"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[[[1,2]]]}]}"#,
    ])
    func testHostileBodiesAreRefusedAs4xx(_ body: String) {
        let (predict, detect, infer) = Self.fuzzing.check(Array(body.utf8))
        for outcome in [predict, detect, infer] {
            guard case .refused(let status) = outcome else {
                Issue.record("\(body.prefix(40)): \(outcome)")
                continue
            }
            #expect((400..<500).contains(status))
        }
    }
}
