import Foundation
import XCTest
@testable import Driftsync

/// Every reset cause × every mode against the reference server (a child process): the decision
/// DESIGN's table gives, the hooks, the manual handler (its backup opened from Swift) and
/// `performReset()`, observers and the report.
final class ResetMatrixTests: ServerTestCase {
    enum Cause: String {
        case serverRestored, syncReenabled, clientSchemaAhead, clientTooOld, breakingSchemaChange, roleChanged, recoveryDisabled
    }

    static let expectedCause: [Cause: ResetCause] = [
        .serverRestored: .serverRestored, .recoveryDisabled: .serverRestored, .syncReenabled: .syncReenabled,
        .clientSchemaAhead: .clientSchemaAhead, .clientTooOld: .clientTooOld,
        .breakingSchemaChange: .breakingSchemaChange, .roleChanged: .roleChanged,
    ]

    func cause(_ c: Cause) throws {
        switch c {
        case .serverRestored: try server.admin("restore", "early")
        case .syncReenabled:
            try server.admin("terminate")
            try server.admin("enable")
        case .clientTooOld: try server.admin("clock", "advance", "31d")
        case .breakingSchemaChange: try server.apply(schema: breakingSchema)
        case .roleChanged: try server.admin("role", "assign", "alice", "editor2")
        case .recoveryDisabled:
            // The flag lives in the server database: restore first, then switch recovery off.
            try server.admin("restore", "early")
            try server.admin("recovery", "off")
        case .clientSchemaAhead: break  // the client reopens with a class the server lacks
        }
    }

    func run(_ c: Cause, _ kind: ModeKind, expect decision: ResetDecision, file: StaticString = #filePath, line: UInt = #line) async throws {
        try server.admin("backup", "early")
        let seen = Seen()
        let path = dir.appendingPathComponent("client.realm")
        var schema = syncSchema
        var r = try openClient(server, path, kind, seen)
        try await prepareUnsyncedChanges(r)
        if c == .clientSchemaAhead {
            r.close()
            schema = schemaWithExtraClass
            r = try openClient(server, path, kind, seen, schema: schema, startPaused: true)
        } else {
            try cause(c)
        }
        let s = try XCTUnwrap(r.syncSession)
        let token = try r.observe(className: "Item") { seen.changes.append($0) }
        let errorToken = try s.observeErrors { seen.errors.append($0) }
        try s.resume()

        let report = try waitForReport(r)
        XCTAssertEqual(report.cause, Self.expectedCause[c], file: file, line: line)
        XCTAssertEqual(report.decision, decision, "\(report)", file: file, line: line)
        XCTAssertEqual(report.mode, mode(kind, before: nil, after: nil, manual: nil).kind, file: file, line: line)
        XCTAssertFalse(report.serverMessage.isEmpty, file: file, line: line)
        if [.clientTooOld, .recoveryDisabled, .breakingSchemaChange].contains(c) {
            XCTAssertEqual(report.action, .clientResetNoRecovery, file: file, line: line)
        } else {
            XCTAssertEqual(report.action, .clientReset, file: file, line: line)
        }
        XCTAssertTrue(seen.errors.all.contains { $0.isClientReset && $0.cause == Self.expectedCause[c] }, "\(seen.errors.all)", file: file, line: line)

        switch decision {
        case .recover:
            eventually("reconnected") { (try? s.state) == .connected }
            try await syncAll(r)
            XCTAssertEqual(nameOf(r, 1), "local edit", file: file, line: line)
            XCTAssertEqual(nameOf(r, 2), "offline", file: file, line: line)
            XCTAssertGreaterThanOrEqual(report.recoveredChangesets, 1, file: file, line: line)
            XCTAssertEqual(seen.before.first?.0, 2, file: file, line: line)
            XCTAssertEqual(seen.before.first?.1, true, "the before hook's realm is frozen", file: file, line: line)
            eventually("after hook") { !seen.after.isEmpty }
            XCTAssertEqual(seen.after.first?.1, "offline", file: file, line: line)
            XCTAssertEqual(seen.after.first?.2, true, "didRecover", file: file, line: line)
            XCTAssertTrue(seen.manual.isEmpty, file: file, line: line)
            // The recovered changes reach another client through the server.
            let other = try openClient(server, dir.appendingPathComponent("other.realm"), .recoverOrDiscard, Seen(), schema: schema, user: "bob")
            try await syncAll(other)
            XCTAssertEqual(nameOf(other, 2), "offline", file: file, line: line)
            XCTAssertEqual(nameOf(other, 1), "local edit", file: file, line: line)
            other.close()
        case .discard:
            eventually("reconnected") { (try? s.state) == .connected }
            try await syncAll(r)
            XCTAssertNil(nameOf(r, 2), "the discarded create is gone", file: file, line: line)
            XCTAssertTrue(report.discarded.contains { $0.instruction.contains("Item[2]") }, "\(report.discarded)", file: file, line: line)
            XCTAssertTrue(report.discarded.contains { $0.instruction.contains("local edit") }, "\(report.discarded)", file: file, line: line)
            XCTAssertTrue(report.discarded.allSatisfy { !$0.reason.isEmpty }, file: file, line: line)
            eventually("after hook") { !seen.after.isEmpty }
            XCTAssertEqual(seen.after.first?.0, "offline", file: file, line: line)
            XCTAssertNil(seen.after.first?.1, file: file, line: line)
            XCTAssertEqual(seen.after.first?.2, false, "didRecover", file: file, line: line)
            XCTAssertTrue(seen.changes.all.contains { $0["Item"]?.deleted.contains(2) == true }, "observers saw Item 2 deleted", file: file, line: line)
        default:
            eventually("the manual handler") { !seen.manual.isEmpty }
            let m = try XCTUnwrap(seen.manual.first)
            XCTAssertEqual(m.cause, Self.expectedCause[c], file: file, line: line)
            XCTAssertEqual(URL(fileURLWithPath: m.originalPath).standardizedFileURL, path.standardizedFileURL, file: file, line: line)
            XCTAssertEqual(m.report?.decision, .manual, file: file, line: line)
            XCTAssertFalse(m.message.isEmpty, file: file, line: line)
            // The backup (opened inside the handler) has the unsynced changes.
            XCTAssertEqual(seen.backupNames.first?[1], "local edit", file: file, line: line)
            XCTAssertEqual(seen.backupNames.first?[2], "offline", file: file, line: line)
            XCTAssertTrue(try s.isPaused, file: file, line: line)
            XCTAssertTrue(seen.after.isEmpty, file: file, line: line)
            // Perform the reset as an app would: close, perform, reopen from the server's state.
            token.invalidate()
            errorToken.invalidate()
            r.close()
            try m.performReset()
            XCTAssertFalse(FileManager.default.fileExists(atPath: path.path), file: file, line: line)
        }
        token.invalidate()
        errorToken.invalidate()
        r.close()
    }

    // The 7 causes × 4 modes; the expected decision is DESIGN's table.
    func testResetMatrix_serverRestored_manual() async throws { try await run(.serverRestored, .manual, expect: .manual) }
    func testResetMatrix_serverRestored_discard() async throws { try await run(.serverRestored, .discard, expect: .discard) }
    func testResetMatrix_serverRestored_recover() async throws { try await run(.serverRestored, .recover, expect: .recover) }
    func testResetMatrix_serverRestored_recoverOrDiscard() async throws { try await run(.serverRestored, .recoverOrDiscard, expect: .recover) }
    func testResetMatrix_syncReenabled_manual() async throws { try await run(.syncReenabled, .manual, expect: .manual) }
    func testResetMatrix_syncReenabled_discard() async throws { try await run(.syncReenabled, .discard, expect: .discard) }
    func testResetMatrix_syncReenabled_recover() async throws { try await run(.syncReenabled, .recover, expect: .recover) }
    func testResetMatrix_syncReenabled_recoverOrDiscard() async throws { try await run(.syncReenabled, .recoverOrDiscard, expect: .recover) }
    func testResetMatrix_clientSchemaAhead_manual() async throws { try await run(.clientSchemaAhead, .manual, expect: .manual) }
    func testResetMatrix_clientSchemaAhead_discard() async throws { try await run(.clientSchemaAhead, .discard, expect: .discard) }
    func testResetMatrix_clientSchemaAhead_recover() async throws { try await run(.clientSchemaAhead, .recover, expect: .recover) }
    func testResetMatrix_clientSchemaAhead_recoverOrDiscard() async throws { try await run(.clientSchemaAhead, .recoverOrDiscard, expect: .recover) }
    func testResetMatrix_clientTooOld_manual() async throws { try await run(.clientTooOld, .manual, expect: .manual) }
    func testResetMatrix_clientTooOld_discard() async throws { try await run(.clientTooOld, .discard, expect: .discard) }
    func testResetMatrix_clientTooOld_recover() async throws { try await run(.clientTooOld, .recover, expect: .manual) }
    func testResetMatrix_clientTooOld_recoverOrDiscard() async throws { try await run(.clientTooOld, .recoverOrDiscard, expect: .discard) }
    func testResetMatrix_breakingSchemaChange_manual() async throws { try await run(.breakingSchemaChange, .manual, expect: .manual) }
    func testResetMatrix_breakingSchemaChange_discard() async throws { try await run(.breakingSchemaChange, .discard, expect: .manual) }
    func testResetMatrix_breakingSchemaChange_recover() async throws { try await run(.breakingSchemaChange, .recover, expect: .manual) }
    func testResetMatrix_breakingSchemaChange_recoverOrDiscard() async throws { try await run(.breakingSchemaChange, .recoverOrDiscard, expect: .manual) }
    func testResetMatrix_roleChanged_manual() async throws { try await run(.roleChanged, .manual, expect: .manual) }
    func testResetMatrix_roleChanged_discard() async throws { try await run(.roleChanged, .discard, expect: .discard) }
    func testResetMatrix_roleChanged_recover() async throws { try await run(.roleChanged, .recover, expect: .recover) }
    func testResetMatrix_roleChanged_recoverOrDiscard() async throws { try await run(.roleChanged, .recoverOrDiscard, expect: .recover) }
    func testResetMatrix_recoveryDisabled_manual() async throws { try await run(.recoveryDisabled, .manual, expect: .manual) }
    func testResetMatrix_recoveryDisabled_discard() async throws { try await run(.recoveryDisabled, .discard, expect: .discard) }
    func testResetMatrix_recoveryDisabled_recover() async throws { try await run(.recoveryDisabled, .recover, expect: .manual) }
    func testResetMatrix_recoveryDisabled_recoverOrDiscard() async throws { try await run(.recoveryDisabled, .recoverOrDiscard, expect: .discard) }
}
