import Dispatch
import Foundation
import LatchkeyConfig
import LatchkeyNet
import Synchronization
import Testing

@testable import LatchkeyRedis

#if canImport(Glibc)
import Glibc
#endif

/// A scripted Redis on loopback: accepts one connection, records what it receives, and answers each
/// complete command with the next scripted reply (split into 1-byte writes), or stays silent.
final class ScriptedRedis: @unchecked Sendable {  // `received` is a Mutex; the rest is set before start
    let port: Int
    private let listener: Int32
    let received = Mutex<[UInt8]>([])
    private let replies: [[UInt8]?]

    init(replies: [String?]) {
        self.replies = replies.map { $0.map { Array($0.utf8) } }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 4)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { self.serve() }
    }

    deinit { close(listener) }

    /// Commands are counted by their `*N` headers: each test command is an array of bulk strings.
    private func serve() {
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        defer { close(connection) }
        var answered = 0
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(connection, &buffer, buffer.count)
            if count <= 0 { return }
            let total = received.withLock { $0 += buffer[0..<count]; return Self.completeCommands($0) }
            while answered < total, answered < replies.count {
                if let reply = replies[answered] {
                    for byte in reply { var b = byte; _ = write(connection, &b, 1) }
                }
                answered += 1
            }
        }
    }

    /// How many whole RESP arrays of bulk strings `bytes` holds.
    static func completeCommands(_ bytes: [UInt8]) -> Int {
        var index = 0, commands = 0
        func line() -> String? {
            guard let end = (index..<max(index, bytes.count - 1)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else { return nil }
            defer { index = end + 2 }
            return String(decoding: bytes[index..<end], as: UTF8.self)
        }
        while index < bytes.count {
            guard let header = line(), let n = Int(header.dropFirst()) else { return commands }
            for _ in 0..<n {
                guard let size = line().flatMap({ Int($0.dropFirst()) }), index + size + 2 <= bytes.count else { return commands }
                index += size + 2
            }
            commands += 1
        }
        return commands
    }
}

/// `RedisClient` over a real loopback socket against a scripted server: pipelining, AUTH first,
/// the timeout and the pause after it.
@Suite struct RedisClientTests {
    static func client(port: Int, password: String? = nil, timeoutMs: Int = 200) throws -> RedisClient {
        var settings = SharedStoreSettings(host: "127.0.0.1", port: port)
        settings.password = password.map(SecretString.init)
        settings.timeoutMs = timeoutMs
        return try RedisClient(settings: settings, loop: EventLoop(label: "redis-test", backend: .dispatch))
    }

    static func run(_ client: RedisClient, _ words: String...) -> Result<RedisReply, RedisError> {
        let outcome = Mutex<Result<RedisReply, RedisError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        client.run(RedisCommand(words.map { Array($0.utf8) })) { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        _ = done.wait(timeout: .now() + 10)
        return outcome.withLock { $0 }!
    }

    @Test func authGoesFirstAndPipelinedRepliesArriveInOrder() throws {
        let server = ScriptedRedis(replies: ["+OK\r\n", "$2\r\nv1\r\n", ":7\r\n"])
        let client = try Self.client(port: server.port, password: "pw-1")
        let results = Mutex<[RedisReply]>([])
        let group = DispatchGroup()
        for command in [RedisCommand("GET", "k"), RedisCommand("DEL", "k")] {
            group.enter()
            client.run(command) { result in
                if case .success(let reply) = result { results.withLock { $0.append(reply) } }
                group.leave()
            }
        }
        #expect(group.wait(timeout: .now() + 10) == .success)
        #expect(results.withLock { $0 } == [.bulk(Array("v1".utf8)), .integer(7)])
        let wire = String(decoding: server.received.withLock { $0 }, as: UTF8.self)
        #expect(wire.hasPrefix("*2\r\n$4\r\nAUTH\r\n$4\r\npw-1\r\n*2\r\n$3\r\nGET"))
        #expect(client.health.reachable)
    }

    @Test func silenceIsATimeoutThenCallsFailAtOnceDuringThePause() throws {
        let server = ScriptedRedis(replies: [nil])
        let client = try Self.client(port: server.port, timeoutMs: 150)
        let started = ContinuousClock.now
        guard case .failure(let error) = Self.run(client, "GET", "k") else { Issue.record("expected a timeout"); return }
        #expect(error.shortDescription == "store_timeout" && error.isConnectivity)
        #expect(ContinuousClock.now - started < .seconds(2))
        let again = ContinuousClock.now
        guard case .failure(let paused) = Self.run(client, "GET", "k") else { Issue.record("expected the pause"); return }
        #expect(paused == error)
        #expect(ContinuousClock.now - again < .milliseconds(100))  // no second wait on a silent store
        #expect(!client.health.reachable && client.health.outages == 1)
    }

    @Test func refusedConnectionIsUnavailable() throws {
        let client = try Self.client(port: 1)  // nothing listens on port 1
        guard case .failure(let error) = Self.run(client, "PING") else { Issue.record("expected a failure"); return }
        #expect(error.shortDescription == "store_unavailable")
    }
}
