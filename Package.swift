// swift-tools-version:6.0
// Latchkey: a sidecar authenticating forward proxy.
//
// Dependencies are deliberately few: argument parsing (CLI), swift-log (the logging API every
// Swift server library speaks) and Yams (YAML with line/column marks for config errors).
// TLS, HTTP/2 and crypto come from the system's OpenSSL and nghttp2.
import PackageDescription

// Release builds skip Swift's run-time exclusivity checks (`swift_beginAccess` on every access to a class's
// stored property that the compiler cannot prove alone). On the data path they measured about 1.3k
// instructions per proxied HTTP/1.1 request and 5.5k per request through an HTTP/2 session (callgrind,
// the h2 glue touches its session's state from nghttp2's callbacks). Debug builds keep the checks, and
// every unit, end-to-end, sanitizer and fuzz run uses a debug build, so an overlapping access still fails
// there; the compile-time checks, which catch most, stay on everywhere.
let releaseSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Latchkey",
    products: [
        .executable(name: "latchkey", targets: ["latchkey"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),  // LogEvent-based LogHandler
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            path: "Sources/COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CNGHTTP2",
            path: "Sources/CNGHTTP2",
            pkgConfig: "libnghttp2",
            providers: [.apt(["libnghttp2-dev"])]
        ),
        .systemLibrary(
            name: "CHiredis",
            path: "Sources/CHiredis",
            // No pkgConfig: hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM prohibits (a warning on every
            // build), and the headers are under /usr/include/hiredis where the shim names them.
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(name: "CLatchkeyShims"),
        .target(
            name: "LatchkeyNet",
            dependencies: ["CLatchkeyShims", .product(name: "Logging", package: "swift-log")],
            swiftSettings: releaseSettings
        ),
        .target(name: "LatchkeyTLS", dependencies: ["COpenSSL", "LatchkeyNet"], swiftSettings: releaseSettings),
        .target(name: "LatchkeyHTTP", dependencies: ["CNGHTTP2"], swiftSettings: releaseSettings),
        .target(name: "LatchkeyConfig", dependencies: ["Yams", "LatchkeyHTTP", "LatchkeyNet"]),
        .target(
            name: "LatchkeyAuth",
            dependencies: [
                "COpenSSL", "LatchkeyConfig", "LatchkeyHTTP",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The shared token store on Redis (issue 15): hiredis's codec over Latchkey's own sockets and TLS.
        .target(
            name: "LatchkeyRedis",
            dependencies: ["CHiredis", "LatchkeyNet", "LatchkeyTLS", "LatchkeyConfig", "LatchkeyAuth"]
        ),
        // Metric families and their exposition; knows nothing of the data path that records into it.
        .target(name: "LatchkeyMetrics"),
        .target(
            name: "LatchkeyProxy",
            dependencies: [
                "LatchkeyNet", "LatchkeyTLS", "LatchkeyHTTP", "LatchkeyAuth", "LatchkeyConfig", "LatchkeyMetrics",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: releaseSettings
        ),
        // The admin listener's endpoints (probes, metrics, consent), above the proxy it reports on.
        .target(
            name: "LatchkeyAdmin",
            dependencies: [
                "LatchkeyProxy", "LatchkeyNet", "LatchkeyHTTP", "LatchkeyAuth", "LatchkeyConfig", "LatchkeyMetrics",
            ]
        ),
        .executableTarget(
            name: "latchkey",
            dependencies: [
                "LatchkeyAdmin", "LatchkeyProxy", "LatchkeyConfig", "LatchkeyAuth", "LatchkeyHTTP", "LatchkeyMetrics",
                "LatchkeyNet", "LatchkeyTLS", "LatchkeyRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "LatchkeyNetTests", dependencies: ["LatchkeyNet"]),
        .testTarget(name: "LatchkeyTLSTests", dependencies: ["LatchkeyTLS", "COpenSSL"]),
        .testTarget(
            name: "LatchkeyHTTPTests", dependencies: ["LatchkeyHTTP"], exclude: ["FuzzCorpus", "HTTP2FuzzCorpus"]),
        .testTarget(
            name: "LatchkeyConfigTests",
            dependencies: ["LatchkeyConfig", "LatchkeyHTTP"],
            exclude: ["FuzzCorpus"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "LatchkeyAuthTests", dependencies: ["LatchkeyAuth", "LatchkeyHTTP", "COpenSSL"]),
        .testTarget(name: "LatchkeyRedisTests", dependencies: ["LatchkeyRedis", "LatchkeyAuth", "LatchkeyConfig"]),
        .testTarget(name: "LatchkeyMetricsTests", dependencies: ["LatchkeyMetrics"]),
        .testTarget(
            name: "LatchkeyProxyTests", dependencies: ["LatchkeyProxy", "LatchkeyTLS"], exclude: ["InterceptFuzzCorpus"]),
        .testTarget(name: "LatchkeyAdminTests", dependencies: ["LatchkeyAdmin"]),
        .testTarget(name: "latchkeyTests", dependencies: ["latchkey"]),
        // What the fuzz targets share (the invariant check, replaying saved inputs).
        .target(name: "LatchkeyFuzzSupport"),
        .executableTarget(name: "LatchkeyHTTPFuzz", dependencies: ["LatchkeyHTTP", "LatchkeyFuzzSupport"]),
        .executableTarget(name: "LatchkeyHTTP2Fuzz", dependencies: ["LatchkeyHTTP", "LatchkeyFuzzSupport"]),
        .executableTarget(name: "LatchkeyConfigFuzz", dependencies: ["LatchkeyConfig", "LatchkeyFuzzSupport"]),
        .executableTarget(
            name: "LatchkeyInterceptFuzz",
            dependencies: [
                "LatchkeyProxy", "LatchkeyTLS", "LatchkeyHTTP", "LatchkeyConfig", "LatchkeyAuth", "LatchkeyFuzzSupport",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
