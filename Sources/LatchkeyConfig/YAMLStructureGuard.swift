import CYaml  // libyaml, vendored by Yams: its event parser is iterative, so it can walk any input safely

/// Bounds on the shape of a YAML document, checked on libyaml's event stream before Yams composes a tree.
///
/// Yams composes (and Swift later releases) the node tree recursively, so a document nested a few
/// thousand levels deep overflows the stack of the thread that loads it — a hot reload runs on a
/// Dispatch worker with a small stack and took the whole proxy down. Aliases are followed too: an alias
/// counts as the depth and the number of nodes of what it names, so `&a [*b, *b]` chains (billion laughs)
/// cannot multiply the work of anything that walks the tree.
///
/// Pure and cheap (one pass over the events, no tree); a syntax error ends the scan silently and is left
/// to Yams, which reports it with its position.
enum YAMLStructureGuard {
    /// Deepest allowed nesting of mappings and sequences, aliases expanded. A real config is under 10 deep.
    static let maxDepth = 64
    /// Most nodes the document may stand for with every alias expanded.
    static let maxExpandedNodes = 1_000_000
    /// Largest configuration text accepted, in bytes.
    static let maxBytes = 4 << 20

    /// Where and why a document was refused; `line` and `column` are 1-based (0 when not known).
    struct Violation: Equatable {
        let line: Int
        let column: Int
        let message: String
    }

    private struct Frame {
        var anchor: String?
        /// Effective depth this collection starts at (1 for a top-level collection).
        var depth: Int
        /// Deepest effective depth reached inside it.
        var deepest: Int
        /// Nodes inside it, itself included, aliases expanded.
        var nodes: Int
    }

    /// The first bound `yaml` breaks, or nil when it is within every bound (or not valid YAML).
    static func check(_ yaml: String) -> Violation? {
        if yaml.utf8.count > maxBytes {
            return Violation(line: 0, column: 0, message: "configuration is larger than \(maxBytes >> 20) MiB")
        }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(yaml.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            return scan(&parser)
        }
    }

    private static func scan(_ parser: inout yaml_parser_t) -> Violation? {
        var frames: [Frame] = []
        var heights: [String: Int] = [:]  // anchor -> levels below the anchored node
        var sizes: [String: Int] = [:]  // anchor -> nodes it stands for
        var expanded = 0
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
            defer { yaml_event_delete(&event) }
            let mark = event.start_mark
            func violation(_ message: String) -> Violation {
                Violation(line: Int(mark.line) + 1, column: Int(mark.column) + 1, message: message)
            }
            // (levels reached below the current collection, nodes added) for a leaf event
            var leaf: (height: Int, nodes: Int)?
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let anchor =
                    event.type == YAML_SEQUENCE_START_EVENT
                    ? string(event.data.sequence_start.anchor) : string(event.data.mapping_start.anchor)
                let depth = frames.count + 1
                if depth > maxDepth { return violation("YAML nested deeper than \(maxDepth) levels") }
                frames.append(Frame(anchor: anchor, depth: depth, deepest: depth, nodes: 1))
                expanded += 1
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = frames.popLast() else { continue }
                if let anchor = frame.anchor {
                    heights[anchor] = frame.deepest - frame.depth + 1
                    sizes[anchor] = frame.nodes
                }
                if !frames.isEmpty {
                    frames[frames.count - 1].deepest = max(frames[frames.count - 1].deepest, frame.deepest)
                    frames[frames.count - 1].nodes = saturatingAdd(frames[frames.count - 1].nodes, frame.nodes)
                }
            case YAML_SCALAR_EVENT:
                if let anchor = string(event.data.scalar.anchor) {
                    heights[anchor] = 0
                    sizes[anchor] = 1
                }
                leaf = (0, 1)
            case YAML_ALIAS_EVENT:
                let anchor = string(event.data.alias.anchor) ?? ""
                leaf = (heights[anchor] ?? 0, sizes[anchor] ?? 1)
            default:
                continue
            }
            if let leaf {
                if frames.count + leaf.height > maxDepth {
                    return violation("YAML nested deeper than \(maxDepth) levels (aliases expanded)")
                }
                expanded = saturatingAdd(expanded, leaf.nodes)
                if !frames.isEmpty {
                    frames[frames.count - 1].deepest = max(frames[frames.count - 1].deepest, frames.count + leaf.height)
                    frames[frames.count - 1].nodes = saturatingAdd(frames[frames.count - 1].nodes, leaf.nodes)
                }
            }
            if expanded > maxExpandedNodes {
                return violation("YAML stands for more than \(maxExpandedNodes) values with its aliases expanded")
            }
        }
    }

    private static func saturatingAdd(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: pointer)
    }
}
