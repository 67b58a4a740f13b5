import LatchkeyConfig
import LatchkeyNet
import LatchkeyTLS

/// One connection to Redis, confined to its event loop: commands are pipelined in order and replies
/// matched first in, first out. hiredis only encodes and decodes (`RedisCommand`, `RedisReplyReader`);
/// the bytes travel over Latchkey's own `TCPConnection`, wrapped in a `TLSStream` for `rediss://`.
///
/// Failure policy (the store must never hold a request up): connect and every command are bounded by
/// `timeout_ms`; a timeout or a lost connection fails every pending command and closes the connection
/// (replies would be out of step); for `retryPause` afterwards commands fail at once, then the next one
/// reconnects. `AUTH` and `SELECT` are pipelined ahead of the first command on each connection.
final class RedisConnection: ByteStreamDelegate, @unchecked Sendable {  // confined to `loop`
    enum State {
        case idle
        case connecting(any ByteStream)
        case ready(any ByteStream)
        /// The last connection failed; commands fail with `error` until `until`.
        case paused(until: ContinuousClock.Instant, error: RedisError)
    }

    struct Pending {
        var command: String
        var completion: (Result<RedisReply, RedisError>) -> Void
    }

    static let retryPause = Duration.seconds(1)
    let loop: EventLoop
    let settings: SharedStoreSettings
    let tlsContext: TLSClientContext?
    /// Told on the loop whenever the connection comes up (nil) or fails (the error).
    let onHealth: (RedisError?) -> Void
    private(set) var state: State = .idle
    private var pending: [Pending] = []
    private var unsent: [UInt8] = []
    private var reader = RedisReplyReader()
    private var timer: LoopTimer?

    init(loop: EventLoop, settings: SharedStoreSettings, tlsContext: TLSClientContext?, onHealth: @escaping (RedisError?) -> Void) {
        self.loop = loop
        self.settings = settings
        self.tlsContext = tlsContext
        self.onHealth = onHealth
    }

    private var timeout: Duration { .milliseconds(settings.timeoutMs) }

    /// Sends `command`; `completion` runs on the loop with the reply (an error reply is a `.success(.error)`)
    /// or why there is none.
    func send(_ command: RedisCommand, completion: @escaping (Result<RedisReply, RedisError>) -> Void) {
        loop.assertInLoop()
        switch state {
        case .paused(let until, let error):
            if ContinuousClock.now < until { return completion(.failure(error)) }
            state = .idle
            return send(command, completion: completion)
        case .idle:
            connect()
            return send(command, completion: completion)
        case .connecting:
            unsent += command.bytes
        case .ready(let stream):
            stream.write(command.bytes)
        }
        pending.append(Pending(command: command.name, completion: completion))
        armTimer()
    }

    private func connect() {
        let tcp = TCPConnection(connectingTo: settings.host, port: settings.port, loop: loop, connectTimeout: timeout)
        var stream: any ByteStream = tcp
        if let tlsContext {
            do {
                stream = try TLSStream(underlying: tcp, context: tlsContext, serverName: settings.host)
            } catch {
                let failure = RedisError(.unavailable, "TLS: \(error)")
                state = .paused(until: ContinuousClock.now + Self.retryPause, error: failure)
                onHealth(failure)
                return
            }
        }
        state = .connecting(stream)
        reader = RedisReplyReader()
        stream.delegate = self
        for command in handshake() {
            unsent += command.bytes
            pending.append(Pending(command: command.name) { [weak self] result in
                if case .success(.error(let message)) = result {
                    // Never echo the server's words about a password: they can quote the command.
                    let reason = message.split(separator: " ").first.map(String.init) ?? "ERR"
                    self?.fail(RedisError(.refused, "\(command.name) refused (\(reason)): check shared_store username/password and the database"))
                }
            })
        }
        stream.start()
    }

    /// `AUTH` (with the ACL user when set) and `SELECT`, sent ahead of everything on a new connection.
    private func handshake() -> [RedisCommand] {
        var commands: [RedisCommand] = []
        if let password = settings.password {
            let words = settings.username.map { ["AUTH", $0, password.value] } ?? ["AUTH", password.value]
            commands.append(RedisCommand(words.map { Array($0.utf8) }))
        }
        if settings.database != 0 { commands.append(RedisCommand("SELECT", "\(settings.database)")) }
        return commands
    }

    /// The oldest pending command has `timeout` to be answered; replies reset the clock.
    private func armTimer() {
        guard timer == nil, !pending.isEmpty else { return }
        timer = loop.schedule(after: timeout) { [weak self] in
            guard let self else { return }
            self.timer = nil
            let name = self.pending.first?.command ?? "connect"
            self.fail(RedisError(.timeout, "no reply to \(name) within \(self.settings.timeoutMs) ms from \(self.settings.displayURL)"))
        }
    }

    /// Closes the connection, fails every pending command with `error`, and pauses.
    private func fail(_ error: RedisError) {
        let stream: (any ByteStream)?
        switch state {
        case .connecting(let s), .ready(let s): stream = s
        default: stream = nil
        }
        state = .paused(until: ContinuousClock.now + Self.retryPause, error: error)
        timer?.cancel()
        timer = nil
        unsent = []
        let failed = pending
        pending = []
        stream?.delegate = nil
        stream?.close()
        onHealth(error)
        for entry in failed { entry.completion(.failure(error)) }
    }

    // MARK: ByteStreamDelegate

    func streamDidBecomeReady(_ stream: any ByteStream) {
        state = .ready(stream)
        if !unsent.isEmpty {
            stream.write(unsent)
            unsent = []
        }
        onHealth(nil)
    }

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        do throws(RedisError) {
            try reader.feed(bytes)
            while let reply = try reader.next() {
                guard !pending.isEmpty else { throw RedisError(.protocolError, "a reply nobody asked for") }
                let entry = pending.removeFirst()
                timer?.cancel()
                timer = nil
                armTimer()
                entry.completion(.success(reply))
                guard case .ready = state else { return }  // the completion failed the connection
            }
        } catch {
            fail(error)
        }
    }

    func streamDidReachEOF(_ stream: any ByteStream) {
        fail(RedisError(.unavailable, "\(settings.displayURL) closed the connection"))
    }

    func streamDidDrainWrites(_ stream: any ByteStream) {}

    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        fail(RedisError(.unavailable, "\(settings.displayURL): \(error.map { "\($0)" } ?? "connection closed")"))
    }
}
