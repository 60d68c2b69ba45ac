// swift-tools-version: 6.0
import PackageDescription

// The module graph reads bottom-up:
// CMicroHTTPD → HTTPServer; CSystem → JSON → Tracing → Primitives → Experiments → Store → Playground → interleave.
let package = Package(
    name: "Interleave",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "interleave", targets: ["interleave"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CMicroHTTPD",
            pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]
        ),
        .target(name: "CSystem"),
        .target(name: "JSON"),
        .target(name: "HTTPServer", dependencies: ["CMicroHTTPD", "JSON"]),
        .target(name: "Tracing", dependencies: ["JSON", "CSystem"]),
        .target(name: "Primitives", dependencies: ["Tracing", "CSystem"]),
        .target(name: "Experiments", dependencies: ["Primitives", "Tracing", "JSON"]),
        .target(name: "Store", dependencies: ["Experiments", "JSON", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "Playground", dependencies: [
            "Experiments", "HTTPServer", "Tracing", "JSON", "Store",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(
            name: "interleave",
            dependencies: [
                "Playground", "Experiments", "Primitives", "Tracing", "JSON", "CSystem", "Store",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "TracingTests", dependencies: ["Tracing"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments"]),
        .testTarget(name: "PlaygroundTests", dependencies: ["Playground", "HTTPServer", "Store"]),
    ],
    swiftLanguageModes: [.v6]
)
