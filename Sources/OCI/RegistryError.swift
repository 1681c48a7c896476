/// A failure with an OCI error code, the HTTP status it maps to, and a message a person can act on.
///
/// The server turns it into `{"errors":[{"code":…,"message":…,"detail":…}]}`.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    /// An OCI (or Docker/Distribution) error code and its HTTP status.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public let status: Int

        public init(name: String, status: Int) {
            self.name = name
            self.status = status
        }

        public static let blobUnknown = Code(name: "BLOB_UNKNOWN", status: 404)
        public static let blobUploadInvalid = Code(name: "BLOB_UPLOAD_INVALID", status: 400)
        public static let blobUploadUnknown = Code(name: "BLOB_UPLOAD_UNKNOWN", status: 404)
        public static let digestInvalid = Code(name: "DIGEST_INVALID", status: 400)
        public static let manifestBlobUnknown = Code(name: "MANIFEST_BLOB_UNKNOWN", status: 400)
        public static let manifestInvalid = Code(name: "MANIFEST_INVALID", status: 400)
        public static let manifestUnknown = Code(name: "MANIFEST_UNKNOWN", status: 404)
        public static let nameInvalid = Code(name: "NAME_INVALID", status: 400)
        public static let nameUnknown = Code(name: "NAME_UNKNOWN", status: 404)
        public static let sizeInvalid = Code(name: "SIZE_INVALID", status: 400)
        public static let tagInvalid = Code(name: "TAG_INVALID", status: 400)
        public static let unauthorized = Code(name: "UNAUTHORIZED", status: 401)
        public static let denied = Code(name: "DENIED", status: 403)
        public static let unsupported = Code(name: "UNSUPPORTED", status: 405)
        public static let tooManyRequests = Code(name: "TOOMANYREQUESTS", status: 429)
        public static let rangeInvalid = Code(name: "RANGE_INVALID", status: 416)
        public static let paginationNumberInvalid = Code(name: "PAGINATION_NUMBER_INVALID", status: 400)
        public static let unknown = Code(name: "UNKNOWN", status: 500)
        public static let unavailable = Code(name: "UNAVAILABLE", status: 503)
        /// A manifest body over `Manifest.maximumSize` (the spec's 413 for end-7).
        public static let manifestTooLarge = Code(name: "SIZE_INVALID", status: 413)

        public var description: String { name }
    }

    public var code: Code
    public var message: String
    /// JSON text placed as `detail`, already encoded; nil for none.
    public var detailJSON: String?
    /// Extra response headers this error needs (`Content-Range`, `Retry-After`, …).
    public var headers: [(String, String)]
    /// Overrides the code's status where the spec asks for another (e.g. 416 with `bytes */size`).
    public var status: Int

    public init(_ code: Code, _ message: String, detailJSON: String? = nil, headers: [(String, String)] = [], status: Int? = nil) {
        self.code = code
        self.message = message
        self.detailJSON = detailJSON
        self.headers = headers
        self.status = status ?? code.status
    }

    public var description: String { "\(code.name): \(message)" }
}
