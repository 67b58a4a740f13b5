import Testing

@testable import LatchkeyNet

/// `CPUBudget` and the cgroup parsing behind it, over fake `/proc` and `/sys/fs/cgroup` files.
@Suite struct CPUBudgetTests {
    /// A fake file system: path → contents; anything else is missing.
    private static func files(_ contents: [String: String]) -> (String) -> String? { { contents[$0] } }

    private static let v2MountInfo = """
        22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
        35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """

    private static let v1MountInfo = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """

    // MARK: cpu.max and CFS files

    @Test func cpuMaxShapes() {
        #expect(CPUQuota.parseCPUMax("max 100000\n") == .unlimited)
        #expect(CPUQuota.parseCPUMax("max\n") == .unlimited)
        #expect(CPUQuota.parseCPUMax("50000 100000\n") == .limited(quota: 50_000, period: 100_000))
        #expect(CPUQuota.parseCPUMax("150000") == .limited(quota: 150_000, period: 100_000))
        #expect(CPUQuota.parseCPUMax("") == nil)
        #expect(CPUQuota.parseCPUMax("lots 100000") == nil)
        #expect(CPUQuota.parseCPUMax("50000 0") == nil)
        #expect(CPUQuota.parseCPUMax("0 100000") == nil)
        #expect(CPUQuota.parseCPUMax("1 2 3") == nil)
    }

    @Test func cfsShapes() {
        #expect(CPUQuota.parseCFS(quota: "-1\n", period: "100000\n") == .unlimited)
        #expect(CPUQuota.parseCFS(quota: "-1\n", period: nil) == .unlimited)
        #expect(CPUQuota.parseCFS(quota: "25000\n", period: "50000\n") == .limited(quota: 25_000, period: 50_000))
        #expect(CPUQuota.parseCFS(quota: "25000\n", period: nil) == nil)
        #expect(CPUQuota.parseCFS(quota: nil, period: "100000") == nil)
        #expect(CPUQuota.parseCFS(quota: "x", period: "100000") == nil)
    }

    @Test func quotaRoundsUpToWholeCPUs() {
        func cpus(_ quota: Int, _ period: Int) -> Int { CPUQuota(quotaMicroseconds: quota, periodMicroseconds: period, file: "f").cpus }
        #expect(cpus(50_000, 100_000) == 1)  // cpu: 500m
        #expect(cpus(1_000, 100_000) == 1)
        #expect(cpus(100_000, 100_000) == 1)
        #expect(cpus(100_001, 100_000) == 2)
        #expect(cpus(150_000, 100_000) == 2)
        #expect(cpus(400_000, 100_000) == 4)
    }

    @Test func quotaText() {
        func text(_ quota: Int) -> String { CPUQuota(quotaMicroseconds: quota, periodMicroseconds: 100_000, file: "f").cpuText }
        #expect(text(50_000) == "0.5 CPU")
        #expect(text(100_000) == "1 CPU")
        #expect(text(150_000) == "1.5 CPUs")
        #expect(text(205_000) == "2.05 CPUs")
        #expect(text(33_333) == "0.33 CPU")
        #expect(text(200_000) == "2 CPUs")
    }

    // MARK: Locating the cgroup

    @Test func v2NamespacedContainerSeesItsGroupAsTheRoot() {
        let directories = CgroupCPUDirectories.locate(procSelfCgroup: "0::/\n", mountInfo: Self.v2MountInfo)
        #expect(directories == [.init(.v2, "/sys/fs/cgroup")])
    }

    @Test func v2NestedGroupListsItsAncestors() {
        let directories = CgroupCPUDirectories.locate(
            procSelfCgroup: "0::/kubepods.slice/pod1/ctr\n", mountInfo: Self.v2MountInfo)
        #expect(
            directories.map(\.path) == [
                "/sys/fs/cgroup/kubepods.slice/pod1/ctr", "/sys/fs/cgroup/kubepods.slice/pod1",
                "/sys/fs/cgroup/kubepods.slice", "/sys/fs/cgroup",
            ])
    }

    @Test func v2MountOfASubtreeStripsItsRoot() {
        // Docker without a cgroup namespace: the mount's root is the container's own group.
        let mountInfo = "35 24 0:30 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n"
        let directories = CgroupCPUDirectories.locate(procSelfCgroup: "0::/docker/abc/sub\n", mountInfo: mountInfo)
        #expect(directories.map(\.path) == ["/sys/fs/cgroup/sub", "/sys/fs/cgroup"])
    }

    @Test func aGroupOutsideTheMountedRootFallsBackToTheMountPoint() {
        let mountInfo = "35 24 0:30 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
        #expect(
            CgroupCPUDirectories.locate(procSelfCgroup: "0::/../../user.slice\n", mountInfo: mountInfo)
                == [.init(.v2, "/sys/fs/cgroup")])
        #expect(
            CgroupCPUDirectories.locate(procSelfCgroup: "0::/elsewhere\n", mountInfo: mountInfo)
                == [.init(.v2, "/sys/fs/cgroup")])
    }

    @Test func v1CpuControllerAndHybridUnified() {
        let cgroup = """
            12:cpuset:/
            4:cpu,cpuacct:/system.slice/latchkey.service
            0::/system.slice/latchkey.service
            """
        let directories = CgroupCPUDirectories.locate(procSelfCgroup: cgroup, mountInfo: Self.v1MountInfo)
        #expect(
            directories == [
                .init(.v1, "/sys/fs/cgroup/cpu,cpuacct/system.slice/latchkey.service"),
                .init(.v1, "/sys/fs/cgroup/cpu,cpuacct/system.slice"), .init(.v1, "/sys/fs/cgroup/cpu,cpuacct"),
                .init(.v2, "/sys/fs/cgroup/unified/system.slice/latchkey.service"),
                .init(.v2, "/sys/fs/cgroup/unified/system.slice"), .init(.v2, "/sys/fs/cgroup/unified"),
            ])
    }

    @Test func missingOrEmptyFilesGiveTheUsualPaths() {
        #expect(CgroupCPUDirectories.locate(procSelfCgroup: nil, mountInfo: Self.v2MountInfo) == CgroupCPUDirectories.usual)
        #expect(CgroupCPUDirectories.locate(procSelfCgroup: "0::/\n", mountInfo: nil) == CgroupCPUDirectories.usual)
        #expect(CgroupCPUDirectories.locate(procSelfCgroup: "", mountInfo: "") == CgroupCPUDirectories.usual)
    }

    @Test func mountInfoEscapesAndMalformedLines() {
        let mounts = CgroupCPUDirectories.parseMountInfo(
            """
            garbage
            35 24 0:30 / /sys/fs/my\\040cgroup rw shared:9 master:2 - cgroup2 cgroup2 rw
            36 24 0:31 / /x rw -
            """)
        #expect(mounts == [.init(root: "/", mountPoint: "/sys/fs/my cgroup", fileSystem: "cgroup2", superOptions: ["rw"])])
    }

    // MARK: The budget

    @Test func noQuotaMeansTheAffinityMask() {
        let budget = CPUBudget.measure(
            affinityCPUs: 2, onlineCPUs: 8,
            readFile: Self.files([
                "/proc/self/cgroup": "0::/\n", "/proc/self/mountinfo": Self.v2MountInfo,
                "/sys/fs/cgroup/cpu.max": "max 100000\n",
            ]))
        #expect(budget.cpus == 2)
        #expect(budget.quota == nil)
        #expect(budget.explanation == "affinity 2 CPUs, cgroup quota none")
    }

    @Test func kubernetesSidecarWith500mGetsOneCPU() {
        let budget = CPUBudget.measure(
            affinityCPUs: 64, onlineCPUs: 64,
            readFile: Self.files([
                "/proc/self/cgroup": "0::/\n", "/proc/self/mountinfo": Self.v2MountInfo,
                "/sys/fs/cgroup/cpu.max": "50000 100000\n",
            ]))
        #expect(budget.cpus == 1)
        #expect(budget.explanation == "affinity 64 CPUs, cgroup quota 0.5 CPU (/sys/fs/cgroup/cpu.max)")
    }

    @Test func theTightestLevelOfANestedPathWins() {
        let budget = CPUBudget.measure(
            affinityCPUs: 16, onlineCPUs: 16,
            readFile: Self.files([
                "/proc/self/cgroup": "0::/pod/ctr\n", "/proc/self/mountinfo": Self.v2MountInfo,
                "/sys/fs/cgroup/pod/ctr/cpu.max": "max 100000\n",
                "/sys/fs/cgroup/pod/cpu.max": "300000 100000\n",
                "/sys/fs/cgroup/cpu.max": "800000 100000\n",
            ]))
        #expect(budget.cpus == 3)
        #expect(budget.quota?.file == "/sys/fs/cgroup/pod/cpu.max")
    }

    @Test func theAffinityMaskCapsALargerQuota() {
        let budget = CPUBudget.measure(
            affinityCPUs: 1, onlineCPUs: 2,
            readFile: Self.files([
                "/proc/self/cgroup": "0::/\n", "/proc/self/mountinfo": Self.v2MountInfo,
                "/sys/fs/cgroup/cpu.max": "400000 100000\n",
            ]))
        #expect(budget.cpus == 1)
        #expect(budget.explanation == "affinity 1 CPU, cgroup quota 4 CPUs (/sys/fs/cgroup/cpu.max)")
    }

    @Test func v1QuotaApplies() {
        let budget = CPUBudget.measure(
            affinityCPUs: 4, onlineCPUs: 4,
            readFile: Self.files([
                "/proc/self/cgroup": "4:cpu,cpuacct:/docker/abc\n0::/\n",
                "/proc/self/mountinfo": Self.v1MountInfo,
                "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "150000\n",
                "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
                "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
                "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
            ]))
        #expect(budget.cpus == 2)
        #expect(budget.quota?.cpuText == "1.5 CPUs")
    }

    @Test func missingFilesMeanNoQuotaAndAnUnknownMaskMeansTheOnlineCount() {
        let budget = CPUBudget.measure(affinityCPUs: nil, onlineCPUs: 3, readFile: Self.files([:]))
        #expect(budget.cpus == 3)
        #expect(budget.quota == nil)
        #expect(budget.explanation == "affinity unknown, 3 CPUs online, cgroup quota none")
    }

    @Test func theUsualPathsAreReadWhenProcIsMissing() {
        let budget = CPUBudget.measure(
            affinityCPUs: 8, onlineCPUs: 8, readFile: Self.files(["/sys/fs/cgroup/cpu.max": "200000 100000"]))
        #expect(budget.cpus == 2)
    }

    @Test func theBudgetIsAtLeastOne() {
        #expect(CPUBudget(affinityCPUs: 0, onlineCPUs: 0, quota: nil).cpus == 1)
    }

    @Test func thisProcessHasABudget() throws {
        let budget = CPUBudget.current()
        #expect(budget.cpus >= 1)
        // The shim's sched_getaffinity count agrees with the kernel's own listing, e.g. "0-1,4,6-7".
        let status = try #require(CPUBudget.readSmallFile("/proc/self/status"))
        let list = try #require(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        let ranges = list.split(separator: "\t").last.map { $0.split(separator: ",") } ?? []
        let listed = ranges.reduce(0) { total, range in
            let bounds = range.split(separator: "-").compactMap { Int($0.trimmingPrefix(" ")) }
            return total + (bounds.count == 2 ? bounds[1] - bounds[0] + 1 : 1)
        }
        #expect(budget.affinityCPUs == listed)
        #expect(budget.cpus <= listed)
    }
}
