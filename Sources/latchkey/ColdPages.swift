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
/// How: `madvise(MADV_PAGEOUT)` (Linux 5.4) over every file-backed mapping that is not writable (the
/// executable's and libraries' code and read-only data, nothing else). Those pages are clean copies of
/// files, so reclaiming them loses nothing: a page needed again is read back on first touch. The kernel
/// reclaims only pages this process alone maps (a `libc` page shared with other processes stays), and
/// writable mappings are left alone, since their changed pages would go to swap.
///
/// When (`RunCommand`): once the listeners are bound, and again once the first token fetches are done
/// (usually within a second), every read-only file mapping: at most the first requests are under way, and
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
        /// Every file-backed mapping that is not writable: after the start and after the first token fetches,
        /// when at most the first requests are under way.
        case readOnlyFileMappings
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

    /// The address ranges `scope` covers, from the text of `/proc/self/maps`. `coldCodeStart` is the
    /// marker's address (only `executableColdCode` uses it); `pageSize` rounds it up.
    static func ranges(_ scope: Scope, maps: String, coldCodeStart: UInt, pageSize: UInt) -> [Range<UInt>] {
        let mappings = maps.split(separator: "\n").compactMap(Mapping.init(line:))
        switch scope {
        case .readOnlyFileMappings:
            return mappings.filter { $0.path != nil && !$0.writable }.map(\.range)
        case .executableColdCode:
            guard let code = mappings.first(where: { $0.executable && $0.range.contains(coldCodeStart) }),
                code.path != nil, !code.writable
            else { return [] }
            let start = (coldCodeStart + pageSize - 1) / pageSize * pageSize
            return start < code.range.upperBound ? [start..<code.range.upperBound] : []
        }
    }

    #if os(Linux)
    /// `MADV_PAGEOUT` from `<linux/mman.h>` (Glibc's headers name it only from 2.33 on, behind `_GNU_SOURCE`).
    private static let pageOut: Int32 = 21

    /// Releases the ranges now. Synchronous and cheap (the kernel walks the page tables once: about a
    /// millisecond here); safe from any thread.
    static func release(_ scope: Scope) -> Report {
        let before = residentFileKiB()
        let ranges = ranges(
            scope, maps: readProcFile("/proc/self/maps") ?? "", coldCodeStart: UInt(latchkey_cold_text_start()),
            pageSize: UInt(sysconf(Int32(_SC_PAGESIZE))))
        // Free heap memory goes back too: decoding the config and building a runtime leave freed chunks
        // throughout malloc's arenas, which glibc returns only at the top of the heap on its own.
        _ = latchkey_malloc_trim()
        var refused = 0
        var refusal: Int32 = 0
        for range in ranges {
            let start = UnsafeMutableRawPointer(bitPattern: range.lowerBound)
            if madvise(start, Int(range.upperBound - range.lowerBound), pageOut) != 0 {
                if refused == 0 { refusal = errno }
                refused += 1
            }
        }
        return Report(
            residentFileKiBBefore: before, residentFileKiBAfter: residentFileKiB(), rangesAdvised: ranges.count,
            rangesRefused: refused, refusal: refusal)
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

