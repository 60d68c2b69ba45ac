import CSystem
import Glibc
import JSON

/// Sends `message` as one NDJSON line on a socket or pipe, retrying short writes and EINTR;
/// false when the other end is gone (MSG_NOSIGNAL: no SIGPIPE).
public func sendJSONLine(_ fd: Int32, _ message: JSONObject) -> Bool {
    var writer = JSONWriter(capacity: 128)
    writer.write(.object(message))
    writer.bytes.append(0x0A)
    let bytes = writer.bytes
    var offset = 0
    while offset < bytes.count {
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
        if sent < 0 && errno == EINTR { continue }
        if sent <= 0 { return false }
        offset += sent
    }
    return true
}
