/// A resolved secret value (password, token, key). Its description is redacted by construction,
/// so it can be interpolated into a log line or error by accident without leaking.
public struct SecretString: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The secret itself. Read it only where it is put on the wire.
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    /// No children: `dump` and other reflection show `<redacted>` too, not the stored value.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
