import Foundation
import LatchkeyConfig
import Testing

@testable import LatchkeyAuth

@Suite struct StateFileStoreTests {
    static let key = [UInt8](repeating: 7, count: 32)
    static let grant = StoredGrant(
        refreshToken: "rt-secret", scope: "contacts.read offline_access", obtainedAt: 1_700_000_000, tokenURL: "https://i/token",
        clientID: "latchkey")

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "latchkey-state-\(UUID().uuidString)"
        return path
    }

    @Test func roundTripModeAndFormat() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StateFileStore(directory: dir, key: Self.key)
        #expect(store.load(connection: "crm") == .missing)
        try store.save(Self.grant, connection: "crm")
        #expect(store.load(connection: "crm") == .loaded(Self.grant))
        let attributes = try FileManager.default.attributesOfItem(atPath: store.path(for: "crm"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: store.path(for: "crm"))))
        #expect(Array(bytes.prefix(5)) == Array("LKS1".utf8) + [1])
        #expect(!String(decoding: bytes, as: UTF8.self).contains("rt-secret"))
        // A second save replaces the first.
        var next = Self.grant
        next.refreshToken = "rt-2"
        try store.save(next, connection: "crm")
        #expect(store.load(connection: "crm") == .loaded(next))
        try store.remove(connection: "crm")
        #expect(store.load(connection: "crm") == .missing)
        try store.remove(connection: "crm")  // idempotent
    }

    @Test func everyFlippedByteIsDetected() throws {
        let store = try StateFileStore(directory: Self.temporaryDirectory(), key: Self.key)
        defer { try? FileManager.default.removeItem(atPath: store.directory) }
        let bytes = try store.encode(Self.grant, connection: "crm")
        for index in bytes.indices {
            var tampered = bytes
            tampered[index] ^= 0x01
            guard case .corrupt = store.decode(tampered, connection: "crm") else {
                Issue.record("flip at \(index) not detected")
                return
            }
        }
        #expect(store.decode(bytes, connection: "crm") == .loaded(Self.grant))
        // Bound to the connection name (AAD): a file copied to another name does not decrypt.
        guard case .corrupt(let reason) = store.decode(bytes, connection: "erp") else {
            Issue.record("copied file accepted")
            return
        }
        #expect(reason.contains("cannot decrypt"))
        #expect(store.decode(Array(bytes.prefix(10)), connection: "crm") == .corrupt("not a Latchkey state file (bad magic or truncated)"))
    }

    @Test func wrongKeyIsCorruptAndTheFileIsLeftAlone() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try StateFileStore(directory: dir, key: Self.key).save(Self.grant, connection: "crm")
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/crm.state"))
        let other = try StateFileStore(directory: dir, key: [UInt8](repeating: 8, count: 32))
        guard case .corrupt(let reason) = other.load(connection: "crm") else {
            Issue.record("wrong key accepted")
            return
        }
        #expect(reason.contains("wrong state_key"))
        #expect(!reason.contains("rt-secret"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/crm.state")) == before)
    }

    @Test func strayTempFileFromAnInterruptedWriteIsIgnoredAndRemoved() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try StateFileStore(directory: dir, key: Self.key)
        try store.save(Self.grant, connection: "crm")
        // A crash between create and rename leaves a partial temp file next to the old state file.
        let stray = dir + "/.crm.state.tmp.deadbeef"
        #expect(FileManager.default.createFile(atPath: stray, contents: Data("LKS1\u{1}partial".utf8)))
        let otherStray = dir + "/.crm2.state.tmp.deadbeef"
        #expect(FileManager.default.createFile(atPath: otherStray, contents: Data()))
        #expect(store.load(connection: "crm") == .loaded(Self.grant))
        #expect(!FileManager.default.fileExists(atPath: stray))
        #expect(FileManager.default.fileExists(atPath: otherStray))  // another connection's: not ours to touch
        // Unknown version.
        var bytes = try store.encode(Self.grant, connection: "crm")
        bytes[4] = 2
        #expect(store.decode(bytes, connection: "crm") == .corrupt("unsupported state file version 2"))
    }

    @Test func base64KeyAndDirectoryCreation() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: StateFileError.self) { try StateFileStore(directory: dir, keyBase64: SecretString("c2hvcnQ=")) }
        let store = try StateFileStore(directory: dir, keyBase64: SecretString(Base64.encode(Self.key)))
        let attributes = try FileManager.default.attributesOfItem(atPath: store.directory)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
    }
}
