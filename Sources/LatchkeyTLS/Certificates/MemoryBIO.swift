import COpenSSL

/// A memory `BIO`, owned: freed in `deinit`. Reading BIOs copy their input, so the bytes need not
/// outlive the call that made them.
final class MemoryBIO {
    let pointer: OpaquePointer

    /// An empty BIO to write into.
    init() { pointer = BIO_new(BIO_s_mem())! }

    /// A BIO holding a copy of `bytes`, to read from.
    convenience init(reading bytes: [UInt8]) throws(TLSError) {
        self.init()
        guard bytes.isEmpty || bytes.withUnsafeBytes({ BIO_write(pointer, $0.baseAddress, Int32($0.count)) }) > 0
        else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot buffer PEM input")
        }
    }

    deinit { BIO_free(pointer) }

    /// Every PEM block `readNext` takes from `bytes`, in order (`readNext` is a `PEM_read_bio_*`, wrapped to
    /// own what it returns). The reading ends on "no start line" once the input is used up; any other
    /// OpenSSL error is a malformed block, thrown with `what` naming the source. May return none.
    static func readPEMBlocks<Block>(
        _ bytes: [UInt8], what: String, readNext: (OpaquePointer) -> Block?
    ) throws(TLSError) -> [Block] {
        ERR_clear_error()
        let bio = try MemoryBIO(reading: bytes)
        var blocks: [Block] = []
        while let block = readNext(bio.pointer) { blocks.append(block) }
        let reasons = OpenSSLErrorQueue.drain().filter { $0 != "no start line" }
        guard reasons.isEmpty else {
            throw TLSError(.configuration, "cannot read \(what): \(reasons.joined(separator: "; "))")
        }
        return blocks
    }

    /// Everything written so far.
    var contents: [UInt8] {
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = latchkey_BIO_get_mem_data(pointer, &data)
        guard let data, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
    }
}
