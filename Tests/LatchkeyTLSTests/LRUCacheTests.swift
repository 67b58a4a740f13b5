import Testing

@testable import LatchkeyTLS

@Suite struct LRUCacheTests {
    @Test func holdsAtMostCapacityAndEvictsTheLeastRecentlyUsed() {
        var cache = LRUCache<String, Int>(capacity: 3)
        #expect(cache.insert(1, forKey: "a") == nil)
        #expect(cache.insert(2, forKey: "b") == nil)
        #expect(cache.insert(3, forKey: "c") == nil)
        #expect(cache.value(forKey: "a") == 1)  // a becomes the most recent
        #expect(cache.insert(4, forKey: "d") == "b")
        #expect(cache.count == 3)
        #expect(cache.value(forKey: "b") == nil)
        #expect(cache.keysByRecency == ["d", "a", "c"])
    }

    @Test func replacingAKeyKeepsOneEntryAndRefreshesIt() {
        var cache = LRUCache<String, Int>(capacity: 2)
        cache.insert(1, forKey: "a")
        cache.insert(2, forKey: "b")
        #expect(cache.insert(10, forKey: "a") == nil)
        #expect(cache.count == 2)
        #expect(cache.keysByRecency == ["a", "b"])
        #expect(cache.insert(3, forKey: "c") == "b")
        #expect(cache.value(forKey: "a") == 10)
    }

    @Test func capacityOneAlwaysHoldsTheLatest() {
        var cache = LRUCache<Int, Int>(capacity: 1)
        for key in 0..<5 {
            let evicted = cache.insert(key, forKey: key)
            #expect(evicted == (key == 0 ? nil : key - 1))
            #expect(cache.value(forKey: key) == key)
        }
        #expect(cache.count == 1)
    }

    /// A long random workload checked against a simple model (an array in recency order).
    @Test func matchesAModelUnderRandomUse() {
        var cache = LRUCache<Int, Int>(capacity: 8)
        var model: [Int] = []  // most recent first
        var generator = SystemRandomNumberGenerator()
        for step in 0..<5000 {
            let key = Int.random(in: 0..<20, using: &generator)
            if step % 3 == 0 {
                let expected = model.contains(key) ? key : nil
                #expect(cache.value(forKey: key) == expected)
                if expected != nil {
                    model.removeAll { $0 == key }
                    model.insert(key, at: 0)
                }
            } else {
                let evicted = cache.insert(key, forKey: key)
                if model.contains(key) {
                    #expect(evicted == nil)
                    model.removeAll { $0 == key }
                } else if model.count == 8 {
                    #expect(evicted == model.removeLast())
                } else {
                    #expect(evicted == nil)
                }
                model.insert(key, at: 0)
            }
            #expect(cache.keysByRecency == model)
        }
    }
}
