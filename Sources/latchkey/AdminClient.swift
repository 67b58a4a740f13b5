import Dispatch
import Foundation
import LatchkeyAdmin
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import LatchkeyProxy

/// Talks to a running proxy's admin listener (for `connect` and `disconnect`), through the proxy's own
/// HTTP client.
struct AdminClient {
    let base: EndpointURL
    /// Its own client: the admin listener is exactly what the proxy's token client must never reach.
    private let http = UpstreamHTTPClient(
        loop: EventLoop(label: "latchkey.admin-client", backend: .dispatch), ownListeners: OwnListeners())

    /// The admin listener named by the config file (only `admin:` is read: an operator's shell need not have
    /// the service's secrets); it must have a fixed port.
    init(configPath: String) throws {
        let admin: ListenAddress?
        do {
            admin = try ConfigLoader.adminAddress(path: configPath)
        } catch {
            throw CLIError("\(error)")
        }
        guard let admin, admin.port != 0 else {
            throw CLIError("the config has no admin listener with a fixed port (admin: HOST:PORT); the running proxy is reached through it")
        }
        base = EndpointURL(scheme: "http", host: AdminAddress.reachableHost(admin.host), port: admin.port)
    }

    /// Sends `method path` with `X-Latchkey-Admin: 1`, which the consent endpoints require of a POST
    /// (a header a cross-site page cannot send without a CORS preflight).
    func send(_ method: String, _ path: String, timeout: Duration = .seconds(30)) throws -> TokenEndpointResponse {
        var url = base
        url.path = path
        let request = TokenEndpointRequest(
            method: method, url: url, headers: [("Accept", "application/json"), ("X-Latchkey-Admin", "1")], body: [], tls: TLSSettings(), timeout: timeout)
        let done = DispatchSemaphore(value: 0)
        let outcome = LockedBox<Result<TokenEndpointResponse, NetworkFailure>?>(nil)
        http.send(request) { result in
            outcome.set(result)
            done.signal()
        }
        done.wait()
        switch outcome.get()! {
        case .success(let response): return response
        case .failure(let failure):
            throw CLIError("cannot reach the proxy's admin listener at \(base): \(failure.reason) (is `latchkey run` running?)")
        }
    }

    /// The `/connections` entry for `name`.
    func connection(_ name: String) throws -> [String: Any] {
        let response = try send("GET", "/connections")
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        let list = json?["connections"] as? [[String: Any]] ?? []
        guard let entry = list.first(where: { $0["name"] as? String == name }) else {
            throw CLIError("the running proxy has no connection named \(name)")
        }
        return entry
    }
}

/// A command-line failure with a message for the user.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A value handed from a callback queue to a waiting thread.
final class LockedBox<Value>: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
    func get() -> Value { lock.withLock { value } }
}
