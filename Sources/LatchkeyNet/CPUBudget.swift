import CLatchkeyShims

#if canImport(Glibc)
import Glibc
#endif

/// The CPUs this process may use: its affinity mask (`taskset`, a cpuset) capped by the tightest cgroup CPU
/// quota on its cgroup path, rounded up, at least 1. The default number of event loops.
///
/// Not the machine's core count: a Kubernetes sidecar with `cpu: 500m` on a 64-core node may use one CPU,
/// and 64 loops there would only take turns being throttled. `sysconf(_SC_NPROCESSORS_ONLN)` sees neither
/// limit.
public struct CPUBudget: Sendable, Equatable {
    /// CPUs in the affinity mask; nil when it could not be read (then the online CPU count stands in).
    public var affinityCPUs: Int?
    /// CPUs online, the fallback for an unreadable affinity mask.
    public var onlineCPUs: Int
    /// The tightest cgroup CPU quota found; nil when none is set.
    public var quota: CPUQuota?

    public init(affinityCPUs: Int?, onlineCPUs: Int, quota: CPUQuota?) {
        self.affinityCPUs = affinityCPUs
        self.onlineCPUs = onlineCPUs
        self.quota = quota
    }

    /// The CPUs the process may use, at least 1.
    public var cpus: Int { max(1, min(affinityCPUs ?? onlineCPUs, quota?.cpus ?? Int.max)) }

    /// Why `cpus` is what it is: "affinity 2 CPUs, cgroup quota none" or
    /// "affinity 8 CPUs, cgroup quota 0.5 CPU (/sys/fs/cgroup/cpu.max)".
    public var explanation: String {
        let affinity = affinityCPUs.map { "affinity \($0) CPU\($0 == 1 ? "" : "s")" }
            ?? "affinity unknown, \(onlineCPUs) CPU\(onlineCPUs == 1 ? "" : "s") online"
        return "\(affinity), cgroup quota \(quota.map(\.description) ?? "none")"
    }

    /// The budget of the calling process now, read from the kernel and `/proc` and `/sys/fs/cgroup`. Call it
    /// from the main thread before other threads start (the affinity mask read is the calling thread's).
    public static func current() -> CPUBudget {
        let affinity = latchkey_affinity_cpu_count()
        return measure(
            affinityCPUs: affinity > 0 ? Int(affinity) : nil, onlineCPUs: onlineCPUCount(), readFile: readSmallFile)
    }

    /// The budget from an affinity count and files read through `readFile` (nil: the file is missing or
    /// unreadable). Pure apart from `readFile`, for tests.
    public static func measure(
        affinityCPUs: Int?, onlineCPUs: Int, readFile: (String) -> String?
    ) -> CPUBudget {
        let directories = CgroupCPUDirectories.locate(
            procSelfCgroup: readFile("/proc/self/cgroup"), mountInfo: readFile("/proc/self/mountinfo"))
        return CPUBudget(
            affinityCPUs: affinityCPUs, onlineCPUs: max(1, onlineCPUs), quota: tightestQuota(in: directories, readFile: readFile))
    }

    /// The smallest limit (quota ÷ period) set in any of `directories`; nil when none sets one.
    static func tightestQuota(in directories: [CgroupCPUDirectories.Directory], readFile: (String) -> String?) -> CPUQuota? {
        var tightest: CPUQuota?
        for directory in directories {
            let limit: CPUQuota.Limit?
            let file: String
            switch directory.version {
            case .v2:
                file = directory.path + "/cpu.max"
                limit = readFile(file).flatMap(CPUQuota.parseCPUMax)
            case .v1:
                file = directory.path + "/cpu.cfs_quota_us"
                limit = CPUQuota.parseCFS(quota: readFile(file), period: readFile(directory.path + "/cpu.cfs_period_us"))
            }
            guard case .limited(let quota, let period) = limit else { continue }
            let candidate = CPUQuota(quotaMicroseconds: quota, periodMicroseconds: period, file: file)
            if let current = tightest,
                current.quotaMicroseconds * candidate.periodMicroseconds <= candidate.quotaMicroseconds * current.periodMicroseconds
            {
                continue
            }
            tightest = candidate
        }
        return tightest
    }

    private static func onlineCPUCount() -> Int {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 1
        #endif
    }

    /// A whole small file (proc and cgroup files are a few KiB; mountinfo can reach some hundred KiB on a
    /// busy host), capped at 4 MiB; nil when it cannot be opened or read.
    static func readSmallFile(_ path: String) -> String? {
        #if canImport(Glibc)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while bytes.count < 4 << 20 {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
        #else
        return nil
        #endif
    }
}
