import Testing

@testable import LatchkeyConfig

/// Issue 11: one scrubber for every boundary where text leaves the process.
@Suite struct SecretScrubberTests {
    @Test func replacesEveryRegisteredValueAndItsEncodings() {
        let scrubber = SecretScrubber()
        scrubber.register(["s3cr3t/+&= x", "tenant-key-42"])
        let text =
            "a s3cr3t/+&= x b s3cr3t%2F%2B%26%3D%20x c s3cr3t%2F%2B%26%3D+x d s3cr3t\\/+&= x e /tenant-key-42/token"
        let scrubbed = scrubber.scrub(text)
        #expect(scrubbed == "a [redacted] b [redacted] c [redacted] d [redacted] e /[redacted]/token")
    }

    @Test func jsonFormsAreTheOnesWrittenOut() {
        // A secret with '/', '"' and a line break (a PEM key): scrubbed in a JSON string as this process
        // writes it (JSONString: '/' kept, "\n" escaped) and with '/' escaped as providers often write it.
        let secret = "k/e\"y\nline-2"
        let scrubber = SecretScrubber()
        scrubber.register([secret])
        let written = JSONString.quote("before \(secret) after")
        #expect(scrubber.scrub(written) == "\"before [redacted] after\"")
        let providers = written.replacingOccurrences(of: "/", with: "\\/")
        #expect(scrubber.scrub(providers) == "\"before [redacted] after\"")
    }

    @Test func atCapacityTheOldestValuesGoNeverTheNewest() {
        let scrubber = SecretScrubber()
        scrubber.register((0..<SecretScrubber.capacity).map { "old-value-\($0 + 10_000)" })
        scrubber.register(["rotated-secret-now"])
        #expect(scrubber.scrub("x rotated-secret-now x") == "x [redacted] x")
        #expect(scrubber.scrub("old-value-10000") == "old-value-10000")  // the oldest made room
        #expect(scrubber.scrub("old-value-14095") == "[redacted]")
    }

    @Test func longerValuesWinOverValuesTheyContain() {
        let scrubber = SecretScrubber()
        scrubber.register(["abcd", "abcdefgh"])
        #expect(scrubber.scrub("xabcdefghx abcd") == "x[redacted]x [redacted]")
    }

    @Test func shortOrEmptyValuesAreNotScrubbed() {
        let scrubber = SecretScrubber()
        scrubber.register(["", "a", "abc"])
        #expect(scrubber.scrub("a abc b") == "a abc b")
    }

    @Test func registeringAgainKeepsEarlierValues() {
        let scrubber = SecretScrubber()
        scrubber.register(["old-secret"])
        scrubber.register(["new-secret"])
        #expect(scrubber.scrub("old-secret new-secret") == "[redacted] [redacted]")
        #expect(scrubber.containsSecret("x new-secret") && !scrubber.containsSecret("nothing"))
    }

    @Test func textWithoutSecretsIsUnchanged() {
        let scrubber = SecretScrubber()
        #expect(scrubber.scrub("plain") == "plain")
        scrubber.register(["secret-value"])
        #expect(scrubber.scrub("plain text") == "plain text")
    }

    @Test func aLoadedConfigRegistersItsSecrets() throws {
        let scrubber = SecretScrubber()
        let configuration = try parse(
            "secrets:\n  tenant: {value: tenant-secret-9}\nconnections:\n  api: {type: bearer, token: \"${TOKEN}\"}\n",
            environment: ["TOKEN": "bearer-token-value"])
        configuration.registerSecrets(with: scrubber)
        #expect(scrubber.scrub("tenant-secret-9 bearer-token-value") == "[redacted] [redacted]")
    }

    /// Both searches (`memchr` per anchor byte for up to `memchrAnchors` distinct anchors, a table beyond)
    /// find what a naive replacement of every value, longest first, finds: at the start, at the end,
    /// overlapping, repeated, next to a near miss, with the anchor byte found before a value could start
    /// and after the last one could end.
    @Test(arguments: [false, true]) func bothSearchesAgreeWithNaiveReplacement(manyAnchors: Bool) {
        var secrets = ["token-alpha", "token-alphabet", "zeta-key", "bench-token-0123", "tok-0123456789abcdef"]
        if manyAnchors {
            secrets += (UInt8(ascii: "A")...UInt8(ascii: "Z")).map { "k\(String(repeating: Character(UnicodeScalar($0)), count: 3))-value" }
            let anchors = Set(secrets.map { secret in
                let bytes = Array(secret.utf8)
                return bytes[SecretScrubber.Anchor.offset(in: bytes)]
            })
            #expect(anchors.count > SecretScrubber.memchrAnchors)  // so the table search runs
        }
        let scrubber = SecretScrubber()
        scrubber.register(secrets)
        let texts = [
            "token-alphabet at the start", "at the end token-alpha", "token-alphtoken-alpha", "zeta-keyzeta-key",
            "tokentoken-alphabet", "bench-token-012 bench-token-0123", "nothing here at all", "t", "",
            "c-one d-two e-thre f-four", "latchkey.bytes_in=0 latchkey.bytes_out=64 b",
            "9abcdef tok-0123456789abcdef", "tok-0123456789abcdetok-0123456789abcdef", "tok-012345678",
            "xtok-0123456789abcdefx", "kAAA-value kBBB-valu kCCC-value", "AAA-value kAAA-value", "kZZZ-valu",
        ]
        for text in texts {
            var expected = text
            for secret in secrets.sorted(by: { $0.count > $1.count }) {
                expected = expected.replacingOccurrences(of: secret, with: SecretScrubber.replacement)
            }
            #expect(scrubber.scrub(text) == expected, "\(text)")
            #expect(scrubber.scrub(Array(text.utf8)) == Array(expected.utf8), "\(text)")
            #expect(scrubber.containsSecret(text) == (expected != text), "\(text)")
            let found = Array(text.utf8).withUnsafeBufferPointer { scrubber.containsSecret($0) }
            #expect(found == (expected != text), "\(text)")
        }
    }

    /// A value is found by its byte least frequent in log text, not by its first: a token starting with
    /// the `t` of every `latchkey.` key is looked for by a digit it holds that a line rarely does.
    @Test func aValueIsFoundByItsRarestByteInLogText() {
        #expect(SecretScrubber.Anchor.offset(in: Array("tok-0123456789abcdef".utf8)) == 13)  // the 9
        #expect(SecretScrubber.Anchor.offset(in: Array("latchkey".utf8)) != 0)
        #expect(SecretScrubber.Anchor.offset(in: Array("aaaa".utf8)) == 0)
    }
}
