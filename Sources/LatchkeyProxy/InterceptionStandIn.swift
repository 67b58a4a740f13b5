// TEMPORARY stand-in for the ca part's API (branch wt-ca); deleted when wt-ca is merged.
import LatchkeyConfig
import LatchkeyNet
import LatchkeyTLS

public final class InterceptionAuthority: @unchecked Sendable {
    public init() {}
    public func cachedContext(forHost host: String) -> TLSServerContext? { nil }
    public func context(
        forHost host: String, on loop: EventLoop, _ completion: @escaping (Result<TLSServerContext, TLSError>) -> Void
    ) {
        completion(.failure(TLSError(.configuration, "stand-in")))
    }
}

extension TLSStream {
    convenience init(
        underlying: any ByteStream, context: TLSServerContext, requiredServerName: String, underlyingIsReady: Bool
    ) throws(TLSError) {
        try self.init(underlying: underlying, context: context, underlyingIsReady: underlyingIsReady)
    }
}

extension RouteSettings {
    var intercept: Bool { true }
}
