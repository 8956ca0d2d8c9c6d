import XCTest
@testable import Driftsync

final class VersionTests: XCTestCase {
    func testVersionMatchesHeader() {
        XCTAssertEqual(driftsyncVersion, "0.1.0")
    }
}
