import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics

/// Authenticates a request by its bearer token (`Authorization: Bearer TOKEN`) and records the token's scopes in the
/// context. `/health` and `/openapi.json` are open to all. Without a token file every request gets every scope.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = ReelRequestContext
    let tokens: Tokens?
    static let openPaths: Set<String> = ["/health", "/openapi.json"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let tokens, !Self.openPaths.contains(request.uri.path) else { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(.unauthorized, "a token is needed: send `Authorization: Bearer TOKEN`")
        }
        guard let scopes = tokens.scopes(of: header.utf8.dropFirst(7)) else {
            throw APIError(.unauthorized, "the token is not valid")
        }
        var context = context
        context.scopes = scopes
        return try await next(request, context)
    }
}

extension ReelRequestContext {
    /// Throws `403` unless the request's token grants `scope`.
    func require(_ scope: Tokens.Scope) throws {
        guard scopes.contains(scope) else { throw APIError(.forbidden, "the token's scopes do not include \(scope.rawValue)") }
    }
}

/// Gives each request an id (`X-Request-Id`, taken from the request when it carries one), logs it when it ends —
/// method, route, status, duration, never a token — and counts it: requests by route and status, and their latency.
struct ObservationMiddleware: RouterMiddleware {
    typealias Context = ReelRequestContext
    let logger: Logger
    static let knownMethods: Set<String> = ["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let given = request.headers[.init("X-Request-Id")!], !given.isEmpty, given.utf8.count <= 128 {
            context.requestID = given
        }
        let started = ContinuousClock.now
        var logger = logger
        logger[metadataKey: "request_id"] = .string(context.requestID)
        let status: HTTPResponse.Status
        var response: Response
        do {
            response = try await next(request, context)
            status = response.status
        } catch let error as any HTTPResponseError {
            status = error.status
            response = try error.response(from: request, context: context)
        } catch {
            logger.error("request failed", metadata: ["error": "\(error)"])
            status = .internalServerError
            response = try APIError(.internalServerError, "\(error)").response(from: request, context: context)
        }
        response.headers[.init("X-Request-Id")!] = context.requestID
        let route = context.endpointPath ?? "unknown"
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // Labels from a fixed set only: an unauthenticated client must not create metrics series at will.
        let method = Self.knownMethods.contains(request.method.rawValue) ? request.method.rawValue : "other"
        let labels = [("route", route), ("method", method), ("status", String(status.code))]
        Counter(label: "reel_http_requests_total", dimensions: labels).increment()
        Timer(label: "reel_http_request_duration_seconds", dimensions: [("route", route), ("method", method)])
            .recordNanoseconds(Int64(seconds * 1e9))
        logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue), "route": .string(route), "status": .stringConvertible(status.code),
                "ms": .stringConvertible((seconds * 1_000 * 10).rounded() / 10),
            ])
        return response
    }
}

/// Answers a request for a path the service has, with a method it does not take there, `405 Method Not Allowed` with
/// the path's methods in `Allow` (RFC 9110), where the router alone answers `404`, as for a path it does not have. The
/// methods come from the OpenAPI document, which describes every route.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = ReelRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // Only the router answers with Hummingbird's own error: the routes' own 404s (an id never seen) are APIErrors.
            guard var methods = OpenAPI.methods[request.uri.path], !methods.isEmpty else { throw error }
            // Every GET route answers HEAD too.
            if methods.contains("GET"), !methods.contains("HEAD") { methods.append("HEAD") }
            let list = methods.joined(separator: ", ")
            throw APIError(
                .methodNotAllowed, "\(request.uri.path) does not take \(request.method.rawValue.prefix(20)): it takes \(list)",
                headers: [.allow: list])
        }
    }
}
