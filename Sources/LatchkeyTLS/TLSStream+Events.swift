import LatchkeyNet

extension TLSStream {
    // MARK: ByteStreamDelegate (events from the underlying stream)

    /// The underlying connection is up: the handshake begins.
    public func streamDidBecomeReady(_ stream: any ByteStream) {
        if state == .waitingForUnderlying { beginHandshake() }
    }

    /// Ciphertext arrived: advance the handshake or decrypt.
    public func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        switch state {
        case .waitingForUnderlying:
            engine.feedCiphertext(bytes)
            beginHandshake()
        case .handshaking:
            engine.feedCiphertext(bytes)
            if !awaitingRevocationData { advanceHandshake() }
        case .open:
            engine.feedCiphertext(bytes)
            drainPlaintext()
        case .idle, .closed:
            break
        }
    }

    /// TCP EOF: fatal during the handshake; afterwards reported as EOF (once, even after close_notify).
    public func streamDidReachEOF(_ stream: any ByteStream) {
        switch state {
        case .waitingForUnderlying, .handshaking:
            fail(TLSError(.handshake, "TLS handshake failed: connection closed by peer"))
        case .open:
            deliverEOF()
        case .idle, .closed:
            break
        }
    }

    /// Forwards drains once no plaintext is waiting for the handshake.
    public func streamDidDrainWrites(_ stream: any ByteStream) {
        guard state == .open, pendingPlaintext.isEmpty else { return }
        delegate?.streamDidDrainWrites(self)
    }

    /// The underlying stream closed: so does this one. An orderly close during the handshake is
    /// still a TLS failure for the layer above.
    public func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        var error = error
        if error == nil, state == .waitingForUnderlying || state == .handshaking {
            error = NetError(.tlsFailed, "TLS handshake failed: connection closed by peer")
        }
        finish(with: error, closingUnderlying: false)
    }

    // MARK: Internals

    func beginHandshake() {
        state = .handshaking
        advanceHandshake()
    }

    func advanceHandshake() {
        let step = engine.handshake()
        flushCiphertext()
        switch step {
        case .wantRead:
            return
        case .waitingForRevocationData:
            // The fetch settles on another thread: come back on our loop; a stream closed meanwhile stays closed.
            awaitingRevocationData = true
            let reference = LoopConfinedReference(self)
            engine.whenRevocationDataSettles { [loop] in
                loop.execute {
                    guard let stream = reference.value, stream.state == .handshaking else { return }
                    stream.awaitingRevocationData = false
                    stream.advanceHandshake()
                }
            }
        case .failed(let error):
            fail(error)
        case .complete:
            state = .open
            if readingPausedByDelegate { underlying.setReadingPaused(true) }
            if !pendingPlaintext.isEmpty {
                let bytes = pendingPlaintext
                pendingPlaintext = []
                encryptAndSend(bytes)
                guard state == .open else { return }
            }
            if writeShutdownRequested { performShutdownWriting() }
            delegate?.streamDidBecomeReady(self)
            guard state == .open else { return }
            drainPlaintext()  // application data may have arrived with the last handshake flight
        }
    }

    /// Decrypts everything available and hands it up, stopping if the delegate closes us.
    func drainPlaintext() {
        while state == .open {
            var plaintext: [UInt8] = []
            let result = engine.readPlaintext(into: &plaintext)
            flushCiphertext()  // post-handshake messages (key updates) may need answers
            if !plaintext.isEmpty {
                delegate?.stream(self, didRead: plaintext)
            }
            switch result {
            case .data:
                continue
            case .wantRead:
                return
            case .closed:
                deliverEOF()
                return
            case .failed(let error):
                fail(error)
                return
            }
        }
    }

    func deliverEOF() {
        guard state == .open, !deliveredEOF else { return }
        deliveredEOF = true
        delegate?.streamDidReachEOF(self)
    }

    func encryptAndSend(_ bytes: [UInt8]) {
        let step = engine.writePlaintext(bytes)
        flushCiphertext()
        if case .failed(let error) = step { fail(error) }
    }

    func performShutdownWriting() {
        engine.shutdown()
        flushCiphertext()
        underlying.shutdownWriting()
    }

    func flushCiphertext() {
        let ciphertext = engine.takeCiphertext()
        if !ciphertext.isEmpty { underlying.write(ciphertext) }
    }

    /// Sends whatever alert the engine queued, then closes with `.tlsFailed`.
    func fail(_ error: TLSError) {
        guard state != .closed else { return }
        flushCiphertext()
        finish(with: NetError(.tlsFailed, error.description))
    }

    func finish(with error: NetError?, closingUnderlying: Bool = true) {
        guard state != .closed else { return }
        withExtendedLifetime(self) {
            state = .closed
            pendingPlaintext = []
            let delegate = self.delegate
            self.delegate = nil
            if closingUnderlying {
                underlying.delegate = nil
                underlying.close()
            }
            delegate?.stream(self, didCloseWith: error)
        }
    }
}

/// A weak reference to a loop-confined object, carried across threads only to be dereferenced back on that loop.
final class LoopConfinedReference<Value: AnyObject>: @unchecked Sendable {
    // @unchecked Sendable: `value` is read only on the owning loop (the closure hops there first).
    weak var value: Value?
    init(_ value: Value) { self.value = value }
}
