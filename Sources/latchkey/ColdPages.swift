import CLatchkeyShims
import Dispatch
import LatchkeyConfig
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Hands back to the kernel the pages of code and read-only data that only starting (or reloading) the
/// proxy touched: the YAML and config decoding, TLS context set-up, certificate parsing, Foundation and
/// ICU start-up. Without it they stay resident for the life of the process: measured on the release build,
/// 18.4 MiB resident at idle, of which 15 MiB file-backed, while serving plain HTTP needs about 3 MiB of
/// code (the kernel maps code in 64 KiB windows, `fault_around_bytes`, so every function start-up calls once
/// keeps its whole window).
///
/// How: `madvise(MADV_PAGEOUT)` (Linux 5.4) over the pages of file-backed mappings (the executable's and
/// libraries' code and data) that are still the file's: clean copies, so reclaiming them loses nothing, and
/// a page needed again is read back on first touch. A page the process has made its own (relocated at load,
/// or written since) is never advised: it would go to swap. `/proc/self/pagemap` tells them apart page by
/// page, which matters for the executable's writable mapping: the static binary's 37 MiB `.rodata` (ICU's
/// data among it) is linked writable, and start-up reads some of it that serving never does. The kernel
/// reclaims only pages this process alone maps; in read-only mappings the file's pages that others map too
/// (libc, and libcrypto, whose CA-bundle parsing start-up ran: 3 MiB when another process on the host uses
/// OpenSSL) are unmapped from this process with `MADV_DONTNEED`, and the next touch maps them again from
/// the page cache.
///
/// When (`RunCommand`): once the listeners are bound, and again once the first token fetches are done
/// (usually within a second), every file mapping: at most the first requests are under way, and
/// they read back what they need. Later only the executable's code past the request path's, which the
/// release link places first (`scripts/link-order`): after each successful reload, and every five minutes
/// (token renewals and rare paths bring some back). Those run while requests are served, and requests must
/// not wait for their own code to be read back. `cold_pages: release` is the default; `keep` turns all of
/// it off.
enum ColdPages {
    /// How often the executable's cold code is released again while the proxy runs (`RunCommand`).
    static let period: DispatchTimeInterval = .seconds(300)

    /// What one release did: resident file-backed memory before and after (KiB, `/proc/self/status`
    /// `RssFile`), and the ranges the kernel refused (an older kernel: `EINVAL`).
    struct Report: Equatable {
        var residentFileKiBBefore: Int
        var residentFileKiBAfter: Int
        var rangesAdvised: Int
        var rangesRefused: Int
        /// `errno` of the first refusal.
        var refusal: Int32 = 0

        /// The line logged after a release (no paths, no addresses).
        var summary: String {
            if rangesAdvised == 0 { return "cold_pages: nothing to release" }
            if rangesRefused == rangesAdvised {
                switch refusal {
                case EINVAL:
                    return "cold_pages: the kernel does not support MADV_PAGEOUT (Linux 5.4 or later); pages stay resident"
                case EPERM:
                    return "cold_pages: madvise was refused (EPERM: a seccomp filter?); pages stay resident"
                default:
                    return "cold_pages: madvise failed (errno \(refusal)); pages stay resident"
                }
            }
            return
                "cold_pages: released code and read-only data pages the request path does not use: resident file-backed memory \(Self.mebibytes(residentFileKiBBefore)) -> \(Self.mebibytes(residentFileKiBAfter)) MiB"
        }

        private static func mebibytes(_ kib: Int) -> String {
            let tenths = (kib * 10 + 512) / 1024
            return "\(tenths / 10).\(tenths % 10)"
        }
    }

    /// Which pages one release covers.
    enum Scope {
        /// Every file-backed mapping: after the start and after the first token fetches, when at most the
        /// first requests are under way.
        case fileMappings
        /// Only the executable's code from the cold-text marker on (`latchkey_cold_text_start`): after a
        /// reload and every `period`, while requests are served. The request path's own code (and the
        /// libraries', TLS included) stays, so no request waits for a page to be read back.
        case executableColdCode
    }

    /// One line of `/proc/self/maps`.
    struct Mapping: Equatable {
        var range: Range<UInt>
        var writable: Bool
        var executable: Bool
        /// The file's absolute path; nil for anonymous memory, the heap, stacks and the vDSO.
        var path: Substring?

        /// Parses `address perms offset dev inode [pathname]`; nil for a line that does not parse (the format
        /// is the kernel's: a line this does not understand is simply not released).
        init?(line: Substring) {
            // The path may contain spaces: it is the rest of the line.
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5 else { return nil }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16),
                start < end
            else { return nil }
            let permissions = Array(fields[1].utf8)
            guard permissions.count == 4 else { return nil }
            range = start..<end
            writable = permissions[1] == UInt8(ascii: "w")
            executable = permissions[2] == UInt8(ascii: "x")
            let name = fields.count == 6 ? fields[5].drop(while: { $0 == " " }) : ""
            path = name.first == "/" ? name : nil
        }
    }

    /// Releases `scope` when `policy` says so and logs what it did at `level`, `occasion` appended (e.g.
    /// " (after the first token fetches)"). The one way `RunCommand` releases.
    static func release(
        _ scope: Scope, policy: ColdPagesPolicy, logger: Logger, level: Logger.Level = .notice, occasion: String = ""
    ) {
        guard policy == .release else { return }
        let report = release(scope)  // not inside the log call: a message is evaluated only when it is logged
        logger.log(level: level, "\(report.summary)\(occasion)")
    }

    /// A stretch of file-backed address space a release covers.
    struct Stretch: Equatable {
        var range: Range<UInt>
        /// A writable mapping: the pages it has written are the process's own, so only its pages that are
        /// still the file's (`filePageRuns`) may be advised. Without `/proc/self/pagemap` it is skipped.
        var writable: Bool
    }

    /// The stretches `scope` covers, from the text of `/proc/self/maps`. `coldCodeStart` is the marker's
    /// address (only `executableColdCode` uses it); `pageSize` rounds it up.
    static func stretches(_ scope: Scope, maps: String, coldCodeStart: UInt, pageSize: UInt) -> [Stretch] {
        let mappings = maps.split(separator: "\n").compactMap(Mapping.init(line:))
        switch scope {
        case .fileMappings:
            return mappings.filter { $0.path != nil }.map { Stretch(range: $0.range, writable: $0.writable) }
        case .executableColdCode:
            guard let code = mappings.first(where: { $0.executable && $0.range.contains(coldCodeStart) }),
                code.path != nil, !code.writable
            else { return [] }
            let start = (coldCodeStart + pageSize - 1) / pageSize * pageSize
            return start < code.range.upperBound ? [Stretch(range: start..<code.range.upperBound, writable: false)] : []
        }
    }

    /// The runs of `range` a release may advise, given its `/proc/self/pagemap` entries (one per page, in
    /// order): everything but the pages the process has made its own, a private copy in memory (present,
    /// not a file page: bit 63 without bit 61) or in swap (bit 62). Pages not in memory stay inside a run
    /// (advising them does nothing), so a mapping whose pages are all the file's is one run.
    static func filePageRuns(of range: Range<UInt>, pageSize: UInt, entries: some Sequence<UInt64>) -> [Range<UInt>] {
        var runs: [Range<UInt>] = []
        var runStart: UInt? = range.lowerBound
        var address = range.lowerBound
        for entry in entries where address < range.upperBound {
            let present = entry & (1 << 63) != 0
            let swapped = entry & (1 << 62) != 0
            let filePage = entry & (1 << 61) != 0
            if (present && !filePage) || swapped {
                if let start = runStart, start < address { runs.append(start..<address) }
                runStart = nil
            } else if runStart == nil {
                runStart = address
            }
            address += pageSize
        }
        // Pages past the entries given are not known: the run ends where the entries do.
        if let start = runStart, start < address { runs.append(start..<address) }
        return runs
    }

    #if os(Linux)
    /// `MADV_PAGEOUT` from `<linux/mman.h>` (Glibc's headers name it only from 2.33 on, behind `_GNU_SOURCE`).
    private static let pageOut: Int32 = 21

    /// Releases the ranges now. Synchronous and cheap (the kernel walks the page tables once: about a
    /// millisecond here); safe from any thread.
    static func release(_ scope: Scope) -> Report {
        let before = residentFileKiB()
        let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let stretches = stretches(
            scope, maps: readProcFile("/proc/self/maps") ?? "", coldCodeStart: UInt(latchkey_cold_text_start()),
            pageSize: pageSize)
        // Free heap memory goes back too: decoding the config and building a runtime leave freed chunks
        // throughout malloc's arenas, which glibc returns only at the top of the heap on its own.
        _ = latchkey_malloc_trim()
        let pageMap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
        defer { if pageMap >= 0 { close(pageMap) } }
        var advised = 0
        var refused = 0
        var refusal: Int32 = 0
        for stretch in stretches {
            let entries = pageMapEntries(pageMap, of: stretch.range, pageSize: pageSize)
            let runs: [Range<UInt>]
            if let entries {
                runs = filePageRuns(of: stretch.range, pageSize: pageSize, entries: entries)
            } else {
                // No pagemap (an old kernel, a restricted /proc): a read-only mapping's pages went private
                // only by relocation, which paging out leaves alone without swap; a writable one is skipped.
                runs = stretch.writable ? [] : [stretch.range]
            }
            // Pages known to be the file's, in a mapping nothing writes, can also leave this process's page
            // tables: the ones paging out could not reclaim because another process maps them too (libc,
            // libcrypto) stop counting here, and a touch maps them again from the page cache. Never in a
            // writable mapping: a page written between the pagemap read and this call would be lost.
            let unmap = entries != nil && !stretch.writable
            for run in runs {
                advised += 1
                let start = UnsafeMutableRawPointer(bitPattern: run.lowerBound)
                let length = Int(run.upperBound - run.lowerBound)
                if madvise(start, length, pageOut) != 0 {
                    if refused == 0 { refusal = errno }
                    refused += 1
                }
                if unmap { _ = madvise(start, length, MADV_DONTNEED) }
            }
        }
        return Report(
            residentFileKiBBefore: before, residentFileKiBAfter: residentFileKiB(), rangesAdvised: advised,
            rangesRefused: refused, refusal: refusal)
    }

    /// The `/proc/self/pagemap` entries of `range` (8 bytes per page), or nil when they cannot be read.
    private static func pageMapEntries(_ fd: Int32, of range: Range<UInt>, pageSize: UInt) -> [UInt64]? {
        let pages = Int((range.upperBound - range.lowerBound) / pageSize)
        guard fd >= 0, pages > 0 else { return nil }
        let entries = [UInt64](unsafeUninitializedCapacity: pages) { buffer, count in
            let wanted = pages * MemoryLayout<UInt64>.stride
            var done = 0
            while done < wanted {
                let offset = off_t(range.lowerBound / pageSize) * 8 + off_t(done)
                let got = pread(fd, UnsafeMutableRawPointer(buffer.baseAddress!) + done, wanted - done, offset)
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { break }
                done += got
            }
            count = done / MemoryLayout<UInt64>.stride
        }
        return entries.count == pages ? entries : nil
    }

    /// `RssFile` of `/proc/self/status`, in KiB (0 when it cannot be read).
    static func residentFileKiB() -> Int {
        guard let status = readProcFile("/proc/self/status") else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("RssFile:") {
            return Int(line.dropFirst("RssFile:".count).filter(\.isNumber)) ?? 0
        }
        return 0
    }

    /// A /proc file's text (their size is 0 in stat: read until end of file).
    private static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
    #else
    static func release(_ scope: Scope) -> Report {
        Report(residentFileKiBBefore: 0, residentFileKiBAfter: 0, rangesAdvised: 0, rangesRefused: 0)
    }
    #endif
}

