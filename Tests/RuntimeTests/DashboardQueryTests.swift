import Core
@testable import Runtime
import Testing

@Suite struct DashboardQueryTests {
    /// Found by an operator: `/api/runs?product=true` listed every product's runs, the value relayed as a
    /// Boolean, which the filter ignored; `true` and `false` are names a product, flow or job may have.
    @Test func aQueryValueIsRelayedAsTheStringItIsButForTheNumbersNamed() {
        let fields = Dashboard.fields(ofQuery: ["product": "true", "job": "false", "run": "12", "flow": "7", "limit": "ten"])
        #expect(fields.rendered() == #"{"flow":"7","job":"false","limit":"ten","product":"true","run":12}"#)
    }
}
