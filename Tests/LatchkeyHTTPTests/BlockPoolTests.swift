import CLatchkeyShims
@testable import LatchkeyHTTP
import Testing

/// The allocator an HTTP/2 session gives nghttp2 (`latchkey_block_pool`): freed small blocks come back for
/// the next allocation of their size class, up to the pool's limit; what they held never shows through
/// `calloc`, and `realloc` keeps contents across classes.
@Suite(.enabled(if: latchkey_block_pool_reuses_blocks() == 1, "AddressSanitizer build: every call goes to malloc"))
struct BlockPoolTests {
    final class Pool {
        let pool: OpaquePointer
        init(limit: Int) { pool = latchkey_block_pool_create(limit)! }
        deinit { latchkey_block_pool_destroy(pool) }
        var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pool) }
        var cached: Int { latchkey_block_pool_cached_bytes(pool) }
        func allocate(_ size: Int) -> UnsafeMutableRawPointer { latchkey_block_pool_malloc(size, raw)! }
        func free(_ pointer: UnsafeMutableRawPointer) { latchkey_block_pool_free(pointer, raw) }
    }

    @Test func aFreedBlockServesTheNextAllocationOfItsClass() {
        let pool = Pool(limit: 4096)
        let first = pool.allocate(100)  // the 128-byte class
        pool.free(first)
        #expect(pool.cached == 128)
        let smaller = pool.allocate(40)  // the 64-byte class: a block of its own
        #expect(smaller != first)
        let again = pool.allocate(128)
        #expect(again == first)
        #expect(pool.cached == 0)
        pool.free(smaller)
        pool.free(again)
    }

    @Test func freedBlocksBeyondTheLimitGoBackToMalloc() {
        let pool = Pool(limit: 1024)
        let blocks = (0..<20).map { _ in pool.allocate(200) }  // 256-byte class
        for block in blocks { pool.free(block) }
        #expect(pool.cached == 1024)
    }

    @Test func largeBlocksAreNeverKept() {
        let pool = Pool(limit: 1 << 20)
        let large = pool.allocate(20_000)
        large.storeBytes(of: 0xAB, as: UInt8.self)
        pool.free(large)
        #expect(pool.cached == 0)
    }

    @Test func callocZeroesAReusedBlock() {
        let pool = Pool(limit: 4096)
        let dirty = pool.allocate(64)
        dirty.initializeMemory(as: UInt8.self, repeating: 0xFF, count: 64)
        pool.free(dirty)
        let clean = latchkey_block_pool_calloc(8, 8, pool.raw)!
        #expect(clean == dirty)
        #expect(UnsafeRawBufferPointer(start: clean, count: 64).allSatisfy { $0 == 0 })
        pool.free(clean)
        #expect(latchkey_block_pool_calloc(Int.max, 2, pool.raw) == nil)  // overflow refused
    }

    @Test func reallocKeepsTheContentsAcrossClassesAndIntoLargeBlocks() {
        let pool = Pool(limit: 4096)
        var block = pool.allocate(20)
        for index in 0..<20 { block.storeBytes(of: UInt8(index), toByteOffset: index, as: UInt8.self) }
        #expect(latchkey_block_pool_realloc(block, 30, pool.raw) == block)  // still fits its 32 bytes
        block = latchkey_block_pool_realloc(block, 500, pool.raw)!
        #expect(pool.cached == 32)  // the old block, freed
        block = latchkey_block_pool_realloc(block, 50_000, pool.raw)!
        block = latchkey_block_pool_realloc(block, 60_000, pool.raw)!
        #expect(latchkey_block_pool_realloc(block, 40_000, pool.raw) == block)  // a large block shrinks in place
        #expect((0..<20).allSatisfy { block.load(fromByteOffset: $0, as: UInt8.self) == UInt8($0) })
        pool.free(block)
        let fresh = latchkey_block_pool_realloc(nil, 10, pool.raw)!  // nil: an allocation
        pool.free(fresh)
    }

    /// nghttp2 allocates through the pool: after an exchange both sessions keep freed blocks for the
    /// next, within their limits.
    @Test func sessionsKeepFreedBlocksWithinTheirLimits() throws {
        let pair = try HTTP2Pair()
        for _ in 0..<20 {
            let stream = try pair.client.submitRequest(HTTP2SessionTests.getHead(), endStream: true)
            try pair.pump()
            _ = pair.takeServerEvents()
            try pair.server.submitResponse(stream: stream, HTTPResponseHead(status: 200, headers: ["X-A": "1"]), endStream: true)
            try pair.pump()
            _ = pair.takeClientEvents()
        }
        #expect(pair.client.blockPoolCachedBytes > 0)
        #expect(pair.server.blockPoolCachedBytes > 0)
        #expect(pair.client.blockPoolCachedBytes <= HTTP2Session.blockPoolCachedBytes(.client))
        #expect(pair.server.blockPoolCachedBytes <= HTTP2Session.blockPoolCachedBytes(.server))
    }
}
