import Foundation

extension Forecaster {
    /// Samples on a regular grid at their own spacing; missing steps are NaN.
    struct Grid {
        /// Seconds since 1970 of step 0.
        let start: Double
        let step: Double
        var values: [Double]
        /// Samples that went into the grid.
        let samples: Int
        /// Per step, history and `ahead` steps after it: the slot of the day and of the week.
        let daySlots: [Int]
        let weekSlots: [Int]

        init(times: [Date], values: [Double], ahead: Int) throws {
            let pairs = zip(times, values).filter { $0.1.isFinite }.map { ($0.0.timeIntervalSince1970, $0.1) }.sorted { $0.0 < $1.0 }
            var gaps: [Double] = []
            gaps.reserveCapacity(pairs.count)
            for k in pairs.indices.dropFirst() where pairs[k].0 > pairs[k - 1].0 { gaps.append(pairs[k].0 - pairs[k - 1].0) }
            guard let first = pairs.first, !gaps.isEmpty else {
                throw Failure.tooLittleHistory(samples: pairs.count, days: 0)
            }
            // The spacing: the median gap, then the median of the single-step gaps near it (missing
            // samples make double gaps that would pull it up), snapped to whole minutes when
            // within 5 % of them (timestamps taken a few seconds late should not stretch the grid).
            let rough = Forecaster.median(gaps)
            var step = max(1, Forecaster.median(gaps.filter { $0 >= 0.5 * rough && $0 <= 1.5 * rough }).rounded())
            let minutes = (step / 60).rounded() * 60
            if step >= 60, abs(minutes - step) <= 0.05 * step { step = minutes }
            let count = Int(((pairs[pairs.count - 1].0 - first.0) / step).rounded()) + 1
            guard count <= Forecaster.maximumGridSteps else {
                throw Failure.spacing("the samples' timestamps are too irregular: at their typical spacing of \(Int(step)) s they span \(count) steps")
            }
            var sums = [Double](repeating: 0, count: count)
            var counts = [Int](repeating: 0, count: count)
            for (time, value) in pairs {
                let index = min(count - 1, max(0, Int(((time - first.0) / step).rounded())))
                sums[index] += value
                counts[index] += 1
            }
            self.start = first.0
            self.step = step
            self.values = zip(sums, counts).map { $1 > 0 ? $0 / Double($1) : .nan }
            self.samples = pairs.count
            let perDay = Self.stepsPerDay(step)
            var daySlots = [Int](repeating: 0, count: count + ahead)
            var weekSlots = [Int](repeating: 0, count: count + ahead)
            for index in daySlots.indices {
                let seconds = first.0 + Double(index) * step
                let days = (seconds / Forecaster.day).rounded(.down)
                let slot = perDay > 0 ? min(perDay - 1, Int((seconds - days * Forecaster.day) / Forecaster.day * Double(perDay))) : 0
                let weekday = (Int(days) % 7 + 7 + 3) % 7  // 1970-01-01 was a Thursday: Monday is 0
                daySlots[index] = slot
                weekSlots[index] = weekday * max(1, perDay) + slot
            }
            self.daySlots = daySlots
            self.weekSlots = weekSlots
        }

        static func stepsPerDay(_ step: Double) -> Int {
            let perDay = Int((Forecaster.day / step).rounded())
            return perDay >= 2 ? perDay : 0
        }

        /// Steps in a day (0 when a step is half a day or longer: no daily shape to learn).
        var stepsPerDay: Int { Self.stepsPerDay(step) }

        func time(_ index: Int) -> Date { Date(timeIntervalSince1970: start + Double(index) * step) }

        /// The slot of the day (UTC) of step `index`.
        func daySlot(_ index: Int) -> Int { daySlots[index] }

        /// The slot of the week (Monday 00:00 UTC = 0) of step `index`.
        func weekSlot(_ index: Int) -> Int { weekSlots[index] }
    }
}
