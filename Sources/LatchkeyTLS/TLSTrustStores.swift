import COpenSSL
import Synchronization

/// Trust stores (`X509_STORE`) loaded once and shared by every client context built with the same cache.
///
/// Loading the system bundle parses every CA in it (about 140 on Debian, 1.6 MiB of memory), and a
/// runtime builds several contexts that trust the same CAs: two per route (with and without `h2` in
/// ALPN), the default one, the token endpoints'. Each used to load its own copy. A runtime makes one
/// cache while it builds, so a reload reads the trust files again (a renewed CA bundle takes effect on
/// SIGHUP); contexts keep their store alive by reference after the cache is gone.
///
/// A context that adds CRLs to its store (`revocation` with `crlFile`) keeps a store of its own.
/// Thread-safe: verification only reads a store (OpenSSL locks its own caches), and the table is
/// behind a `Mutex`.
public final class TLSTrustStores: Sendable {
    /// What a store trusts.
    enum Source: Hashable {
        /// OpenSSL's default paths: `SSL_CERT_FILE` / `SSL_CERT_DIR`, else the system bundle and directory.
        case system
        /// Exactly the CAs in this PEM file.
        case file(String)
    }

    /// Stored as addresses so that the table is `Sendable`; each holds one reference, dropped in `deinit`.
    private let stores = Mutex<[Source: Int]>([:])

    public init() {}

    deinit {
        stores.withLock { stores in
            for address in stores.values { X509_STORE_free(OpaquePointer(bitPattern: address)) }
        }
    }

    /// How many distinct stores this cache has loaded (tests).
    var loadedCount: Int { stores.withLock { $0.count } }

    /// Makes `context` trust `source`, sharing the loaded store. Throws naming the file that failed.
    func trust(_ context: OpaquePointer, _ source: Source) throws(TLSError) {
        let store = try store(for: source)
        // set1: the context takes a reference of its own.
        SSL_CTX_set1_cert_store(context, store)
    }

    private func store(for source: Source) throws(TLSError) -> OpaquePointer {
        let result: Result<OpaquePointer, TLSError> = stores.withLock { stores in
            if let address = stores[source], let store = OpaquePointer(bitPattern: address) { return .success(store) }
            do throws(TLSError) {
                let store = try Self.load(source)
                stores[source] = Int(bitPattern: UnsafeRawPointer(store))
                return .success(store)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// A new store holding `source`'s CAs.
    static func load(_ source: Source) throws(TLSError) -> OpaquePointer {
        if case .file(let path) = source { try SSLContextSetup.checkReadable(path, "CA file") }
        ERR_clear_error()
        guard let store = X509_STORE_new() else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot create a trust store")
        }
        switch source {
        case .system:
            guard X509_STORE_set_default_paths(store) == 1 else {
                X509_STORE_free(store)
                throw OpenSSLErrorQueue.error(.configuration, "cannot load the system trust store")
            }
        case .file(let path):
            guard X509_STORE_load_file(store, path) == 1 else {
                X509_STORE_free(store)
                throw OpenSSLErrorQueue.error(.configuration, "cannot load CA file '\(path)'")
            }
        }
        return store
    }
}
