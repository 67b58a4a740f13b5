// TEMPORARY stand-in for the ca part's config key (branch wt-ca); deleted when its config lands.
import LatchkeyConfig

extension RouteSettings {
    var intercept: Bool { true }
}
