import Foundation
import LatchkeyAuth
import Synchronization

/// A token endpoint in memory. With a `responder` it answers synchronously (inline, from the caller's
/// queue); without one it holds requests until the test completes them.
final class FakeTokenClient: TokenEndpointClient {
    typealias Completion = @Sendable (Result<TokenEndpointResponse, NetworkFailure>) -> Void
    typealias Responder = @Sendable (TokenEndpointRequest, Int) -> Result<TokenEndpointResponse, NetworkFailure>
    private struct State {
        var requests: [TokenEndpointRequest] = []
        var held: [Completion] = []
        var responder: Responder?
    }
    private let state = Mutex(State())

    init(responder: Responder? = nil) { state.withLock { $0.responder = responder } }

    func setResponder(_ responder: Responder?) { state.withLock { $0.responder = responder } }

    func send(_ request: TokenEndpointRequest, completion: @escaping Completion) {
        let (responder, index) = state.withLock { s -> (Responder?, Int) in
            s.requests.append(request)
            if s.responder == nil { s.held.append(completion) }
            return (s.responder, s.requests.count)
        }
        if let responder { completion(responder(request, index)) }
    }

    var requests: [TokenEndpointRequest] { state.withLock { $0.requests } }
    var requestCount: Int { state.withLock { $0.requests.count } }
    var heldCount: Int { state.withLock { $0.held.count } }

    /// Completes the oldest held request.
    func completeNext(_ result: Result<TokenEndpointResponse, NetworkFailure>) {
        let completion = state.withLock { $0.held.isEmpty ? nil : $0.held.removeFirst() }
        completion?(result)
    }

    // Canned responses.
    static func token(_ token: String, expiresIn: Any? = 3600, type: String = "Bearer") -> Result<TokenEndpointResponse, NetworkFailure> {
        var json: [String: Any] = ["access_token": token, "token_type": type]
        if let expiresIn { json["expires_in"] = expiresIn }
        return .success(json200(json))
    }

    static func providerError(_ error: String, _ description: String, status: Int = 401) -> Result<TokenEndpointResponse, NetworkFailure> {
        .success(jsonResponse(status, ["error": error, "error_description": description]))
    }

    static func json200(_ object: [String: Any]) -> TokenEndpointResponse { jsonResponse(200, object) }

    static func jsonResponse(_ status: Int, _ object: [String: Any]) -> TokenEndpointResponse {
        let data = try! JSONSerialization.data(withJSONObject: object)
        return TokenEndpointResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(data))
    }
}

extension TokenEndpointRequest {
    /// The form body decoded into pairs (for assertions).
    var formPairs: [(String, String)] {
        String(decoding: body, as: UTF8.self).split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            func decode(_ s: String) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? s }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }
    func form(_ name: String) -> String? { formPairs.first { $0.0 == name }?.1 }
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
}
