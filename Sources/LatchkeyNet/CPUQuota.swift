/// A cgroup CPU bandwidth limit: at most `quotaMicroseconds` of CPU time in every `periodMicroseconds`,
/// summed over all the group's threads. 50 000 per 100 000 is Kubernetes' `cpu: 500m`.
///
/// The kernel throttles the whole group once the quota is spent, so more busy threads than the quota's CPUs
/// only take turns being throttled (and switch contexts doing it).
public struct CPUQuota: Sendable, Equatable, CustomStringConvertible {
    /// CPU time allowed per period, in microseconds (> 0).
    public var quotaMicroseconds: Int
    /// The period, in microseconds (> 0).
    public var periodMicroseconds: Int
    /// The file the limit was read from, for the start-up line.
    public var file: String

    public init(quotaMicroseconds: Int, periodMicroseconds: Int, file: String) {
        self.quotaMicroseconds = quotaMicroseconds
        self.periodMicroseconds = periodMicroseconds
        self.file = file
    }

    /// The CPUs the quota amounts to, rounded up (500m is one CPU, 1500m two), at least 1.
    public var cpus: Int {
        let (whole, rest) = quotaMicroseconds.quotientAndRemainder(dividingBy: periodMicroseconds)
        return max(1, whole + (rest > 0 ? 1 : 0))
    }

    /// The quota as a CPU figure with up to two decimals: "0.5 CPU", "2 CPUs".
    public var cpuText: String {
        let hundredths = (quotaMicroseconds * 100 + periodMicroseconds / 2) / periodMicroseconds
        var text = "\(hundredths / 100)"
        let fraction = hundredths % 100
        if fraction != 0 {
            text += fraction % 10 == 0 ? ".\(fraction / 10)" : (fraction < 10 ? ".0\(fraction)" : ".\(fraction)")
        }
        return text + (hundredths <= 100 ? " CPU" : " CPUs")
    }

    /// "0.5 CPU (/sys/fs/cgroup/cpu.max)".
    public var description: String { "\(cpuText) (\(file))" }
}

extension CPUQuota {
    /// What one cgroup's limit file says.
    public enum Limit: Sendable, Equatable {
        /// No bandwidth limit at this level (`max`, or `-1` in cgroup v1).
        case unlimited
        /// `quota` microseconds per `period`.
        case limited(quota: Int, period: Int)
    }

    /// Parses cgroup v2 `cpu.max`: `"max 100000"` or `"50000 100000"` (the period may be omitted, and
    /// then is the kernel's default of 100 ms). nil when the text is neither (the file is ignored).
    public static func parseCPUMax(_ text: String) -> Limit? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        guard words.count == 1 || words.count == 2 else { return nil }
        let period = words.count == 2 ? Int(words[1]) : 100_000
        guard let period, period > 0 else { return nil }
        if words[0] == "max" { return .unlimited }
        guard let quota = Int(words[0]), quota > 0 else { return nil }
        return .limited(quota: quota, period: period)
    }

    /// Parses cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`: a quota of `-1` is no limit. nil when
    /// either is unreadable or malformed.
    public static func parseCFS(quota quotaText: String?, period periodText: String?) -> Limit? {
        guard let quotaText, let quota = Int(Self.trimmed(quotaText)) else { return nil }
        if quota < 0 { return .unlimited }
        guard quota > 0, let periodText, let period = Int(Self.trimmed(periodText)), period > 0 else { return nil }
        return .limited(quota: quota, period: period)
    }

    private static func trimmed(_ text: String) -> Substring {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).first ?? ""
    }
}
