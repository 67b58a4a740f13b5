/// Text exposition format 0.0.4 details: escaping, label sets and number formatting.
/// https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details
enum ExpositionFormat {
    /// Label values: backslash, double quote and line feed are escaped as `\\`, `\"` and `\n`.
    static func escapeLabelValue(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else { return value }
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count + 4)
        for character in value.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// HELP text: backslash and line feed are escaped (double quotes are not).
    static func escapeHelp(_ help: String) -> String {
        guard help.utf8.contains(where: { $0 == 0x5C || $0 == 0x0A }) else { return help }
        return help.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }

    /// `{a="x",b="y"}` (empty when there are no labels), with `extra` (e.g. `le`) appended last.
    static func labelSet(names: [String], values: [String], extra: (name: String, value: String)? = nil) -> String {
        if names.isEmpty && extra == nil { return "" }
        var text = "{"
        for (index, name) in names.enumerated() {
            if index > 0 { text += "," }
            text += "\(name)=\"\(escapeLabelValue(values[index]))\""
        }
        if let extra {
            if !names.isEmpty { text += "," }
            text += "\(extra.name)=\"\(escapeLabelValue(extra.value))\""
        }
        return text + "}"
    }

    /// Go's `strconv.FormatFloat(v, 'g', -1, 64)` spelling for the values we produce: integral values
    /// without a fraction (`1`, `30`), others shortest round-trip (`0.0025`), and `+Inf`, `-Inf`, `NaN`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
