/// One decoded RESP reply (Redis serialization protocol, RESP2), copied out of hiredis's objects so that
/// nothing above this module holds a C pointer.
public enum RedisReply: Sendable, Equatable {
    /// A bulk string: binary-safe bytes.
    case bulk([UInt8])
    /// A simple status such as `OK` or `PONG`.
    case status(String)
    /// An error reply (`-ERR ...`, `-NOAUTH ...`): the server refused the command.
    case error(String)
    case integer(Int64)
    /// A nil bulk string or array: e.g. `GET` of a missing key, `SET NX` that did not set.
    case null
    case array([RedisReply])
}
