import Foundation
import Testing

@testable import Artifacts

/// meta.yaml files are read with Yams' basic resolver (every scalar text), then `null` and
/// friends dropped: what the store's readers see must match what the default resolver gave them.
@Suite("MLflow meta.yaml values")
struct MLflowMetaYAMLTests {
    @Test func testScalarsStayTextAndNullsAreAbsent() throws {
        let text = """
            name: 123
            run_id: null
            description: ~
            user_id:
            quoted: 'null'
            status: 3
            start_time: 1795374289318
            aliases:
              champion: '2'
            tags: [a, null, b]
            """
        let meta = try #require(MLflowStore.meta(parsing: text))
        #expect(meta["name"] as? String == "123", "a numeric-looking name is still a name")
        #expect(meta["run_id"] == nil && meta["description"] == nil && meta["user_id"] == nil)
        #expect(meta["quoted"] as? String == "null", "a quoted null is text")
        #expect(Run.statusName(meta["status"]) == "FINISHED")
        #expect(MLflowStore.number(meta["start_time"]) == 1_795_374_289_318)
        #expect((meta["aliases"] as? [String: Any])?["champion"] as? String == "2")
        #expect(meta["tags"] as? [String] == ["a", "b"])
        #expect(MLflowStore.meta(parsing: "- a list") == nil && MLflowStore.meta(parsing: "key: [unclosed") == nil)
    }
}
