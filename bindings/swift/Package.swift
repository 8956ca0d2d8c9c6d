// swift-tools-version:5.9
// The Swift binding of driftsync: a system-library module over the C ABI (include/driftsync.h)
// and the `Driftsync` wrapper. The native library is found through pkg-config (driftsync.pc):
// see README.md.
import PackageDescription

let package = Package(
    name: "Driftsync",
    products: [
        .library(name: "Driftsync", targets: ["Driftsync"]),
    ],
    targets: [
        .systemLibrary(
            name: "CDriftsync",
            path: "Sources/CDriftsync",
            pkgConfig: "driftsync"
        ),
        .target(name: "Driftsync", dependencies: ["CDriftsync"]),
        .testTarget(name: "DriftsyncTests", dependencies: ["Driftsync"]),
    ],
    swiftLanguageVersions: [.v5]
)
