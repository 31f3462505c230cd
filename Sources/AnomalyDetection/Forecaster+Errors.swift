import Foundation

/// The out-of-sample errors the intervals come from, and the order statistics every part uses.
extension Forecaster {
    /// Out-of-sample errors by lead, pooled in half-octave buckets of the lead.
    struct LeadErrors {
        var buckets: [[Double]] = []
        var count = 0

        static func bucket(_ lead: Int) -> Int { Int((2 * log2(Double(max(1, lead)))).rounded(.down)) }

        mutating func add(lead: Int, error: Double) {
            let b = Self.bucket(lead)
            while buckets.count <= b { buckets.append([]) }
            buckets[b].append(error)
            count += 1
        }

        mutating func sort() {
            for b in buckets.indices { buckets[b].sort() }
        }

        /// The bucket to read for `lead` and how much to widen it: the lead's own when it holds
        /// enough errors, else the longest-lead bucket that does, widened as √(lead ratio).
        func source(_ lead: Int) -> (errors: [Double], widen: Double)? {
            let b = Self.bucket(lead)
            if b < buckets.count, buckets[b].count >= Forecaster.bucketMinimum { return (buckets[b], 1) }
            guard let known = buckets.indices.last(where: { $0 <= b && buckets[$0].count >= Forecaster.bucketMinimum }) else { return nil }
            // The known bucket's middle lead.
            let knownLead = pow(2, (Double(known) + 0.5) / 2)
            return (buckets[known], max(1, (Double(lead) / knownLead).squareRoot()))
        }

        /// Offsets from the forecast for the central `1 - 2 alpha`.
        func quantiles(lead: Int, alpha: Double, fallbackScale: Double, stepsPerDay: Int) -> (Double, Double) {
            if let (errors, widen) = source(lead) {
                return (widen * Forecaster.quantile(errors, alpha), widen * Forecaster.quantile(errors, 1 - alpha))
            }
            // No tested lead yet (under three days of history): the residual scale, widening by the day.
            let z = Forecaster.normalQuantile(1 - alpha)
            let spread = fallbackScale * z * (1 + Double(lead) / Double(max(1, stepsPerDay))).squareRoot()
            return (-spread, spread)
        }

        /// The chance that the forecast's error at `lead` is past `distance` (above: error ≥ distance).
        func chance(lead: Int, past distance: Double, above: Bool, fallbackScale: Double, stepsPerDay: Int) -> Double {
            if let (errors, widen) = source(lead) {
                let scaled = distance / widen
                // Errors are sorted: count those past the distance.
                var low = 0, high = errors.count
                while low < high {
                    let mid = (low + high) / 2
                    if errors[mid] < scaled { low = mid + 1 } else { high = mid }
                }
                let below = low
                return above ? Double(errors.count - below) / Double(errors.count) : Double(below) / Double(errors.count)
            }
            let spread = max(1e-12, fallbackScale * (1 + Double(lead) / Double(max(1, stepsPerDay))).squareRoot())
            let z = distance / spread
            return above ? 0.5 * erfc(z / 2.0.squareRoot()) : 0.5 * erfc(-z / 2.0.squareRoot())
        }
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        var copy = values
        return copy.withUnsafeMutableBufferPointer { medianReordering($0) }
    }

    /// The median of `values`, reordering them in place and allocating nothing. A fit takes
    /// tens of thousands of medians, most of a slot's few weeks of values: a copy and a library
    /// sort each (an allocation and a merge sort's buffer) were over half of a forecast's time,
    /// so this is written by hand.
    static func medianReordering(_ values: UnsafeMutableBufferPointer<Double>) -> Double {
        let n = values.count
        guard n > 0 else { return 0 }
        let mid = n / 2
        select(values, mid)
        let upper = values[mid]
        guard n % 2 == 0 else { return upper }
        // Everything before `mid` is now at most `upper`: the lower middle is the largest of them.
        var lower = values[0]
        for i in 1..<mid { lower = max(lower, values[i]) }
        return (lower + upper) / 2
    }

    /// Puts the `k`-th smallest of `v` (no NaN) at `k`, smaller or equal ones before it and larger
    /// or equal ones after (Hoare's quickselect with a median-of-three pivot; insertion sort
    /// below 17 values).
    static func select(_ v: UnsafeMutableBufferPointer<Double>, _ k: Int) {
        var low = 0, high = v.count - 1
        while high - low > 16 {
            let m = (low + high) / 2
            if v[m] < v[low] { v.swapAt(m, low) }
            if v[high] < v[low] { v.swapAt(high, low) }
            if v[high] < v[m] { v.swapAt(high, m) }
            let pivot = v[m]
            var i = low, j = high
            while i <= j {
                while v[i] < pivot { i += 1 }
                while v[j] > pivot { j -= 1 }
                if i <= j {
                    v.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j {
                high = j
            } else if k >= i {
                low = i
            } else {
                return  // between j and i every value equals the pivot
            }
        }
        guard high > low else { return }
        for i in (low + 1)...high {
            let x = v[i]
            var j = i - 1
            while j >= low, v[j] > x {
                v[j + 1] = v[j]
                j -= 1
            }
            v[j + 1] = x
        }
    }

    /// Linear interpolation between order statistics of sorted `values` (numpy's default).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = min(sorted.count - 1, lower + 1)
        return sorted[lower] + (position - Double(lower)) * (sorted[upper] - sorted[lower])
    }

    /// The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9).
    static func normalQuantile(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let p = min(max(p, 1e-12), 1 - 1e-12)
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - 0.02425 { return -normalQuantile(1 - p) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
}
