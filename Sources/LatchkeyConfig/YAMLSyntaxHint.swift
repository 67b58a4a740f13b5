/// Plain-words fixes for the YAML mistakes people make in a proxy config, where the parser's own text
/// ("found character that cannot start any token", "while scanning an alias") names its grammar, not the
/// fix. Looks only at the one character the parser stopped at; never quotes the line (it may hold a secret).
enum YAMLSyntaxHint {
    /// The fix for the error at `line`:`column` (1-based, as Yams reports them), or nil when unrecognised.
    static func hint(problem: String, text: String, line: Int, column: Int) -> String? {
        let character = self.character(in: text, line: line, column: column)
        if character == "\t" || problem.contains("\\t") {
            return "a tab character: YAML indents with spaces only; replace the tab with spaces"
        }
        if character == "*" || problem.contains("alias") {
            return "a value starting with '*' is a YAML alias: quote it, e.g. host: \"*.example.com\""
        }
        if character == "&" || problem.contains("anchor") {
            return "a value starting with '&' is a YAML anchor: quote it"
        }
        if character == "@" || character == "`" {
            return "a value cannot start with '\(character!)' in YAML: quote it"
        }
        if character == "%" && problem.contains("directive") {
            return "a value starting with '%' must be quoted in YAML"
        }
        return nil
    }

    /// The character at a 1-based line and column, nil outside the text.
    static func character(in text: String, line: Int, column: Int) -> Character? {
        guard line >= 1, column >= 1 else { return nil }
        var lines = text.split(separator: "\n", maxSplits: line, omittingEmptySubsequences: false)
        guard lines.count >= line else { return nil }
        let row = lines[line - 1]
        lines.removeAll()
        guard column <= row.count else { return nil }
        return row[row.index(row.startIndex, offsetBy: column - 1)]
    }
}
