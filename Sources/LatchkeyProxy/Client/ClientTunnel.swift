/// What a client connection hands its bytes to after a CONNECT was answered: a `Tunnel` (bytes to the
/// destination, untouched) or an `InterceptionHandoff` (the client's TLS handshake, held until the leaf
/// certificate is ready). Called on the client's loop only.
protocol ClientTunnel: AnyObject {
    /// Bytes the client sent after the CONNECT head.
    func clientSent(_ bytes: [UInt8])
    /// The client closed its writing side.
    func clientReachedEOF()
    /// The client's write buffer drained (back-pressure released).
    func clientDrained()
    /// The client connection closed, or the proxy shuts it: release everything.
    func close()
}

extension Tunnel: ClientTunnel {}
