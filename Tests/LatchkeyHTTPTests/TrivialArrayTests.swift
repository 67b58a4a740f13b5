import Testing

@testable import LatchkeyHTTP

/// `TrivialArray`, the storage under `HTTPHeaders`: Array's value semantics with cheaper appends and clears.
struct TrivialArrayTests {
    @Test func anEmptyArrayHasNoStorageAndGrowsOnItsFirstAppend() {
        var array = TrivialArray<UInt8>()
        #expect(array.storageIdentity == nil)
        #expect(array.isEmpty && array.capacity == 0)
        array.reserveCapacity(0)
        #expect(array.storageIdentity == nil, "no room asked, none made")
        array.append(7)
        #expect(Array(array) == [7])
        #expect(array.capacity >= 1)
    }

    @Test func appendsGrowPastTheCapacityAndKeepEveryElementInOrder() {
        var array = TrivialArray<UInt8>()
        var expected: [UInt8] = []
        for round in 0..<50 {
            let chunk = (0..<UInt8(round % 7 + 1)).map { $0 &+ UInt8(round) }
            chunk.withUnsafeBufferPointer { array.append(contentsOf: $0) }
            array.append(UInt8(round))
            expected += chunk + [UInt8(round)]
        }
        #expect(Array(array) == expected)
        #expect(array.count == expected.count && array.capacity >= expected.count)
    }

    @Test func aCopyIsIndependentOfTheOriginal() {
        var original = TrivialArray<UInt8>([1, 2, 3])
        let copy = original
        #expect(copy.storageIdentity == original.storageIdentity)  // shared until one of them changes
        original.append(4)
        original[0] = 9
        #expect(Array(copy) == [1, 2, 3])
        #expect(Array(original) == [9, 2, 3, 4])
        var second = copy
        second.remove(at: 1)
        #expect(Array(copy) == [1, 2, 3])
        #expect(Array(second) == [1, 3])
    }

    @Test func emptyingKeepsUniqueStorageAndLeavesSharedStorageToItsOtherHolder() {
        var array = TrivialArray<UInt8>([1, 2, 3])
        array.reserveCapacity(64)
        let identity = array.storageIdentity
        array.removeAll(keepingCapacity: true)
        #expect(array.isEmpty && array.capacity == 64 && array.storageIdentity == identity)

        array.append(contentsOf: [5, 6] as [UInt8])
        let copy = array
        array.removeAll(keepingCapacity: true)
        #expect(array.isEmpty)
        #expect(Array(copy) == [5, 6])
        array.append(1)
        #expect(Array(copy) == [5, 6] && Array(array) == [1])

        array.removeAll()
        #expect(array.storageIdentity == nil)
    }

    @Test func removingWhereKeepsOrderAndUniqueStorage() {
        var array = TrivialArray<UInt8>([1, 2, 3, 4, 5, 6])
        let identity = array.storageIdentity
        array.removeAll { $0 % 2 == 0 }
        #expect(Array(array) == [1, 3, 5])
        #expect(array.storageIdentity == identity)
    }

    @Test func removingNothingLeavesSharedStorageShared() {
        var array = TrivialArray<UInt8>([1, 2, 3])
        let copy = array
        array.removeAll { $0 > 10 }
        #expect(array.storageIdentity == copy.storageIdentity)
        array.removeAll { $0 == 2 }
        #expect(Array(array) == [1, 3] && Array(copy) == [1, 2, 3])
    }

    @Test func readsSeeTheElementsInPlace() {
        let array = TrivialArray<UInt8>([4, 5, 6])
        #expect(array.firstIndex { $0 == 5 } == 1)
        #expect(array.contains { $0 == 6 } && !array.contains { $0 == 7 })
        #expect(array.withUnsafeBufferPointer { Array($0) } == [4, 5, 6])
        #expect(array.withUnsafeBytes { $0.count } == 3)
        #expect(array == TrivialArray<UInt8>([4, 5, 6]) && array != TrivialArray<UInt8>([4, 5]))
        var sum = 0
        for element in array { sum += Int(element) }
        #expect(sum == 15)
        #expect(TrivialArray<UInt8>().withUnsafeBufferPointer { $0.count } == 0)
    }

    @Test func aHeadSanitizedInPlaceKeepsItsStorage() throws {
        var parser = HTTP1ResponseParser()
        var events = try parser.feed(Array("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n".utf8))
        guard case .head(var head, _) = events.removeFirst() else {
            Issue.record("no head")
            return
        }
        let spans = head.headers.spans.storageIdentity
        let bytes = head.headers.bytes.storageIdentity
        head.headers.removeFieldsNotForwarded()
        #expect(head.headers.spans.storageIdentity == spans && head.headers.bytes.storageIdentity == bytes)
        #expect(head.headers.fields.map(\.name) == ["X-A", "Content-Length"])
    }
}
