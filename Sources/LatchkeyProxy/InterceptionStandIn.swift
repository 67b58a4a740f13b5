// TEMPORARY stand-in for the ca part's config key (branch wt-ca); deleted when its config lands.
import LatchkeyConfig

nonisolated(unsafe) var standInNonIntercepting: Set<String> = []

extension RouteSettings {
    var intercept: Bool {
        get { !standInNonIntercepting.contains(name) }
        set { if newValue { standInNonIntercepting.remove(name) } else { standInNonIntercepting.insert(name) } }
    }
}
