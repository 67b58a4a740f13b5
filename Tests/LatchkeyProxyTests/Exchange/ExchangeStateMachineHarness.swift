import Foundation
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet

@testable import LatchkeyProxy

/// A credential source whose tokens can be renewed after a 401 (like OAuth), counting invalidations.
final class RenewingCredentialSource: CredentialSource, @unchecked Sendable {  // only touched by one test
    let connectionName: String
    var invalidated: [InjectedCredential] = []
    init(connectionName: String) { self.connectionName = connectionName }
    func currentCredential(for key: CredentialKey) -> InjectedCredential?? {
        .some(InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer t")))
    }
    func fetchCredential(
        for key: CredentialKey, timeout: Duration,
        completion: @escaping @Sendable (Result<InjectedCredential?, CredentialError>) -> Void
    ) {}
    func invalidate(_ credential: InjectedCredential, for key: CredentialKey) { invalidated.append(credential) }
    var renewsOnRejection: Bool { true }
}

/// Steps an `ExchangeStateMachine` one event at a time on a manual clock: no sockets, no timers, no sleeps.
struct ExchangeStateMachineHarness {
    static let token = InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer t"))

    var machine: ExchangeStateMachine
    let start = ExchangeInstant(nanoseconds: 1_000_000_000_000)
    var now: ExchangeInstant

    /// A route `api` for `api.example` (upstream http://127.0.0.1:8089) with a bearer connection whose
    /// source renews on rejection when `renewing`, and a route `other` for `other.example` with another
    /// connection. `configure` adjusts the `api` route; `fields` are added to the request head.
    init(
        method: String = "GET", target: String = "http://api.example/v1/items", framing: HTTPBodyFraming = .none,
        fields extraFields: [(String, String)] = [],
        renewing: Bool = false, jitter: Double = 0.5, wallClock: Date = Date(timeIntervalSince1970: 1_000_000),
        configure: (inout RouteSettings) -> Void = { _ in }
    ) {
        var api = RouteSettings(
            name: "api", host: HostPattern(name: .exact("api.example")), connection: "api",
            upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8089), timeoutMs: 1_000)
        configure(&api)
        let other = RouteSettings(
            name: "other", host: HostPattern(name: .exact("other.example")), connection: "other",
            upstream: UpstreamURL(scheme: "http", host: "127.0.0.2", port: 8090))
        let configuration = ProxyConfiguration(
            sourcePath: "test.conf", unmatched: .passthrough,
            connections: [
                ConnectionSettings(name: "api", kind: .bearer(token: SecretString("t"))),
                ConnectionSettings(name: "other", kind: .bearer(token: SecretString("o"))),
            ],
            routes: [api, other])
        let runtime = try! ProxyRuntime(configuration: configuration) { settings -> any CredentialSource in
            renewing && settings.name == "api"
                ? RenewingCredentialSource(connectionName: settings.name) : StaticCredentialSource(settings: settings, scrubber: SecretScrubber())
        }
        var fields: [(String, String)] = [("Host", "api.example")]
        switch framing {
        case .contentLength(let length): fields.append(("Content-Length", String(length)))
        case .chunked: fields.append(("Transfer-Encoding", "chunked"))
        case .none, .untilClose: break
        }
        fields += extraFields
        let head = HTTPRequestHead(method: method, target: target, headers: HTTPHeaders(fields))
        guard case .forward(let plan) = RequestRewrite.plan(head, runtime: runtime, framing: framing) else {
            fatalError("the test request must be forwarded")
        }
        now = start
        machine = ExchangeStateMachine(
            plan: plan, requestHead: head, framing: framing, runtime: runtime, random: { jitter },
            wallClock: { wallClock })
    }

    mutating func step(_ event: ExchangeStateMachine.Event) -> ExchangeStateMachine.Action {
        machine.event(event, now: now)
    }

    mutating func advance(_ duration: Duration) { now = now + duration }

    /// `.start`, the credential and the connection: the request head is about to go out.
    mutating func startAndConnect() -> ExchangeStateMachine.Action {
        _ = step(.start)
        _ = step(.credentialReady(Self.token))
        return step(.upstreamReady)
    }

    /// Starts and sends the request, then answers with `status`.
    mutating func answer(_ status: Int, _ fields: [(String, String)] = []) -> ExchangeStateMachine.Action {
        step(.responseHead(HTTPResponseHead(status: status, headers: HTTPHeaders(fields)), .contentLength(0)))
    }
}

/// Action names, so that tests can compare without caring for payloads.
extension ExchangeStateMachine.Action {
    var name: String {
        switch self {
        case .none: "none"
        case .lookUpCredential: "lookUpCredential"
        case .connect: "connect"
        case .sendRequest: "sendRequest"
        case .sendBody: "sendBody"
        case .sendEnd: "sendEnd"
        case .waitToRetry: "waitToRetry"
        case .forwardInterim: "forwardInterim"
        case .startResponse: "startResponse"
        case .forwardBody: "forwardBody"
        case .finishResponse: "finishResponse"
        case .fail: "fail"
        case .abortResponse: "abortResponse"
        case .cancelled: "cancelled"
        case .switchProtocols: "switchProtocols"
        case .finishTunnel: "finishTunnel"
        }
    }

    var error: ProxyError? {
        if case .fail(let error, _) = self { return error }
        return nil
    }

    var sentBody: [[UInt8]]? {
        if case .sendRequest(let body, _, _) = self { return body }
        return nil
    }

    var responseStatus: Int? {
        if case .startResponse(let head, _) = self { return head.status }
        return nil
    }
}
