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
