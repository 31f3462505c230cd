import NIOCore

/// A metric's values over an asset's last `capacity` samples (a sample without the metric takes
/// its place too), with what the fallback detectors read: the present values sorted and the run
/// of equal values at the end. Kept sample by sample, so a
/// sample is scored on exactly the samples before it, whether the client sent it alone or in a
/// batch (each batch starts from the stored history, which holds the same samples).
struct MetricWindow {
    let capacity: Int
    private var samples = CircularBuffer<Double>()
    /// The present values, ascending.
    private(set) var sorted: [Double] = []
    /// Equal present values at the end (0 when there are none).
    private(set) var run = 0
    private var last: Double?

    init(capacity: Int) {
        self.capacity = capacity
        samples.reserveCapacity(capacity)
        sorted.reserveCapacity(capacity)
    }

    /// The run `value` would end, were it appended.
    func run(after value: Double) -> Int { last.map { AssetDetector.same($0, value) } == true ? run + 1 : 1 }

    /// Pairs before a run below which the window cannot say how rare the run is.
    static let repeatEvidencePairs = 20

    /// What the window says about how often `value` repeats, for a sample that would end a run
    /// of `run` equal values. A value the samples before that run repeated 5 times or more (a
    /// count that is mostly zero) is judged by its own pairs over the whole window, the run
    /// included: long runs of it are its normal behaviour. Any other value (a continuous metric
    /// stuck) by every pair before the run, so the run cannot excuse itself; nil under
    /// `repeatEvidencePairs` of them.
    func repeatEvidence(_ value: Double, run: Int) -> (repeats: Int, pairs: Int)? {
        var before = sorted.count - (run - 1)
        var previous: Double?
        var all = (repeats: 0, pairs: 0), own = (repeats: 0, pairs: 0), ownBefore = 0
        for x in samples where !x.isNaN {
            if let p = previous {
                let repeated = AssetDetector.same(p, x)
                if before > 0 {
                    all.pairs += 1
                    if repeated { all.repeats += 1 }
                }
                if AssetDetector.same(p, value) {
                    own.pairs += 1
                    if repeated {
                        own.repeats += 1
                        if before > 0 { ownBefore += 1 }
                    }
                }
            }
            before -= 1
            previous = x
        }
        if ownBefore >= 5 { return own }
        return all.pairs >= Self.repeatEvidencePairs ? all : nil
    }

    mutating func append(_ value: Double) {
        if samples.count == capacity { removeOldest() }
        samples.append(value)
        guard !value.isNaN else { return }
        if let last, AssetDetector.same(last, value) {
            run += 1
        } else {
            run = 1
        }
        last = value
        sorted.insert(value, at: sorted.partitioningIndex { $0 >= value })
    }

    private mutating func removeOldest() {
        let old = samples.removeFirst()
        guard !old.isNaN else { return }
        sorted.remove(at: sorted.partitioningIndex { $0 >= old })
        run = min(run, sorted.count)
        if sorted.isEmpty { last = nil }
    }
}
