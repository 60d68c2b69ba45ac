import Primitives
import Testing

@Suite struct SyncGraphTests {
    @Test func aLaneWaitingForALockItHoldsIsAOneEdgeCycle() {
        var graph = WaitForGraph()
        graph.acquired("lock", by: "t1")
        graph.waits("t1", for: "lock")
        #expect(graph.cycle(startingAt: "t1") == [.init(lane: "t1", waitsFor: "lock", heldBy: "t1")])
    }

    @Test func twoLanesWaitingForEachOthersLocksFormACycle() {
        var graph = WaitForGraph()
        graph.acquired("A", by: "t1")
        graph.acquired("B", by: "t2")
        graph.waits("t1", for: "B")
        #expect(graph.cycle(startingAt: "t1") == nil)
        graph.waits("t2", for: "A")
        let cycle = graph.cycle(startingAt: "t2")
        #expect(cycle == [.init(lane: "t2", waitsFor: "A", heldBy: "t1"), .init(lane: "t1", waitsFor: "B", heldBy: "t2")])
    }

    @Test func aSemaphoreWaitIsOnlyDeadlockedWhenEveryHolderIsStuck() {
        var graph = WaitForGraph()
        graph.acquired("sem", by: "t1")
        graph.acquired("sem", by: "t2")
        graph.acquired("L", by: "t3")
        graph.waits("t3", for: "sem")
        graph.waits("t1", for: "L")
        #expect(graph.deadlockedLanes().isEmpty, "t2 still runs and can release a permit")
        graph.waits("t2", for: "L")
        #expect(graph.deadlockedLanes() == ["t1", "t2", "t3"])
    }

    @Test func releasingBreaksTheCycle() {
        var graph = WaitForGraph()
        graph.acquired("A", by: "t1")
        graph.waits("t2", for: "A")
        graph.released("A", by: "t1")
        #expect(graph.deadlockedLanes().isEmpty)
    }

    @Test func lockOrderInversionIsReportedOnceWithBothOrders() {
        var order = LockOrderGraph()
        #expect(order.took("B", holding: ["A"]).isEmpty)
        #expect(order.took("A", holding: ["B"]) == [["B", "A"]])
        #expect(order.took("A", holding: ["B"]).isEmpty)
        #expect(order.took("B", holding: ["A"]).isEmpty)
    }

    @Test func longerLockOrderCyclesAreFound() {
        var order = LockOrderGraph()
        _ = order.took("f2", holding: ["f1"])
        _ = order.took("f3", holding: ["f2"])
        #expect(order.took("f1", holding: ["f3"]) == [["f3", "f1", "f2"]])
    }

    @Test func oneConsistentOrderIsNeverReported() {
        var order = LockOrderGraph()
        #expect(order.took("B", holding: ["A"]).isEmpty)
        #expect(order.took("C", holding: ["A", "B"]).isEmpty)
        #expect(order.took("C", holding: ["B"]).isEmpty)
    }
}
