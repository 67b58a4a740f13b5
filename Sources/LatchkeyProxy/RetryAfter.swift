import Foundation

// Stand-in with the agreed API until the policy lands.
public enum RetryAfter {
    public static func parse(_ value: String, now: Date) -> Duration? {
        Int(value.trimmingCharacters(in: .whitespaces)).map { .seconds(max(0, $0)) }
    }
    public static func applies(toStatus status: Int) -> Bool { status == 429 || status == 503 }
}
