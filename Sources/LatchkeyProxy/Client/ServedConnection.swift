import LatchkeyNet

/// A client connection as the server's registry sees it (HTTP/1.1 `ClientConnection` or
/// `HTTP2ClientConnection`): counted while open and told when a graceful shutdown starts.
/// Every requirement is used on `loop`.
protocol ServedConnection: AnyObject {
    var loop: EventLoop { get }
    /// Shutdown: close now if idle, else after the requests in flight are answered.
    func drain()
}
