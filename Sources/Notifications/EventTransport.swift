import HTTPClient

/// Delivers one envelope to one endpoint.
public protocol EventTransport: Sendable {
    /// - Throws: when the endpoint did not accept the envelope (it will be sent again).
    func send(_ body: [UInt8], to endpoint: EndpointConfiguration) async throws
}

/// Why an endpoint did not take an envelope.
public struct DeliveryError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// POSTs envelopes with Wharf's libcurl client. As in Distribution, any 2xx or 3xx answer
/// means the endpoint took the events; anything else, or no answer within the endpoint's
/// `timeout`, is a failure.
public struct HTTPEventTransport: EventTransport {
    let client: HTTPClient

    public init(client: HTTPClient) {
        self.client = client
    }

    public func send(_ body: [UInt8], to endpoint: EndpointConfiguration) async throws {
        var request = HTTPRequest(.post, url: endpoint.url, body: body)
        request.headers.set("Content-Type", Envelope.mediaType)
        for field in endpoint.headers { request.headers.add(field.name, field.value) }
        request.timeouts = HTTPTimeouts(connect: endpoint.timeout, lowSpeedTime: max(endpoint.timeout, .seconds(1)), total: endpoint.timeout)
        let response: HTTPResponse
        do {
            response = try await client.execute(request, maxBodySize: 1 << 20)
        } catch {
            throw DeliveryError("POST \(endpoint.url): \(error)")
        }
        guard (200..<400).contains(response.status) else {
            throw DeliveryError("POST \(endpoint.url): the endpoint answered \(response.status)")
        }
    }
}
