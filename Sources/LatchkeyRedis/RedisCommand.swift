import CHiredis

/// A Redis command encoded as RESP by hiredis (`redisFormatCommandArgv`, binary-safe arguments).
public struct RedisCommand: Sendable {
    /// The wire bytes.
    let bytes: [UInt8]
    /// The command name, for logs and errors (never the arguments: they may be secrets or records).
    public let name: String

    /// `arguments[0]` is the command name.
    public init(_ arguments: [[UInt8]]) {
        precondition(!arguments.isEmpty)
        name = String(decoding: arguments[0], as: UTF8.self)
        // hiredis wants C pointers to every argument at once: copy them into one buffer first.
        let lengths = arguments.map(\.count)
        let joined = arguments.flatMap { $0 }
        var out: UnsafeMutablePointer<CChar>?
        let length = joined.withUnsafeBufferPointer { buffer -> Int32 in
            let base = UnsafeRawPointer(buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            var offset = 0
            var pointers: [UnsafePointer<CChar>?] = []
            for count in lengths {
                pointers.append((base + offset).assumingMemoryBound(to: CChar.self))
                offset += count
            }
            return redisFormatCommandArgv(&out, Int32(arguments.count), &pointers, lengths)
        }
        precondition(length >= 0, "redisFormatCommandArgv: out of memory")
        bytes = Array(UnsafeRawBufferPointer(start: out, count: Int(length)))
        redisFreeCommand(out)
    }

    /// Arguments given as strings.
    public init(_ arguments: String...) { self.init(arguments.map { Array($0.utf8) }) }
}
