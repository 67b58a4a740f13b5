/// The outcome of a handshake or write step on a `TLSEngine`.
public enum TLSStep: Sendable, Equatable {
    /// Done; drain `takeCiphertext()` to the peer.
    case complete
    /// More ciphertext from the peer is needed: drain `takeCiphertext()`, then feed and call again.
    case wantRead
    /// Client handshakes in `hard` revocation mode: suspended until CRL fetches settle. Call
    /// `whenRevocationDataSettles`, then `handshake()` again on the engine's loop.
    case waitingForRevocationData
    /// The session is dead; drain `takeCiphertext()` once more (it may hold an alert), then close.
    case failed(TLSError)
}

/// The outcome of `TLSEngine.readPlaintext(into:)`.
public enum TLSReadResult: Sendable, Equatable {
    /// `count` plaintext bytes (at least one) were appended; call again later for more.
    case data(count: Int)
    /// No plaintext available until more ciphertext is fed.
    case wantRead
    /// The peer sent close_notify: it will send nothing more (orderly end of its writing side).
    case closed
    /// The session is dead (bad record, peer alert).
    case failed(TLSError)
}
