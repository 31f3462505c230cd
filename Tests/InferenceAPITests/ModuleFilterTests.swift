import Testing

@testable import InferenceAPI

/// The filter `/predict` asks per reading: never "no" for a module it holds (a missed module would
/// lose episode readings), rarely "maybe" for one it does not.
@Suite("Module filter")
struct ModuleFilterTests {
    @Test func testHeldModulesAreAlwaysFoundAndOthersRarely() {
        let filter = ModuleFilter()
        let held = (0..<1000).map { ModuleID("rack-\($0 / 16)/module-\($0 % 16)") } + [ModuleID(String(repeating: "long-", count: 10))]
        filter.insert(held)
        #expect(held.allSatisfy { filter.contains(ModuleFilter.position($0)) })
        let others = (0..<10_000).map { ModuleID("rack-\($0 / 16)/module-\($0 % 16)-other") }
        let maybes = others.count(where: { filter.contains(ModuleFilter.position($0)) })
        #expect(maybes < 500, "\(maybes) of 10,000 absent modules answered maybe (1,001 held, 65,536 bits)")
        let fresh = ModuleFilter()
        fresh.insert(others.prefix(10))
        filter.formUnion(fresh)
        #expect(others.prefix(10).allSatisfy { filter.contains(ModuleFilter.position($0)) })
        filter.removeAll()
        #expect(!held.contains { filter.contains(ModuleFilter.position($0)) })
    }
}
