import Yams

extension ConfigDecoder {
    static let retryKeys = ["max_retries", "delay_ms", "exponential_backoff", "retry_on_all_errors", "body_buffer_bytes"]

    /// `retry:`, `deadline_ms:`, `max_redirects:` and `debug:` of one route.
    func decodeRetryAndRedirects(_ map: Fields, into route: inout RouteSettings) {
        if let node = map["retry"], let retry = fields(node, path: map.path("retry"), allowed: Self.retryKeys) {
            route.retry = decodeRetry(retry)
        }
        if let v = int(map, "deadline_ms", in: ConfigBounds.deadlineMs) { route.deadlineMs = v }
        if let v = int(map, "max_redirects", in: ConfigBounds.maxRedirects) { route.maxRedirects = v }
        if let v = bool(map, "debug") { route.debug = v }
    }

    private func decodeRetry(_ map: Fields) -> RetrySettings {
        var retry = RetrySettings()
        if let v = int(map, "max_retries", in: ConfigBounds.maxRetries) { retry.maxRetries = v }
        if let v = int(map, "delay_ms", in: ConfigBounds.delayMs) { retry.delayMs = v }
        if let v = bool(map, "exponential_backoff") { retry.exponentialBackoff = v }
        if let v = bool(map, "retry_on_all_errors") { retry.retryOnAllErrors = v }
        if let v = int(map, "body_buffer_bytes", in: ConfigBounds.bodyBufferBytes) { retry.bodyBufferBytes = v }
        if retry.exponentialBackoff && map["delay_ms"] != nil {
            warn(map.keyNode("delay_ms"), map.path("delay_ms"), "ignored: exponential_backoff is on")
        }
        return retry
    }
}
