/// Where this process's cgroup CPU limits live, found from `/proc/self/cgroup` (which group the process is
/// in, per hierarchy) and `/proc/self/mountinfo` (where each hierarchy is mounted, and which part of it).
///
/// Pure: both texts are passed in, so every shape (cgroup v2, v1, hybrid, a container's namespaced view, a
/// missing file) is a unit test. The limits themselves are read by `CPUBudget`.
public enum CgroupCPUDirectories {
    /// A cgroup directory that may hold a CPU limit file.
    public struct Directory: Sendable, Equatable {
        /// Unified hierarchy (`cpu.max`) or the v1 `cpu` controller (`cpu.cfs_quota_us`, `cpu.cfs_period_us`).
        public enum Version: Sendable, Equatable {
            case v1
            case v2
        }

        public var version: Version
        /// Absolute path of the directory.
        public var path: String

        public init(_ version: Version, _ path: String) {
            self.version = version
            self.path = path
        }
    }

    /// Used when neither file names a mounted hierarchy: the usual mount points, root groups only.
    public static let usual: [Directory] = [
        Directory(.v2, "/sys/fs/cgroup"), Directory(.v1, "/sys/fs/cgroup/cpu"),
        Directory(.v1, "/sys/fs/cgroup/cpu,cpuacct"),
    ]

    /// The process's own cgroup directory in each hierarchy that can limit CPU, followed by its ancestors up
    /// to the hierarchy's mount point: a limit set on any of them applies (a Kubernetes pod's limit sits on
    /// the pod's group, its containers' on theirs). `usual` when nothing is found.
    public static func locate(procSelfCgroup: String?, mountInfo: String?) -> [Directory] {
        guard let procSelfCgroup, let mountInfo else { return usual }
        let mounts = parseMountInfo(mountInfo)
        var found: [Directory] = []
        for line in procSelfCgroup.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].split(separator: ",")
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                // cgroups(7): hierarchy ID 0 with an empty controller list is the unified (v2) hierarchy.
                let candidates = mounts.filter { $0.fileSystem == "cgroup2" }
                if let mount = bestMount(candidates, for: path) { found += chain(.v2, mount: mount, path: path) }
            } else if controllers.contains("cpu") {
                let candidates = mounts.filter { $0.fileSystem == "cgroup" && $0.superOptions.contains("cpu") }
                if let mount = bestMount(candidates, for: path) { found += chain(.v1, mount: mount, path: path) }
            }
        }
        return found.isEmpty ? usual : found
    }

    /// One line of `/proc/self/mountinfo` (proc(5)), the fields this needs.
    public struct Mount: Sendable, Equatable {
        /// The directory of the mounted file system that appears at `mountPoint` (for a cgroup file system,
        /// the group a namespaced container sees as its root).
        public var root: String
        public var mountPoint: String
        public var fileSystem: String
        public var superOptions: [String]
    }

    /// Parses mountinfo lines: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`.
    /// Malformed lines are skipped.
    public static func parseMountInfo(_ text: String) -> [Mount] {
        var mounts: [Mount] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash >= 6, fields.count >= dash + 4 else { continue }
            mounts.append(
                Mount(
                    root: unescape(fields[3]), mountPoint: unescape(fields[4]), fileSystem: String(fields[dash + 1]),
                    superOptions: fields[dash + 3].split(separator: ",").map(String.init)))
        }
        return mounts
    }

    /// The mount whose root contains `path`, the deepest such root when several do; else the first one.
    private static func bestMount(_ mounts: [Mount], for path: String) -> Mount? {
        let containing = mounts.filter { relative(path, to: $0.root) != nil }
        return containing.max { $0.root.utf8.count < $1.root.utf8.count } ?? mounts.first
    }

    /// `path` below `root` ("" for the root itself), or nil when it is not below it.
    private static func relative(_ path: String, to root: String) -> String? {
        if root == "/" { return path }
        if path == root { return "" }
        return path.hasPrefix(root + "/") ? String(path.dropFirst(root.utf8.count)) : nil
    }

    /// The group's directory and each ancestor up to the mount point. A path outside the mount's root or
    /// with `..` (a process outside its cgroup namespace's root) gives the mount point alone.
    private static func chain(_ version: Directory.Version, mount: Mount, path: String) -> [Directory] {
        let below = relative(path, to: mount.root) ?? ""
        var components = below.split(separator: "/").map(String.init)
        if components.contains("..") { components = [] }
        let base = mount.mountPoint == "/" ? "" : mount.mountPoint
        var directories: [Directory] = []
        for depth in stride(from: components.count, through: 0, by: -1) {
            let suffix = components[0..<depth].joined(separator: "/")
            directories.append(Directory(version, suffix.isEmpty ? (base.isEmpty ? "/" : base) : base + "/" + suffix))
        }
        return directories
    }

    /// Undoes mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
    private static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let raw = Array(field.utf8)
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), let value = octal(raw[(i + 1)...].prefix(3)) {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(raw[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func octal(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard digits.count == 3 else { return nil }
        var value = 0
        for digit in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(digit) else { return nil }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return value <= 255 ? UInt8(value) : nil
    }
}
