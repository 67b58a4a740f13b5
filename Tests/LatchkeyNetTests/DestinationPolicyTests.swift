import Dispatch
import LatchkeyNet
import Synchronization
import Testing

@Suite struct DestinationPolicyTests {
    @Test(arguments: [
        ("127.0.0.1", AddressScope.loopback), ("127.9.8.7", .loopback), ("0.0.0.0", .loopback), ("::1", .loopback),
        ("::", .loopback), ("::ffff:127.0.0.1", .loopback), ("169.254.169.254", .linkLocal),
        ("169.254.1.2", .linkLocal), ("::ffff:169.254.169.254", .linkLocal), ("fe80::1", .linkLocal),
        ("febf::1", .linkLocal), ("64:ff9b::169.254.169.254", .linkLocal), ("64:ff9b::8.8.8.8", .other),
        ("fd00:ec2::254", .metadata), ("100.100.100.200", .metadata),
        ("10.0.0.1", .other), ("8.8.8.8", .other), ("2001:db8::1", .other), ("fec0::1", .other),
    ])
    func classifiesAddresses(_ host: String, _ scope: AddressScope) throws {
        let address = try #require(SocketAddress(ipLiteral: host, port: 80))
        #expect(address.scope == scope)
    }

    @Test(arguments: [
        ("localhost", AddressScope?.some(.loopback)), ("LocalHost.", .loopback), ("api.localhost", .loopback),
        ("metadata.google.internal", .metadata), ("metadata.google.internal.", .metadata), ("metadata", .metadata),
        ("169.254.169.254", .linkLocal), ("example.com", nil), ("localhost.example.com", nil),
    ])
    func classifiesNamesWithoutDNS(_ host: String, _ scope: AddressScope?) {
        #expect(AddressScope.of(host: host) == scope)
    }

    /// The one loopback rule, asked two ways: `scope` leans wide for refusals, `isLoopback` narrow for trust.
    @Test func loopbackForTrustIsNarrowerThanLoopbackForRefusal() {
        for host in [
            "127.0.0.1", "127.1.2.3", "127.0.0.1.", "localhost", "LOCALHOST", "a.localhost", "localhost.", "::1",
            "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1",
        ] {
            #expect(AddressScope.isLoopback(host: host), "\(host)")
            #expect(AddressScope.of(host: host) == .loopback, "\(host)")
        }
        // Refused as loopback destinations, but never trusted as this host's loopback.
        for host in ["0.0.0.0", "::", "64:ff9b::127.0.0.1"] {
            #expect(!AddressScope.isLoopback(host: host), "\(host)")
            #expect(AddressScope.of(host: host) == .loopback, "\(host)")
        }
        let others = ["128.0.0.1", "example.com", "::2", "localhost.example.com", "127.0.0", "10.0.0.1", "notlocalhost"]
        for host in others {
            #expect(!AddressScope.isLoopback(host: host), "\(host)")
        }
    }

    @Test func policiesRefuseTheirScopes() throws {
        let metadata = try #require(SocketAddress(ipLiteral: "169.254.169.254", port: 80))
        let loopback = try #require(SocketAddress(ipLiteral: "127.0.0.1", port: 80))
        #expect(DestinationPolicy.routed.refusal(for: metadata) == nil)
        #expect(DestinationPolicy.routed.refusal(for: loopback) == nil)
        #expect(DestinationPolicy.passthrough(listenerIsLoopback: true).refusal(for: metadata) != nil)
        #expect(DestinationPolicy.passthrough(listenerIsLoopback: true).refusal(for: loopback) == nil)
        #expect(DestinationPolicy.passthrough(listenerIsLoopback: false).refusal(for: loopback) != nil)
        #expect(DestinationPolicy.redirect.refusal(for: loopback) != nil)
        #expect(DestinationPolicy.redirect.refusal(forHost: "metadata.google.internal") != nil)
        #expect(DestinationPolicy.redirect.refusal(forHost: "example.com") == nil)
    }

    @Test func ownListenersMatchLoopbackAndWildcardForms() throws {
        let listeners = OwnListeners()
        listeners.add(try #require(SocketAddress(ipLiteral: "127.0.0.1", port: 9901)))
        listeners.add(try #require(SocketAddress(ipLiteral: "0.0.0.0", port: 3128)))
        for (host, port, expected) in [
            ("127.0.0.1", 9901, true), ("127.0.0.2", 9901, true), ("::1", 9901, true), ("0.0.0.0", 9901, true),
            ("::ffff:127.0.0.1", 9901, true), ("127.0.0.1", 9902, false), ("10.255.255.1", 9901, false),
            ("127.0.0.1", 3128, true), ("::1", 3128, true), ("0.0.0.0", 3128, true), ("192.0.2.1", 3128, false),
        ] {
            let address = try #require(SocketAddress(ipLiteral: host, port: port))
            #expect(listeners.contains(address) == expected, "\(host):\(port)")
        }
    }

    @Test func admissionRefusesOwnListenersInEveryPolicy() throws {
        let listeners = OwnListeners()
        listeners.add(try #require(SocketAddress(ipLiteral: "127.0.0.1", port: 9901)))
        let admit = DestinationPolicy.routed.admission(excluding: listeners)
        #expect(admit(try #require(SocketAddress(ipLiteral: "127.0.0.1", port: 9901))) != nil)
        #expect(admit(try #require(SocketAddress(ipLiteral: "127.0.0.1", port: 9902))) == nil)
    }

    /// RFC 6761 §6.3: `localhost` names resolve to loopback without asking DNS.
    @Test(arguments: ["localhost", "LOCALHOST", "api.localhost", "a.b.localhost."])
    func resolverAnswersLocalhostNamesLocally(_ name: String) throws {
        #expect(AddressScope.isLocalhostName(name))
        let loop = EventLoopGroup(count: 1).loops[0]
        let answer = Mutex<[String]?>(nil)
        let done = DispatchSemaphore(value: 0)
        Resolver.resolve(host: name, port: 8080, on: loop) { result in
            answer.withLock { $0 = (try? result.get())?.map(\.description) }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(answer.withLock { $0 } == ["127.0.0.1:8080", "[::1]:8080"])
    }

    @Test func resolverLeavesOtherNamesToDNS() {
        #expect(!AddressScope.isLocalhostName("localhost.example.com"))
        #expect(!AddressScope.isLocalhostName("notlocalhost"))
    }

    /// A connection whose every resolved address is refused fails with `destinationRefused`, before any
    /// connect: the check is on the address, so a name resolving into a refused range is caught too.
    @Test func connectionRefusesResolvedAddress() throws {
        let loop = EventLoopGroup(count: 1).loops[0]
        let delegate = RecordingDelegate()
        let connection = TCPConnection(
            connectingTo: "api.localhost", port: 9, loop: loop, connectTimeout: .seconds(5),
            admission: DestinationPolicy.redirect.admission(excluding: OwnListeners()))
        connection.delegate = delegate
        loop.execute { connection.start() }
        #expect(delegate.closed.wait(timeout: .now() + 5) == .success)
        #expect(delegate.closeError?.code == .destinationRefused)
        #expect(delegate.ready == false)
    }
}
