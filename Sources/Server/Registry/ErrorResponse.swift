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
