import CDriftsync

/// The native library's version ("MAJOR.MINOR.PATCH").
public var driftsyncVersion: String { String(cString: driftsync_version()) }
