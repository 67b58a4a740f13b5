import COpenSSL

/// One TLS session (`SSL`) over a pair of memory BIOs: ciphertext goes in with `feedCiphertext`
/// and comes out with `takeCiphertext`; it never touches a socket, so tests can pair a client and a
/// server engine directly.
///
/// Not thread-safe: confine an engine to one queue (its connection's loop). After every call, drain
/// `takeCiphertext()` to the peer — handshake, reads (post-handshake messages), writes and
/// `shutdown` may all produce ciphertext.
public final class TLSEngine {
    /// Which side of the handshake this engine plays.
    public enum Role: Sendable { case client, server }

    /// Which side of the handshake this engine plays.
    public let role: Role
    /// The name or IP literal the client asked for (SNI / verification); `nil` for servers.
    public let serverName: String?
    /// Servers: the only SNI accepted (normalized, lower case), or `nil` for any.
    public let requiredServerName: String?
    /// Servers: the SNI a client sent that did not match `requiredServerName` (printable, bounded).
    public internal(set) var refusedServerName: String?
    /// True once `handshake()` has returned `.complete`.
    public private(set) var isHandshakeComplete = false

    let ssl: OpaquePointer
    private let networkToSSL: OpaquePointer  // read BIO: ciphertext fed from the peer
    private let sslToNetwork: OpaquePointer  // write BIO: ciphertext for the peer
    let contextOwner: AnyObject  // keeps the SSL_CTX (and server ALPN callback state) alive
    private let scratch: UnsafeMutableRawBufferPointer
    private var terminalRead: TLSReadResult?  // sticky `.closed` or `.failed` once reached
    private let resumption: (cache: TLSSessionCache, peer: String)?  // clients only
    /// Clients whose context checks revocation: this handshake's bookkeeping (see TLSEngine+Revocation).
    var revocation: RevocationCheck?
    let revocationServices: RevocationServices?
    /// What the last full handshake learned about revocation; nil when revocation is off or the session
    /// was resumed (nothing was verified).
    public internal(set) var revocationReport: RevocationReport?

    private static let scratchSize = 16 * 1024

    /// A client session for `serverName` (host name or IP literal, `[v6]` brackets allowed).
    ///
    /// Host names are sent as SNI and, unless the context skips verification, checked against the
    /// certificate's subjectAltName DNS entries; IP literals send no SNI (RFC 6066 §3) and are checked
    /// against its IP entries.
    ///
    /// `peer` names the server the connection goes to (e.g. `host:port`): sessions the server issues
    /// are kept in the context under that name, and the next engine for the same peer offers one, so
    /// its handshake can resume: no certificate chain is sent, signed for or verified again. `nil`
    /// disables resumption for this engine.
    public init(context: TLSClientContext, serverName: String, peer: String? = nil) throws(TLSError) {
        let name = Self.normalize(serverName)
        guard !name.isEmpty else { throw TLSError(.configuration, "empty TLS server name") }
        (ssl, networkToSSL, sslToNetwork) = try Self.makeSession(context.context)
        role = .client
        self.serverName = name
        requiredServerName = nil
        contextOwner = context
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 1)
        // Keyed by the verification name as well: a session is only offered to the name it was checked for.
        resumption = peer.map { (context.sessions, "\($0) \(name)") }
        revocationServices = context.revocationServices
        SSL_set_connect_state(ssl)
        try configurePeerName(name, verify: !context.configuration.insecureSkipVerify)
        if revocationServices != nil {
            revocation = RevocationCheck(policy: context.configuration.revocation)
            // Stapling is asked for on every handshake (RFC 6066 §8); verifyChain finds this engine
            // through the app data set below.
            _ = latchkey_SSL_request_ocsp_staple(ssl)
        }
        if resumption != nil || revocationServices != nil {
            // Unretained: the SSL is freed in this engine's deinit, so it never outlives the engine.
            _ = latchkey_SSL_set_app_data(ssl, Unmanaged.passUnretained(self).toOpaque())
            if let resumption { resumption.cache.offer(to: ssl, peer: resumption.peer) }
        }
    }

    /// A server session presenting `context`'s certificate.
    ///
    /// With `requiredServerName` (a host name or IP literal, `[v6]` brackets and a trailing dot
    /// allowed), a client whose SNI names any other host fails the handshake with a fatal
    /// `unrecognized_name` alert (RFC 6066 §3) and the engine reports `.serverNameMismatch`. The
    /// comparison is ASCII case-insensitive and ignores a trailing dot. A ClientHello without SNI is
    /// accepted: clients send none for IP literals, and the layer above still checks every request's
    /// `Host`. `nil` accepts any name.
    public init(context: TLSServerContext, requiredServerName: String? = nil) throws(TLSError) {
        let required = requiredServerName.map { Self.normalize($0).lowercased() }
        if let required, required.isEmpty { throw TLSError(.configuration, "empty required server name") }
        (ssl, networkToSSL, sslToNetwork) = try Self.makeSession(context.context)
        role = .server
        serverName = nil
        self.requiredServerName = required
        contextOwner = context
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 1)
        resumption = nil
        revocationServices = nil
        SSL_set_accept_state(ssl)
        if let identity = context.identity {
            // A minted leaf on a shared SSL_CTX: set on this SSL only (references are counted, not copied).
            ERR_clear_error()
            guard SSL_use_certificate(ssl, identity.certificate.pointer) == 1,
                SSL_use_PrivateKey(ssl, identity.key.pointer) == 1
            else {
                throw OpenSSLErrorQueue.error(.configuration, "cannot use the minted certificate")
            }
        }
        if required != nil {
            // Unretained: the SSL is freed in this engine's deinit, so it never outlives the engine.
            _ = latchkey_SSL_set_app_data(ssl, Unmanaged.passUnretained(self).toOpaque())
        }
    }

    deinit {
        SSL_free(ssl)  // frees both BIOs
        scratch.deallocate()
    }

    /// True when the handshake resumed an earlier session instead of a full key exchange.
    public var resumedSession: Bool { SSL_session_reused(ssl) == 1 }

    /// The new-session callback's way in (see `TLSClientContext`): keeps a copy of `session` for the
    /// next connection to the same peer.
    func keepSession(_ session: OpaquePointer) {
        guard let resumption else { return }
        resumption.cache.store(copyOf: session, peer: resumption.peer)
    }

    /// Makes every later step report `error`. A failed connection's peer loses its stored sessions:
    /// a fatal alert invalidates the session (RFC 5246 §7.2), and a server that failed a handshake
    /// may have changed (new certificate, new ticket keys), so the next one verifies it in full.
    private func fail(_ error: TLSError) {
        terminalRead = .failed(error)
        if let resumption { resumption.cache.forget(peer: resumption.peer) }
    }

    // MARK: Ciphertext in and out

    /// Hands ciphertext received from the peer to the session.
    public func feedCiphertext(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let chunk = Int32(min(raw.count - offset, Int(Int32.max)))
                let written = BIO_write(networkToSSL, raw.baseAddress! + offset, chunk)
                guard written > 0 else { break }  // memory BIO: only on allocation failure
                offset += Int(written)
            }
        }
    }

    /// Removes and returns all ciphertext waiting to be sent to the peer (empty when none).
    public func takeCiphertext() -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(sslToNetwork))
        guard pending > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: pending) { buffer, count in
            count = max(0, Int(BIO_read(sslToNetwork, buffer.baseAddress, Int32(pending))))
        }
    }

    // MARK: Session steps

    /// Advances the handshake with the ciphertext fed so far.
    public func handshake() -> TLSStep {
        if isHandshakeComplete { return .complete }
        if case .failed(let error) = terminalRead { return .failed(error) }
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            if let refused = finishRevocationCheck() {
                fail(refused)
                return .failed(refused)
            }
            isHandshakeComplete = true
            return .complete
        }
        let code = SSL_get_error(ssl, result)
        if code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE { return .wantRead }
        if code == SSL_ERROR_WANT_RETRY_VERIFY { return .waitingForRevocationData }
        let error = revocationFailure() ?? handshakeError()
        fail(error)
        return .failed(error)
    }

    /// Appends all plaintext that can be decrypted now to `buffer`.
    ///
    /// Returns `.data` whenever bytes were appended, even if close_notify or an error follows; those
    /// are reported by the next call (and every call after, they are sticky).
    public func readPlaintext(into buffer: inout [UInt8]) -> TLSReadResult {
        if let terminalRead { return terminalRead }
        var total = 0
        while true {
            var count = 0
            ERR_clear_error()
            let result = SSL_read_ex(ssl, scratch.baseAddress, scratch.count, &count)
            if result == 1 {
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
                total += count
                continue
            }
            switch SSL_get_error(ssl, result) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                return total > 0 ? .data(count: total) : .wantRead
            case SSL_ERROR_ZERO_RETURN:
                terminalRead = .closed
            default:
                fail(
                    isHandshakeComplete
                        ? OpenSSLErrorQueue.error(
                            .protocolError, "TLS read failed", fallback: "connection closed abruptly")
                        : handshakeError())
            }
            return total > 0 ? .data(count: total) : terminalRead!
        }
    }

    /// Encrypts all of `bytes` (the write BIO grows as needed, so this never waits for the peer).
    /// Returns `.wantRead` only if called before the handshake completed.
    public func writePlaintext(_ bytes: [UInt8]) -> TLSStep {
        if case .failed(let error) = terminalRead { return .failed(error) }
        guard !bytes.isEmpty else { return .complete }
        return bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                var written = 0
                ERR_clear_error()
                let result = SSL_write_ex(ssl, raw.baseAddress! + offset, raw.count - offset, &written)
                if result == 1 {
                    offset += written
                    continue
                }
                let code = SSL_get_error(ssl, result)
                if code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE { return .wantRead }
                let error = OpenSSLErrorQueue.error(.protocolError, "TLS write failed")
                fail(error)
                return .failed(error)
            }
            return .complete
        }
    }

    /// Queues close_notify (RFC 8446 §6.1) so the peer knows no more data follows; reading goes on.
    /// Does nothing before the handshake completed or after a failure.
    public func shutdown() {
        guard isHandshakeComplete, (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) == 0 else { return }
        if case .failed = terminalRead { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    // MARK: Negotiated parameters

    /// The ALPN protocol the server selected, or `nil` when none was negotiated.
    public var negotiatedALPN: String? {
        var data: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The protocol version in use, e.g. "TLSv1.3" (meaningful once the handshake completed).
    public var negotiatedVersion: String { String(cString: SSL_get_version(ssl)) }

    /// True once the peer's close_notify has been read.
    public var hasReceivedCloseNotify: Bool { (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0 }
}
