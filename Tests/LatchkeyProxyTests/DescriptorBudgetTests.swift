import Testing

@testable import LatchkeyProxy

@Suite struct DescriptorBudgetTests {
    @Test func twoDescriptorsPerConnectionAfterTheReserve() {
        #expect(DescriptorBudget.connectionsCarried(byDescriptorLimit: 1024) == 480)
        #expect(DescriptorBudget.connectionsCarried(byDescriptorLimit: 8256) == 4096)
        #expect(DescriptorBudget.connectionsCarried(byDescriptorLimit: 64) == 1)
        #expect(DescriptorBudget.connectionsCarried(byDescriptorLimit: 0) == 1)
    }

    @Test func raisingTheSoftLimitNeverLowersIt() {
        let before = DescriptorBudget.raiseSoftLimit()
        #expect(DescriptorBudget.raiseSoftLimit() >= before)
    }
}
