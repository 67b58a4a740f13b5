import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import LatchkeyTLS
import Logging

/// Fetches CRLs from `http://` distribution points with Latchkey's own HTTP client, on that client's loop
/// (a Dispatch loop of its own, never a data-path loop), bounded by `timeout` and `maxBytes`. The proxy's
/// own listeners are refused by the client, whatever a certificate names.
public struct CRLFetcher: CRLFetching {
    /// Bodies larger than this fail the fetch (large public CAs publish CRLs of a few MiB).
    public static let defaultMaxBytes = 10 << 20
    private let client: UpstreamHTTPClient
    private let timeout: Duration
    private let maxBytes: Int
    private let logger: Logger

    public init(
        client: UpstreamHTTPClient, timeout: Duration = .seconds(5), maxBytes: Int = Self.defaultMaxBytes,
        logger: Logger = Logger(label: "latchkey.tls.revocation")
    ) {
        self.client = client
        self.logger = logger
        self.timeout = timeout
        self.maxBytes = maxBytes
    }

    public func fetchCRL(from url: String, completion: @escaping @Sendable (Result<[UInt8], CRLFetchFailure>) -> Void) {
        let endpoint: EndpointURL
        do {
            endpoint = try EndpointURL.parse(url)
        } catch {
            return completion(.failure(CRLFetchFailure(reason: "not a usable URL: \(error)")))
        }
        guard endpoint.scheme == "http" else {
            return completion(.failure(CRLFetchFailure(reason: "only http:// distribution points are fetched")))
        }
        let request = TokenEndpointRequest(
            method: "GET", url: endpoint, headers: [("Accept", "application/pkix-crl, */*")], body: [],
            tls: TLSSettings(), timeout: timeout)
        // Loopback stays reachable (a CA's CRL server may sit next to the proxy); link-local and metadata
        // addresses do not, whatever a certificate names.
        let destination = DestinationPolicy(allowsLoopback: true, allowsLinkLocal: false)
        let logger = self.logger
        client.send(request, maxResponseBytes: maxBytes, destination: destination) { result in
            let outcome: Result<[UInt8], CRLFetchFailure>
            switch result {
            case .success(let response) where (200..<300).contains(response.status):
                outcome = .success(response.body)
            case .success(let response):
                outcome = .failure(CRLFetchFailure(reason: "HTTP status \(response.status)"))
            case .failure(let failure):
                outcome = .failure(CRLFetchFailure(reason: failure.reason))
            }
            switch outcome {
            case .success(let body):
                logger.info("fetched CRL from \(url) (\(body.count) bytes)", metadata: ["latchkey.crl_url": "\(url)"])
            case .failure(let failure):
                logger.warning("cannot fetch CRL from \(url): \(failure.reason)", metadata: ["latchkey.crl_url": "\(url)"])
            }
            completion(outcome)
        }
    }
}
