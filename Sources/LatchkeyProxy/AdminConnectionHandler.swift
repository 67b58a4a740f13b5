import LatchkeyNet

/// Serves the connections accepted on the admin listener. The proxy only binds that listener (it shares
/// the loops, the connection cap and the own-listener guard); what is spoken on it belongs to a layer
/// above, which the composition root hands to `ProxyServer.start(admin:)`.
public protocol AdminConnectionHandler: Sendable {
    /// Takes over `connection`, just accepted, on its loop: starts it, and closes it in the end.
    func serve(_ connection: TCPConnection)
}
