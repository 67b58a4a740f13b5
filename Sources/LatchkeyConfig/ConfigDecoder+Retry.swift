import Yams

extension ConfigDecoder {
    static let retryKeys = ["max_retries", "delay_ms", "exponential_backoff", "retry_on_all_errors", "body_buffer_bytes"]
    /// Largest `body_buffer_bytes`: a buffered body lives in memory for the whole exchange.
    static let maxBodyBufferBytes = 64 << 20
    /// Largest `max_redirects`; browsers stop around 20 too.
    static let maxRedirectsLimit = 20

    /// `retry:`, `deadline_ms:`, `max_redirects:` and `debug:` of one route.
    func decodeRetryAndRedirects(_ map: Fields, into route: inout RouteSettings) {
        if let node = map["retry"], let retry = fields(node, path: map.path("retry"), allowed: Self.retryKeys) {
            route.retry = decodeRetry(retry)
        }
        if let v = int(map, "deadline_ms", minimum: 1) { route.deadlineMs = v }
        if let v = int(map, "max_redirects", minimum: 0) {
            if v > Self.maxRedirectsLimit {
                fail(map["max_redirects"], map.path("max_redirects"), "must be at most \(Self.maxRedirectsLimit)")
            } else {
                route.maxRedirects = v
            }
        }
        if let v = bool(map, "debug") { route.debug = v }
    }

    private func decodeRetry(_ map: Fields) -> RetrySettings {
        var retry = RetrySettings()
        if let v = int(map, "max_retries", minimum: 0) { retry.maxRetries = v }
        if let v = int(map, "delay_ms", minimum: 0) { retry.delayMs = v }
        if let v = bool(map, "exponential_backoff") { retry.exponentialBackoff = v }
        if let v = bool(map, "retry_on_all_errors") { retry.retryOnAllErrors = v }
        if let v = int(map, "body_buffer_bytes", minimum: 0) {
            if v > Self.maxBodyBufferBytes {
                fail(
                    map["body_buffer_bytes"], map.path("body_buffer_bytes"),
                    "must be at most \(Self.maxBodyBufferBytes) (64 MiB)")
            } else {
                retry.bodyBufferBytes = v
            }
        }
        if retry.exponentialBackoff && map["delay_ms"] != nil {
            warn(map.keyNode("delay_ms"), map.path("delay_ms"), "ignored: exponential_backoff is on")
        }
        return retry
    }
}
