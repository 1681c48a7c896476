#if canImport(Glibc)
import Glibc
#endif
import Logging
import OCI
import Synchronization

/// Writes log records to standard error as `text`, `json` or `logfmt` lines (`log.formatter`).
///
/// Each record is one `write(2)` of one line, so lines from concurrent requests never interleave.
/// Values often come from a request (a path, a user agent, `?ns=`), so in `text` and `logfmt`
/// every value that is not plain printable ASCII is quoted with control characters escaped:
/// a client cannot end the line early or add a `key=value` of its own.
public struct WharfLogHandler: LogHandler {
    public enum Format: String, Sendable {
        case text, json, logfmt
    }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata
    private let label: String
    private let format: Format

    public init(label: String, format: Format, level: Logger.Level, metadata: Logger.Metadata = [:]) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.metadata = metadata
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        emit(level: event.level, message: event.message, metadata: event.metadata, source: event.source)
    }

    private func emit(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?, source: String) {
        var fields = metadata
        if let extra { fields.merge(extra) { $1 } }
        let pairs = fields.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        let time = Self.timestamp()
        var text: String
        switch format {
        case .text:
            text = "\(time) \(level) \(label):"
            for (key, value) in pairs { text += " \(key)=\(Self.logfmtValue(value))" }
            text += " [\(source)] \(Self.escapeControls(message.description))"
        case .json:
            text = #"{"time":"\#(time)","level":"\#(level)","msg":\#(Self.jsonString(message.description)),"source":"\#(source)""#
            for (key, value) in pairs { text += ",\(JSONText.string(key)):\(Self.jsonString(value))" }
            text += "}"
        case .logfmt:
            text = "time=\(time) level=\(level) msg=\(Self.logfmtValue(message.description)) source=\(Self.logfmtValue(source))"
            for (key, value) in pairs { text += " \(key)=\(Self.logfmtValue(value))" }
        }
        text += "\n"
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }

    /// A value bare when it is plain printable ASCII without `"`, `=` or `\`, else quoted with
    /// `"` and `\` escaped and every control or line-breaking character as `\n` or `\uXXXX`.
    static func logfmtValue(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy {
            (0x21...0x7E).contains($0.value) && $0 != "\"" && $0 != "=" && $0 != "\\"
        }
        return plain ? value : "\"" + escapeControls(JSONText.escape(value)) + "\""
    }

    /// Escapes what `JSONText.escape` leaves: DEL, C1 controls and Unicode line and paragraph
    /// separators, which some viewers break lines at (C0 controls are escaped already).
    static func escapeControls(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 {
                out += JSONText.escape(String(scalar))
            } else if isControl(scalar) {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func jsonString(_ value: String) -> String { "\"" + escapeControls(JSONText.escape(value)) + "\"" }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}
