// libFuzzer harness for the entry of TLS interception: a CONNECT head followed by whatever the client sends
// (normally its ClientHello). Built by scripts/fuzz with -DFUZZING and -sanitize=fuzzer (libFuzzer supplies
// main). A plain `swift build` compiles it without FUZZING, as a small executable that replays input files.
//
// Seeds: Tests/LatchkeyProxyTests/InterceptFuzzCorpus (real ClientHellos with the origin's SNI, another
// host's, a trailing dot, none, TLS 1.2 only; and plain HTTP where TLS was expected).
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyAuth
import LatchkeyProxy
import LatchkeyTLS
import LatchkeyFuzzSupport

let origin = InterceptedOrigin(host: "api.fuzz", port: 443)

/// A CA made for this harness only (not a secret: it signs nothing but the fuzzer's leaf, valid for 100 years
/// so the harness never expires). Embedded rather than made at start: `Foundation.Process` leaks under LSan.
let caCertificatePEM = """
-----BEGIN CERTIFICATE-----
MIIByTCCAXCgAwIBAgIUTWwBsDAQobOnTjI91Zi7Vwd9ZPgwCgYIKoZIzj0EAwIw
MDEuMCwGA1UEAwwlTGF0Y2hrZXkgZnV6eiBoYXJuZXNzIENBIChub3Qgc2VjcmV0
KTAgFw0yNjEyMDQwMDExMDFaGA8yMTI2MTExMDAwMTEwMVowMDEuMCwGA1UEAwwl
TGF0Y2hrZXkgZnV6eiBoYXJuZXNzIENBIChub3Qgc2VjcmV0KTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABIT0d6UF5SRDUmcLMm8dqqXpIwtT/S3zSPA5VMm64EqK
IZQPGa+K5dAKaK20o5hkgpB4wcc5A54eVfg2p5uueiCjZjBkMB0GA1UdDgQWBBRR
vXVs6TvLkKFbveSH7SxxvhBleTAfBgNVHSMEGDAWgBRRvXVs6TvLkKFbveSH7Sxx
vhBleTASBgNVHRMBAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBBjAKBggqhkjO
PQQDAgNHADBEAiBoDb6wNttpjC97NiKyR+cHQ+AkstMKYuy8uigRMJoVtwIgezMS
D4EesfR/oLmTuZZQp5bHL95UZTE0qa8XepLs4Zc=
-----END CERTIFICATE-----
"""
let caKeyPEM = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3TQg0kiUnTSPFza6
zYcN9GOD3Ia+r1REJm1Gv7K1R2qhRANCAASE9HelBeUkQ1JnCzJvHaql6SMLU/0t
80jwOVTJuuBKiiGUDxmviuXQCmittKOYZIKQeMHHOQOeHlX4Nqebrnog
-----END PRIVATE KEY-----
"""
let authority = try! InterceptionAuthority(
    certificatePEM: Array(caCertificatePEM.utf8), keyPEM: Array(caKeyPEM.utf8), leafValidity: .seconds(3600))
let context = try! authority.context(forHost: origin.host)

/// Routes for the origin (`fuzz`) and another host (`other`, whose credential must never be used here).
let runtime: ProxyRuntime = {
    let configuration = ProxyConfiguration(
        sourcePath: "fuzz.conf", unmatched: .passthrough,
        connections: [
            ConnectionSettings(name: "fuzz", kind: .bearer(token: SecretString("fuzz-token"))),
            ConnectionSettings(name: "other", kind: .bearer(token: SecretString("other-token"))),
        ],
        routes: [
            RouteSettings(
                name: "fuzz", host: HostPattern(name: .exact("api.fuzz")), connection: "fuzz",
                upstream: UpstreamURL(scheme: "https", host: "api.fuzz", port: 443)),
            RouteSettings(
                name: "other", host: HostPattern(name: .exact("other.fuzz")), connection: "other",
                upstream: UpstreamURL(scheme: "https", host: "other.fuzz", port: 443)),
            RouteSettings(
                name: "hostless", pathPrefix: "/", connection: "other",
                upstream: UpstreamURL(scheme: "https", host: "internal.fuzz", port: 443)),
        ])
    return try! ProxyRuntime(configuration: configuration, interception: authority) { settings in
        StaticCredentialSource(settings: settings, scrubber: SecretScrubber())
    }
}()
let connectHead = Array("CONNECT api.fuzz:443 HTTP/1.1\r\nHost: api.fuzz:443\r\n\r\n".utf8)

/// The outcome of feeding bytes to a server engine, compared across splits.
enum HandshakeOutcome: Equatable {
    case waiting(answered: Bool)
    case failed(serverNameRefused: Bool)
    case complete
}

/// Runs one input:
/// 1. CONNECT head + input through the request parser, whole and split at an input-derived offset: exactly
///    one CONNECT head (and its end) and no other event, and `takeTunnelBytes()` returns the input exactly (no byte is
///    lost, and none is taken for HTTP).
/// 2. The input to a server `TLSEngine` for the origin's leaf with `requiredServerName`, whole and in two
///    pieces: no crash, the same outcome both ways, never a completed handshake (the input cannot hold a
///    client Finished for this server's fresh key exchange), and an SNI refused only when it names
///    another host.
/// 3. The input as HTTP inside the tunnel (`planIntercepted`): a request is forwarded only if its Host names
///    the origin, and then only to the origin's route or its host.
func fuzzOne(_ data: UnsafeRawBufferPointer) {
    let input = Array(data)
    let split = input.isEmpty ? 0 : (Int(input[input.count / 2]) * 7919 + input.count) % (input.count + 1)

    // 1. The CONNECT entry.
    for pieces in [[connectHead + input], [connectHead + input[..<split], Array(input[split...])]] {
        var parser = HTTP1RequestParser(limits: HTTP1Limits())
        var events: [HTTP1RequestEvent] = []
        for piece in pieces {
            do {
                events += try parser.feed(piece)
            } catch {
                check(false, "CONNECT head refused: \(error)")
            }
        }
        if case .end? = events.last, events.count == 2 { events.removeLast() }
        check(events.count == 1, "CONNECT: \(events)")
        guard case .head(let head, _) = events.first else { return check(false, "CONNECT: no head") }
        check(head.method == "CONNECT", "CONNECT: \(head.method)")
        let tunnel = parser.takeTunnelBytes()
        check(tunnel == input, "tunnel bytes \(tunnel.count) != input \(input.count)")
    }

    // 2. The TLS server for the origin.
    let whole = handshake([input])
    let halves = handshake([Array(input[..<split]), Array(input[split...])])
    check(whole == halves, "TLS: whole \(whole) != split at \(split) \(halves)")
    check(whole != .complete, "TLS handshake completed from client bytes alone")

    // 3. The same bytes as HTTP inside the tunnel.
    var parser = HTTP1RequestParser(limits: HTTP1Limits())
    guard let events = try? parser.feed(input) else { return }
    for case .head(let head, _) in events {
        guard case .forward(let plan) = RequestPlanner.planIntercepted(head, origin: origin, runtime: runtime) else {
            continue
        }
        let hosts = head.headers.values(for: "Host")
        check(hosts.count == 1, "forwarded with \(hosts.count) Host fields")
        let named = HostHeader.parse(hosts[0], defaultPort: 443)
        check(named?.host == origin.host && named?.port == origin.port, "forwarded with Host \(hosts[0])")
        check(plan.intercepted, "intercepted plan not marked")
        check(
            plan.routeName == "fuzz" || (plan.route == nil && plan.endpoint.host == origin.host),
            "forwarded to \(plan.endpoint.host) by route \(plan.routeName ?? "-")")
    }
}

func handshake(_ pieces: [[UInt8]]) -> HandshakeOutcome {
    let engine: TLSEngine
    do {
        engine = try TLSEngine(context: context, requiredServerName: origin.host)
    } catch {
        check(false, "engine: \(error)")
        return .complete
    }
    var answered = false
    for piece in pieces {
        engine.feedCiphertext(piece)
        let step = engine.handshake()
        answered = answered || !engine.takeCiphertext().isEmpty
        switch step {
        case .wantRead, .waitingForRevocationData: continue
        case .complete: return .complete
        case .failed:
            if let refused = engine.refusedServerName {
                let name = refused.lowercased().hasSuffix(".") ? String(refused.lowercased().dropLast()) : refused.lowercased()
                check(name != origin.host, "SNI \(refused) refused although it names the origin")
            }
            return .failed(serverNameRefused: engine.refusedServerName != nil)
        }
    }
    return .waiting(answered: answered)
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
/// Without libFuzzer: replays the files named on the command line (crash reproduction).
@main
struct ReplayMain {
    static func main() { replayFuzzInputs(CommandLine.arguments.dropFirst(), fuzzOne) }
}
#endif
