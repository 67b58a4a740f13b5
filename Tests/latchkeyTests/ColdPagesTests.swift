import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import latchkey

/// `ColdPages` (issue 11, memory): which mappings a release covers, read from `/proc/self/maps` text.
@Suite struct ColdPagesTests {
    static let maps = """
        55d0a0000000-55d0a03cc000 r--p 00000000 fe:00 16293915                   /usr/bin/latchkey
        55d0a03cc000-55d0a14e8000 r-xp 003cc000 fe:00 16293915                   /usr/bin/latchkey
        55d0a14e8000-55d0a158d000 r--p 014e7000 fe:00 16293915                   /usr/bin/latchkey
        55d0a158d000-55d0a39ad000 rw-p 0158b000 fe:00 16293915                   /usr/bin/latchkey
        55d0a39ad000-55d0a3a72000 rw-p 00000000 00:00 0
        55d0c2000000-55d0c21bc000 rw-p 00000000 00:00 0                          [heap]
        7f10c0000000-7f10c0021000 rw-p 00000000 00:00 0
        7f10c4000000-7f10c4264000 r-xp 00100000 fe:00 2104                       /usr/lib/x86_64-linux-gnu/libcrypto.so.3
        7f10c4264000-7f10c4300000 r--p 00364000 fe:00 2104                       /usr/lib/x86_64-linux-gnu/libcrypto.so.3
        7f10c4300000-7f10c4310000 rw-p 00400000 fe:00 2104                       /usr/lib/x86_64-linux-gnu/libcrypto.so.3
        7f10c5000000-7f10c5001000 r--s 00000000 fe:00 77                         /tmp/a dir/with spaces.bin
        7f10c6000000-7f10c6002000 r-xp 00000000 fe:00 78                         /tmp/old build (deleted)
        7ffd10000000-7ffd10021000 rw-p 00000000 00:00 0                          [stack]
        7ffd10100000-7ffd10102000 r-xp 00000000 00:00 0                          [vdso]
        ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
        """

    static func ranges(_ scope: ColdPages.Scope, marker: UInt = 0x55d0_a0a0_0123) -> [Range<UInt>] {
        ColdPages.stretches(scope, maps: maps, coldCodeStart: marker, pageSize: 4096).map(\.range)
    }

    @Test func afterTheStartEveryFileMappingIsReleased() {
        let stretches = ColdPages.stretches(.fileMappings, maps: Self.maps, coldCodeStart: 0, pageSize: 4096)
        #expect(
            stretches == [
                .init(range: 0x55d0_a000_0000..<0x55d0_a03c_c000, writable: false),  // the executable's headers and metadata
                .init(range: 0x55d0_a03c_c000..<0x55d0_a14e_8000, writable: false),  // its code
                .init(range: 0x55d0_a14e_8000..<0x55d0_a158_d000, writable: false),  // relocated read-only data
                .init(range: 0x55d0_a158_d000..<0x55d0_a39a_d000, writable: true),  // its writable data (`.rodata` too)
                .init(range: 0x7f10_c400_0000..<0x7f10_c426_4000, writable: false),  // a library's code
                .init(range: 0x7f10_c426_4000..<0x7f10_c430_0000, writable: false),  // and read-only data
                .init(range: 0x7f10_c430_0000..<0x7f10_c431_0000, writable: true),  // and writable data
                .init(range: 0x7f10_c500_0000..<0x7f10_c500_1000, writable: false),  // a path with spaces (read-only, shared)
                .init(range: 0x7f10_c600_0000..<0x7f10_c600_2000, writable: false),  // a file replaced since it was mapped
            ])
    }

    @Test func anonymousAndKernelMappingsAreNeverReleased() {
        let released = Self.ranges(.fileMappings)
        for address: UInt in [
            0x55d0_a39a_d000,  // bss
            0x55d0_c200_0000,  // heap
            0x7f10_c000_0000,  // anonymous
            0x7ffd_1000_0000,  // stack
            0x7ffd_1010_0000,  // vdso
            0xffff_ffff_ff60_0000,  // vsyscall
        ] {
            #expect(!released.contains { $0.contains(address) }, "\(String(address, radix: 16))")
        }
    }

    @Test func afterAReloadOnlyTheExecutablesCodePastTheMarkerIsReleased() {
        // The marker sits inside the code mapping: from the next page boundary to the mapping's end.
        #expect(Self.ranges(.executableColdCode) == [0x55d0_a0a0_1000..<0x55d0_a14e_8000])
        // On a page boundary it starts there.
        #expect(Self.ranges(.executableColdCode, marker: 0x55d0_a0a0_0000) == [0x55d0_a0a0_0000..<0x55d0_a14e_8000])
    }

    @Test func aMarkerOutsideTheExecutablesCodeReleasesNothing() {
        #expect(Self.ranges(.executableColdCode, marker: 0x55d0_a000_1000).isEmpty)  // not executable
        #expect(Self.ranges(.executableColdCode, marker: 0x55d0_c200_0000).isEmpty)  // heap
        #expect(Self.ranges(.executableColdCode, marker: 0x7ffd_1010_0010).isEmpty)  // vdso: no file
        #expect(Self.ranges(.executableColdCode, marker: 0x55d0_a14e_7fff).isEmpty)  // rounds up to the end
    }

    @Test(arguments: [
        "",
        "not a mapping",
        "55d0a0000000 r--p 00000000 fe:00 1 /usr/bin/x",  // no range
        "55d0a0001000-55d0a0000000 r--p 00000000 fe:00 1 /usr/bin/x",  // end before start
        "zz-55d0a0000000 r--p 00000000 fe:00 1 /usr/bin/x",
        "55d0a0000000-55d0a0001000 r-p 00000000 fe:00 1 /usr/bin/x",  // three permission letters
        "55d0a0000000-55d0a0001000 r--p 00000000 fe:00",  // too few fields
    ])
    func aLineThatDoesNotParseIsSkipped(line: String) {
        #expect(ColdPages.Mapping(line: Substring(line)) == nil)
        #expect(ColdPages.stretches(.fileMappings, maps: line, coldCodeStart: 0, pageSize: 4096).isEmpty)
    }

    /// `/proc/self/pagemap` entries: present (bit 63), swapped (bit 62), a page of the file (bit 61).
    static let filePage: UInt64 = 1 << 63 | 1 << 61
    static let privateCopy: UInt64 = 1 << 63
    static let swapped: UInt64 = 1 << 62
    static let absent: UInt64 = 0

    @Test func pagesTheProcessMadeItsOwnAreNeverAdvised() {
        let range: Range<UInt> = 0x1000_0000..<0x1000_8000  // eight pages
        let entries = [
            Self.filePage, Self.absent, Self.privateCopy, Self.filePage, Self.swapped, Self.privateCopy, Self.absent,
            Self.filePage,
        ]
        #expect(
            ColdPages.filePageRuns(of: range, pageSize: 0x1000, entries: entries) == [
                0x1000_0000..<0x1000_2000,  // a file page and one not in memory
                0x1000_3000..<0x1000_4000,  // between a relocated page and a swapped one
                0x1000_6000..<0x1000_8000,
            ])
    }

    @Test func aMappingStillAllTheFilesIsOneRun() {
        let range: Range<UInt> = 0x2000_0000..<0x2000_4000
        let entries = [Self.filePage, Self.absent, Self.absent, Self.filePage]
        #expect(ColdPages.filePageRuns(of: range, pageSize: 0x1000, entries: entries) == [range])
        let copies = [UInt64](repeating: Self.privateCopy, count: 4)
        #expect(ColdPages.filePageRuns(of: range, pageSize: 0x1000, entries: copies).isEmpty)
    }

    @Test func pagesWithoutAnEntryAreNotAdvised() {
        // Fewer entries than pages (a short read): the run stops where the entries do.
        let range: Range<UInt> = 0x3000_0000..<0x3000_4000
        #expect(
            ColdPages.filePageRuns(of: range, pageSize: 0x1000, entries: [Self.filePage, Self.filePage]) == [
                0x3000_0000..<0x3000_2000
            ])
    }

    @Test func theLoggedLineSaysWhatHappened() {
        let released = ColdPages.Report(
            residentFileKiBBefore: 15_360, residentFileKiBAfter: 5_222, rangesAdvised: 12, rangesRefused: 0)
        #expect(released.summary.hasSuffix("resident file-backed memory 15.0 -> 5.1 MiB"), "\(released.summary)")
        let unsupported = ColdPages.Report(
            residentFileKiBBefore: 15_360, residentFileKiBAfter: 15_360, rangesAdvised: 12, rangesRefused: 12,
            refusal: EINVAL)
        #expect(unsupported.summary.contains("does not support MADV_PAGEOUT"))
        let filtered = ColdPages.Report(
            residentFileKiBBefore: 15_360, residentFileKiBAfter: 15_360, rangesAdvised: 12, rangesRefused: 12,
            refusal: EPERM)
        #expect(filtered.summary.contains("madvise was refused (EPERM"))
        let nothing = ColdPages.Report(
            residentFileKiBBefore: 0, residentFileKiBAfter: 0, rangesAdvised: 0, rangesRefused: 0)
        #expect(nothing.summary == "cold_pages: nothing to release")
    }

    @Test func releasingInThisProcessLeavesItWorking() {
        // The test runner's own pages: whatever is released is read back on the next touch.
        let report = ColdPages.release(.fileMappings)
        #expect(report.rangesAdvised > 0)
        #expect(report.residentFileKiBBefore > 0)
        #expect(ColdPages.residentFileKiB() > 0)  // still running, so some code is resident again
    }
}
