import Foundation

// docs/EVENTS.md and docs/QUERIES.md, written from the descriptions (`reel events --markdown`, `reel query --markdown`).

extension FieldType {
    /// How the decoder words a value of another JSON type for this field (followed by `, not <the type given>`).
    public var mismatch: String {
        switch self {
        case .uuid: "must be a UUID string"
        case .string: "must be a string"
        case .integer: "must be an integer"
        case .boolean: "must be true or false"
        case .object: "must be an object"
        case .uuids: "must be an array of UUIDs"
        case .integers: "must be an array of integers"
        }
    }
}

/// Markdown helpers.
enum Markdown {
    /// A table cell's text: pipes escaped, line breaks flattened.
    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    /// A GitHub heading anchor for a heading that is one code span, e.g. `` `user.registered` `` → `userregistered`.
    static func anchor(_ name: String) -> String {
        String(name.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" }.map(Character.init))
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var text = "| " + header.joined(separator: " | ") + " |\n"
        text += "|" + String(repeating: "---|", count: header.count) + "\n"
        for row in rows { text += "| " + row.map(cell).joined(separator: " | ") + " |\n" }
        return text
    }

    /// "`a`", "`a` and `b`", "`a`, `b` and `c`".
    static func list(_ names: [String]) -> String {
        let quoted = names.map { "`\($0)`" }
        guard quoted.count > 1 else { return quoted.first ?? "" }
        return quoted.dropLast().joined(separator: ", ") + " and " + quoted.last!
    }
}

extension FieldDescription {
    /// `required`, or `optional`.
    var requirementText: String { isRequired ? "required" : "optional" }

    var markdownRow: [String] {
        ["`\(name)`", type.rawValue, requirementText, defaultValue.map { "`\($0)`" } ?? "", summary]
    }
}

extension EventDescription {
    /// The command that prints docs/EVENTS.md.
    public static let markdownCommand = "reel events --markdown"

    /// The whole of docs/EVENTS.md.
    public static func markdown() -> String {
        var text = """
            # Events

            <!-- Written by `\(markdownCommand)` from the catalogue in Sources/MediaPipeline/Reference: do not edit. \
            `tools/reference` writes it again, and a test fails when it differs from what the command prints. -->

            Every change to a Reel store is one of these \(all.count) events. `reel append` reads them as NDJSON input lines, \
            one event a line, and `reel events TYPE` prints one type's section of this page. For example:

            ```json
            \(all[0].exampleLine)
            ```

            ## Input lines


            """
        text += Markdown.table(["field", "type", "required", "default", "meaning"], inputLineFields.map(\.markdownRow))
        text += "\n`metadata` holds any of:\n\n"
        text += Markdown.table(["field", "type", "required", "default", "meaning"], metadataFields.map(\.markdownRow))
        text += """

            A line with another field, or another field in `metadata`, is refused. `null` is the same as leaving a field \
            out. A rejected line is reported on standard error as `line N: <reason>` and the others are still appended \
            (unless `--all-or-nothing`); `reel append` then exits 1.

            ## The fields of `data`

            Each type's `data` has the fields its table lists. A required field must be there and not `null`; an optional \
            one may be left out or `null`, which mean the same; a field the type does not have is refused. UUIDs are \
            strings in any case (stored lower-case); integers are whole numbers that fit in 64 bits. The reasons, where \
            `<type>` is the event type and `<field>` the field:

            - `<type>: data.<field> is required`
            - `<type>: data.<field> is not a field of <type>`
            - `<type>: data.<field> <what it must be>, not <the JSON type given>`, e.g. `user.registered: data.email must be a string, not a number`. What it must be, by the field's type:\n
            """
        for type in FieldType.allCases { text += "  - \(type.rawValue): `\(type.mismatch)`\n" }
        text += """
            - `<type>: data.<field> is not a UUID: "<value>"`; `<type>: data.<field>[<i>] is not a UUID` (or `is not an integer`) for an element of an array
            - `unknown event type "<type>"; did you mean "<a known type>"?` for a type the catalogue does not have (the nearest types by edit distance)

            ## Rules and streams

            The store checks every rule against its state inside the write transaction: a line that breaks one is \
            rejected, and nothing of it is written, with the reason `<type> rejected: <rule>`. In a rule, `<field>` stands \
            for the value of that field of the event, and other `<…>` for a value the store holds (another entity's id, a \
            status). Ids of images, scenelets, shots and frames are never used twice, even after the entity is removed.

            An input line never names its stream: it is derived from `data`, as each type says. Events that name only a \
            child entity go to the stream of its parent (`image.deleted` to the job's, scenelet and shot events to the \
            story's), looked up in the store or among the lines before.

            Each example below is accepted by `reel append` on a store that holds the examples of the types it names \
            first (the examples share their ids).

            ## Types


            """
        text += Markdown.table(
            ["type", "stream", "what it records"],
            all.map { ["[`\($0.type)`](#\(Markdown.anchor($0.type)))", "`\($0.stream.pattern)`", $0.summary] })
        for event in all { text += "\n" + event.markdownSection() }
        return text
    }

    /// This type's section of docs/EVENTS.md.
    public func markdownSection() -> String {
        var text = "## `\(type)`\n\n\(summary)\n\nStream: \(stream.text).\n\n"
        text += Markdown.table(["field", "type", "required", "default", "meaning"], fields.map(\.markdownRow))
        text += "\nRejected (`\(type) rejected: …`) when:\n\n"
        for rule in rules { text += "- `\(rule)`\n" }
        let requires = exampleRequires
        text += requires.isEmpty
            ? "\nExample, accepted by an empty store:\n"
            : "\nExample, accepted once the examples of \(Markdown.list(requires)) are in the store:\n"
        text += "\n```json\n\(exampleLine)\n```\n"
        return text
    }
}

extension ValueType {
    /// The object members nested in this type (an object's, or an array of objects' members).
    var nestedMembers: [MemberDescription]? {
        switch self {
        case let .object(members): members
        case let .array(element): element.nestedMembers
        default: nil
        }
    }

    /// The path suffix of members nested in this type: `[]` for an array's elements.
    var nestingSuffix: String {
        switch self {
        case let .array(element): "[]" + element.nestingSuffix
        default: ""
        }
    }
}

extension MemberDescription {
    /// Every member as a row, nested ones with their path (`scenes[].scene_index`).
    static func rows(_ members: [MemberDescription], prefix: String = "") -> [[String]] {
        members.flatMap { member -> [[String]] in
            let path = prefix + member.name
            let type = member.type.text + (member.isNullable ? " or null" : "")
            var rows = [["`\(path)`", type, member.summary]]
            if let nested = member.type.nestedMembers {
                rows += Self.rows(nested, prefix: path + member.type.nestingSuffix + ".")
            }
            return rows
        }
    }
}

extension QueryDescription {
    /// The command that prints docs/QUERIES.md.
    public static let markdownCommand = "reel query --markdown"

    /// The whole of docs/QUERIES.md.
    public static func markdown() -> String {
        var text = """
            # Queries

            <!-- Written by `\(markdownCommand)` from the catalogue in Sources/MediaPipeline/Reference: do not edit. \
            `tools/reference` writes it again, and a test fails when it differs from what the command prints. -->

            `reel query NAME --option VALUE` prints one JSON object on one line, read from one snapshot of the store. \
            `reel replay --to P query NAME …` (or `--at TIME`) prints what it printed when the log ended at P. An id that \
            does not exist is an error, not an empty answer: exit 1 with `<entity> <id> does not exist` on standard error. \
            A missing or malformed option, or one the query does not take, is a usage error (exit 2).

            Every member is always present; one that is "or null" is `null` when it has no value. UUIDs are lower-case \
            strings; times are strings, ISO-8601 UTC with milliseconds (`2026-11-22T01:02:03.456Z`); objects given in \
            events (`content`, `storyboard_payload`) come back as given. In the tables, `a[].b` is member `b` of each \
            element of the list `a`.


            """
        text += Markdown.table(
            ["query", "arguments", "answers"],
            all.map { query in
                ["[`\(query.name)`](#\(Markdown.anchor(query.name)))", query.arguments.map { "`\($0.usage)`" }.joined(separator: " "), query.summary]
            })
        for query in all { text += "\n" + query.markdownSection() }
        return text
    }

    /// This query's section of docs/QUERIES.md.
    public func markdownSection() -> String {
        var text = "## `\(name)`\n\n\(summary)\n\n```sh\nreel query \(usage)\n```\n\n"
        text += Markdown.table(
            ["argument", "meaning"],
            arguments.map { argument in
                var meaning = argument.summary
                if argument.kind == .id, let entity { meaning += " It must exist: else exit 1, `\(entity) <id> does not exist`." }
                return ["`\(argument.usage)`", meaning]
            })
        text += "\nOutput, one JSON object:\n\n"
        text += Markdown.table(["member", "type", "meaning"], MemberDescription.rows(output))
        text += "\nOrder: \(order)\n"
        return text
    }
}
