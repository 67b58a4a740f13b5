import LatchkeyAuth
import LatchkeyConfig

extension AdminAPI {
    /// `,"shared_store":{...}` for `/readyz`, or "" without `shared_store:`. A store that is down never
    /// makes the proxy unready: every replica keeps working on its own cache and fetches for itself
    /// (restarting pods would not bring Redis back), so it is reported as `degraded` detail only.
    func sharedStoreReadiness() -> String {
        guard let store = service.sharedStore() else { return "" }
        var item = "\"status\":\"\(store.reachable ? "connected" : "degraded")\",\"outages\":\(store.outages)"
        if !store.reachable, let failure = store.lastFailure {
            item += ",\"reason\":\(JSONString.quote(failure.reason)),\"detail\":\(JSONString.quote(failure.detail))"
        }
        return ",\"shared_store\":{\(item)}"
    }
}
