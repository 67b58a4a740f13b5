import Dispatch
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyNet
import LatchkeyRedis
import Synchronization

extension CheckCommand {
    /// Connects to `shared_store:` (TLS and AUTH included) and sends `PING`; prints one line. True when
    /// it answered. A replica works without the store, but a deployment that configured one wants to know.
    static func checkSharedStore(_ settings: SharedStoreSettings, output: Output) -> Bool {
        let store: RedisSharedStore
        do {
            store = RedisSharedStore(client: try RedisClient(settings: settings, loop: EventLoop(label: "latchkey.check.store", backend: .dispatch)))
        } catch {
            output.line("shared_store \(settings.displayURL): error: TLS: \(error)")
            return false
        }
        let outcome = Mutex<Result<Void, SharedStoreFailure>?>(nil)
        let done = DispatchSemaphore(value: 0)
        store.ping { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        switch outcome.withLock({ $0 })! {
        case .success:
            output.line("shared_store \(settings.displayURL): reachable (PING answered)")
            return true
        case .failure(let failure):
            let prefix = settings.displayURL + ": "  // the line names the store already
            let detail = failure.detail.hasPrefix(prefix) ? String(failure.detail.dropFirst(prefix.count)) : failure.detail
            output.line("shared_store \(settings.displayURL): error: \(detail)")
            return false
        }
    }
}
