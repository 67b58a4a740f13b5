import Testing

@testable import LatchkeyHTTP

/// The word-at-a-time checks against their byte-by-byte definitions, for every byte in every lane.
@Suite struct ByteWordsTests {
    private func word(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    @Test func nonVisibleASCIIIsFoundInAnyLaneForEveryByte() {
        for lane in 0..<8 {
            for byte in 0...255 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[lane] = UInt8(byte)
                let plain = byte == 0x20 || (byte > 0x20 && byte < 0x7F)
                #expect(ByteWords.hasNonVisibleASCII(word(bytes)) == !plain, "byte \(byte) in lane \(lane)")
            }
        }
    }

    @Test func aNameRunEndsAtTheFirstByteNotALetterDigitOrHyphenForEveryByte() {
        func isLetterDigitOrHyphen(_ byte: UInt8) -> Bool {
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2D
        }
        for lane in 0..<8 {
            for byte in 0...255 {
                // The byte among letters, then among bytes that would each end the run themselves (a high
                // byte's carry must not move the end earlier or later).
                for filler in [UInt8(ascii: "Z"), UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "a")] {
                    var bytes = [UInt8](repeating: filler, count: 8)
                    bytes[lane] = UInt8(byte)
                    let expected = isLetterDigitOrHyphen(UInt8(byte)) ? 8 : lane
                    #expect(
                        ByteWords.leadingLettersDigitsHyphens(word(bytes)) == expected,
                        "byte \(byte) in lane \(lane) among \(filler)")
                }
                var stops = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                stops[lane] = UInt8(byte)
                if lane + 1 < 8 { stops[lane + 1] = UInt8(ascii: ":") }
                let expected = isLetterDigitOrHyphen(UInt8(byte)) ? lane + 1 : lane
                #expect(ByteWords.leadingLettersDigitsHyphens(word(stops)) == min(expected, 8), "byte \(byte) before a colon")
            }
        }
        #expect(ByteWords.leadingLettersDigitsHyphens(word(Array("Host: h1".utf8))) == 4)
        #expect(ByteWords.leadingLettersDigitsHyphens(word(Array("X_Y: abc".utf8))) == 1)
        #expect(ByteWords.leadingLettersDigitsHyphens(word(Array("@[`{/:~.".utf8))) == 0)
    }

    @Test func aCarryFromAHighByteDoesNotHideANeighbour() {
        // 0xFF next to a control byte, a DEL and a space: the answer is "not plain" whatever the carries do.
        #expect(ByteWords.hasNonVisibleASCII(word([0xFF, 0x00, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41])))
        #expect(ByteWords.hasNonVisibleASCII(word([0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x7F, 0xFF])))
        #expect(!ByteWords.hasNonVisibleASCII(word(Array("Mon, 04 ".utf8))))
    }

    @Test func lowercasingMatchesTheByteDefinitionForEveryByte() {
        for lane in 0..<8 {
            for byte in 0...255 {
                var bytes = [UInt8](repeating: UInt8(ascii: "Q"), count: 8)
                bytes[lane] = UInt8(byte)
                let expected = word(bytes.map(HTTPHeaders.asciiLowercased))
                let lowered = ByteWords.asciiLowercased(word(bytes))
                // A byte of 0x80 or more may disturb its neighbour; it never equals a lowercase ASCII word.
                if byte < 0x80 {
                    #expect(lowered == expected, "byte \(byte) in lane \(lane)")
                } else {
                    #expect(lowered != word(Array("qqqqqqqq".utf8)))
                }
            }
        }
    }

    @Test func lowercasingInPlaceMatchesTheByteDefinitionForEveryByteAndLength() {
        for count in 0...19 {
            for position in 0..<max(count, 1) {
                for byte in 0...255 {
                    var bytes = Array("Content-Type-X-Long".utf8.prefix(count))
                    if count > 0 { bytes[position] = UInt8(byte) }
                    let expected = bytes.map(HTTPHeaders.asciiLowercased)
                    bytes.withUnsafeMutableBytes { ByteWords.lowercaseInPlace($0.baseAddress!, count: count) }
                    #expect(bytes == expected, "byte \(byte) at \(position) of \(count)")
                }
            }
        }
    }

    @Test func knownNamesAreRecognisedInAnyCaseAndNothingElseIs() {
        let names: [(String, KnownFieldName)] = [
            ("te", .te), ("via", .via), ("host", .host), ("expect", .expect), ("trailer", .trailer),
            ("upgrade", .upgrade), ("location", .location), ("connection", .connection), ("keep-alive", .keepAlive),
            ("max-forwards", .maxForwards), ("authorization", .authorization), ("content-length", .contentLength),
            ("proxy-connection", .proxyConnection), ("transfer-encoding", .transferEncoding),
            ("proxy-authenticate", .proxyAuthenticate), ("proxy-authorization", .proxyAuthorization),
            ("proxy-authentication-info", .proxyAuthenticationInfo),
        ]
        for (name, known) in names {
            #expect(KnownFieldName(name) == known)
            #expect(KnownFieldName(name.uppercased()) == known)
            // Every single-byte change, in every position, makes it another name.
            var bytes = Array(name.utf8)
            for index in bytes.indices {
                let original = bytes[index]
                for replacement in [UInt8(0x0D), 0x2D, 0x40, 0x5F, 0x60, 0x7B, 0xC1, 0xFF] where replacement != original {
                    bytes[index] = replacement
                    let changed = bytes.withUnsafeBufferPointer { KnownFieldName($0) }
                    #expect(changed == .other, "\(name) with byte \(replacement) at \(index)")
                }
                bytes[index] = original
            }
        }
        #expect(KnownFieldName("Content-Type") == .other)
        #expect(KnownFieldName("x") == .other)
        #expect(KnownFieldName("") == .other)
    }
}

/// `HTTP1FieldLine.parse` checks values a word at a time, the last word overlapping the one before: a bad
/// byte anywhere in a value of any length is still found.
@Suite struct HTTP1FieldLineValueTests {
    private func parses(_ line: [UInt8]) -> Bool {
        line.withUnsafeBytes { raw in
            do {
                _ = try HTTP1FieldLine.parse(raw)
                return true
            } catch {
                return false
            }
        }
    }

    @Test func aControlByteIsFoundInEveryPositionOfEveryLength() {
        for length in 1...40 {
            let clean = Array("X-Name: ".utf8) + (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            #expect(parses(clean), "length \(length)")
            for position in 0..<length {
                for bad: UInt8 in [0x01, 0x7F, 0x1F] {
                    var line = clean
                    line[8 + position] = bad
                    #expect(!parses(line), "byte \(bad) at \(position) of \(length)")
                }
                var tab = clean  // HTAB is allowed inside a value
                if position > 0, position < length - 1 {
                    tab[8 + position] = 0x09
                    #expect(parses(tab), "HTAB at \(position) of \(length)")
                }
            }
        }
    }

    /// The word-at-a-time check agrees with the byte definition (SP or 0x21–0x7E) for every length up to 40,
    /// with every kind of byte at every position; a request-target with one is refused by the parser.
    @Test func spaceOrVisibleASCIIMatchesTheByteDefinitionAtEveryPositionAndLength() {
        for length in 0...40 {
            let clean = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            #expect(clean.withUnsafeBytes { ByteWords.isSpaceOrVisibleASCII($0.baseAddress!, count: length) })
            for position in 0..<length {
                for byte: UInt8 in [0x00, 0x09, 0x1F, 0x20, 0x21, 0x7E, 0x7F, 0x80, 0xC3, 0xFF] {
                    var bytes = clean
                    bytes[position] = byte
                    let expected = byte == 0x20 || (byte > 0x20 && byte < 0x7F)
                    let found = bytes.withUnsafeBytes { ByteWords.isSpaceOrVisibleASCII($0.baseAddress!, count: length) }
                    #expect(found == expected, "byte \(byte) at \(position) of \(length)")
                    if byte != 0x20 {
                        let line = Array("GET /".utf8) + bytes + Array(" HTTP/1.1".utf8)
                        let parsed = line.withUnsafeBytes { try? HTTP1StartLine.parseRequestLine($0, limit: 8192) }
                        #expect((parsed != nil) == expected, "target byte \(byte) at \(position) of \(length)")
                    }
                }
            }
        }
    }
}
