import NIOCore
import NIOHTTP1
import OCI

extension RegistryError {
    /// The OCI error body: `{"errors":[{"code":…,"message":…,"detail":…}]}`.
    func response(includeBody: Bool = true) -> HTTPResponse {
        var body = #"{"errors":[{"code":"\#(code.name)","message":"\#(JSONText.escape(message))""#
        if let detailJSON { body += #","detail":\#(detailJSON)"# }
        body += "}]}\n"
        var headers = HTTPHeaders([("Content-Type", "application/json")])
        for (name, value) in self.headers { headers.add(name: name, value: value) }
        if includeBody {
            return HTTPResponse(status: HTTPResponseStatus(statusCode: status), headers: headers, body: .buffer(ByteBuffer(string: body)))
        }
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        return HTTPResponse(status: HTTPResponseStatus(statusCode: status), headers: headers, body: .headOnly)
    }
}

enum JSONText {
    /// Escapes `text` for use inside a JSON string literal.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u00" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func string(_ text: String) -> String { "\"" + escape(text) + "\"" }
}
