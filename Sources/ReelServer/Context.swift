import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MediaPipeline

/// What a request carries through the middleware to its route: its id (for the logs) and, once authenticated, its
/// token's scopes.
public struct ReelRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// An id of the request, in every log line about it and in the `X-Request-Id` response header.
    public var requestID = UUID().uuidString.lowercased()
    /// The scopes the request's token grants (every scope when the service has no token file).
    public var scopes: Set<Tokens.Scope> = Set(Tokens.Scope.allCases)

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// Bodies are read by the routes themselves, with the configured limit.
    public var maxUploadSize: Int { .max }
}

/// An error answered as JSON, `{"error": "…"}`, with the same words the command line prints.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String
    /// More members of the answer (a rejected line's number, what `reel append` prints).
    var extra: JSONObject = JSONObject()
    /// More header fields of the answer (`Allow` for a `405`).
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, extra: JSONObject = JSONObject(), headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.extra = extra
        self.headers = headers
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var object = JSONObject()
        object.set("error", .string(message))
        for (key, value) in extra.members { object.set(key, value) }
        var response = Response.json(.object(object), status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

extension Response {
    /// A JSON body, members in the order built, and a final line feed as the command line prints.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var bytes = value.jsonData
        bytes.append(0x0A)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A body of bytes of the given type.
    static func bytes(_ bytes: some Sequence<UInt8>, contentType: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
