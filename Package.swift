// swift-tools-version:6.1
//
// Baton: a distributed batch-job scheduler over ZeroMQ.
//
// Dependencies point one way, and only two modules wrap C libraries:
//
//   Wire, Core              the standard library only: messages and codec; flows, jobs, state machines
//   ZeroMQ  ← CZeroMQ       sockets, poller, messages over libzmq
//   Store   ← CSQLite       SQLite connections, statements, migrations; each service's store
//   HTTP                    a bounded HTTP/1.1 parser and server, for /metrics and the dashboard
//   Runtime                 one event loop for every service, the services, the worker's process runner, ServicePlan
//   Commands                argument parsing and the `baton` subcommands
//   baton                   the executable: parses arguments, runs the command
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Baton",
    products: [
        .executable(name: "baton", targets: ["baton"]),
        // The load generator: puts a cluster under load and measures queue waits and fairness.
        .executable(name: "baton-load", targets: ["baton-load"]),
        // For programs that embed a worker with their own handlers, or a whole cluster.
        .library(name: "Runtime", targets: ["Runtime"]),
    ],
    targets: [
        // C libraries from Debian's libzmq3-dev and libsqlite3-dev. libzmq's pkg-config file adds
        // -isystem flags for Kerberos that SwiftPM refuses, and zmq.h sits in /usr/include anyway,
        // so CZeroMQ links by its module map alone.
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(
            name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),

        // Pure layers: no C, no Foundation, no I/O.
        .target(name: "Wire", swiftSettings: strict),
        .target(name: "Core", dependencies: ["Wire"], swiftSettings: strict),

        // HTTP/1.1 for /metrics and the dashboard: a bounded parser and a small server of its own.
        .target(name: "HTTP", swiftSettings: strict),

        // Adapters.
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"], swiftSettings: strict),
        .target(name: "Store", dependencies: ["CSQLite", "Core", "Wire"], swiftSettings: strict),

        // The services: event loops that own their sockets and drive the cores.
        .target(
            name: "Runtime", dependencies: ["Core", "Wire", "ZeroMQ", "Store", "HTTP"],
            // The dashboard's pages, compiled into the binary: nothing to install, nothing from elsewhere.
            resources: [.embedInCode("Web/Assets/baton.css"), .embedInCode("Web/Assets/baton.js")], swiftSettings: strict),

        // The command line.
        .target(name: "Commands", dependencies: ["Core", "Wire", "Runtime", "Store", "ZeroMQ", "HTTP"], swiftSettings: strict),
        .executableTarget(name: "baton", dependencies: ["Commands"], swiftSettings: strict),
        .executableTarget(
            name: "baton-load", dependencies: ["Runtime", "Core", "Wire", "ZeroMQ", "Store"], path: "tools/load",
            swiftSettings: strict),

        .testTarget(name: "WireTests", dependencies: ["Wire"], swiftSettings: strict),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP"], swiftSettings: strict),
        .testTarget(name: "CoreTests", dependencies: ["Core", "Wire"], swiftSettings: strict),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"], swiftSettings: strict),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Core", "Wire"], swiftSettings: strict),
        .testTarget(name: "CommandsTests", dependencies: ["Commands", "Core"], swiftSettings: strict),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "Core", "Store"], swiftSettings: strict),
        .testTarget(
            name: "SystemTests", dependencies: ["Runtime", "Commands", "Core", "Wire", "ZeroMQ", "Store"],
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
