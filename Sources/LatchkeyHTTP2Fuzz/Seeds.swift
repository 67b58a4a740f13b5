#if canImport(Glibc)
import Glibc
#endif
import LatchkeyHTTP

/// The seed corpus (Tests/LatchkeyHTTPTests/HTTP2FuzzCorpus): real frames made by real sessions, each file
/// the role byte followed by what the other side sent, so the fuzzer starts from valid HPACK and framing.
func writeSeeds(to directory: String) {
    // Even first byte: frames a client sent (without the preface, which the harness adds).
    write(directory, "client-post-trailers", 0x02, clientFrames { client in
        let stream = try client.submitRequest(
            HTTP2RequestHead(
                method: "POST", scheme: "https", authority: "grpc.example", path: "/pkg.Svc/Call",
                headers: ["content-type": "application/grpc", "te": "trailers", "authorization": "Bearer x"]),
            endStream: false)
        client.sendData(stream: stream, [0, 0, 0, 0, 3, 1, 2, 3])
        client.endStream(stream: stream, trailers: ["x-checksum": "1"])
    })
    write(directory, "client-two-gets-reset", 0x10, clientFrames { client in
        let get = HTTP2RequestHead(method: "GET", scheme: "http", authority: "a", path: "/x?y=1", headers: ["cookie": "a=1"])
        _ = try client.submitRequest(get, endStream: true)
        let second = try client.submitRequest(get, endStream: true)
        client.resetStream(stream: second, code: .cancel)
        client.ping()
        client.goAway(code: .noError)
    })
    // Odd first byte: frames a server sent in answer to the harness's request on stream 1.
    write(directory, "server-response-trailers", 0x01, serverFrames { server, stream in
        try server.submitInterimResponse(stream: stream, HTTPResponseHead(status: 103, headers: ["link": "</a>"]))
        try server.submitResponse(stream: stream, HTTPResponseHead(status: 200, headers: ["content-type": "text/plain"]), endStream: false)
        server.sendData(stream: stream, Array("hello".utf8))
        server.endStream(stream: stream, trailers: ["grpc-status": "0"])
    })
    write(directory, "server-goaway", 0x03, serverFrames { server, _ in
        server.goAway(code: .enhanceYourCalm, debug: "calm")
    })
}

private func clientFrames(_ body: (HTTP2Session) throws -> Void) -> [UInt8] {
    guard let client = try? HTTP2Session(role: .client) else { return [] }
    var output: [UInt8] = []
    var events: [HTTP2Event] = []
    try? body(client)
    try? client.send(into: &output, events: &events)
    return Array(output.dropFirst(24))  // the preface; the harness adds it
}

private func serverFrames(_ body: (HTTP2Session, Int32) throws -> Void) -> [UInt8] {
    guard let client = try? HTTP2Session(role: .client), let server = try? HTTP2Session(role: .server) else { return [] }
    var toServer: [UInt8] = []
    var events: [HTTP2Event] = []
    let stream = (try? client.submitRequest(
        HTTP2RequestHead(method: "POST", scheme: "https", authority: "a.example", path: "/"), endStream: false)) ?? 1
    try? client.send(into: &toServer, events: &events)
    try? server.receive(toServer, into: &events)
    try? body(server, stream)
    var output: [UInt8] = []
    try? server.send(into: &output, events: &events)
    return output
}

private func write(_ directory: String, _ name: String, _ role: UInt8, _ frames: [UInt8]) {
    let path = directory + "/" + name
    guard let file = fopen(path, "wb") else {
        print("cannot write \(path)")
        exit(2)
    }
    let bytes = [role] + frames
    _ = fwrite(bytes, 1, bytes.count, file)
    fclose(file)
    print("wrote \(path) (\(bytes.count) bytes)")
}
