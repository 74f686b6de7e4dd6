import ArgumentParser
import Foundation
import MediaPipeline

/// `reel events [TYPE] [--markdown]` — the event catalogue: every type with a summary, or one type's fields, stream,
/// rules and example. `--markdown` prints docs/EVENTS.md (or one type's section of it).
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the event types `reel append` accepts, or describe one: its fields, stream, rules and an example.",
        discussion: "docs/EVENTS.md is what `reel events --markdown` prints."
    )

    /// Taken so that `reel --store DIR events` works like every other command; the catalogue needs no store.
    @OptionGroup(visibility: .hidden) var location: StoreLocation
    @Argument(help: "An event type, e.g. generation_job.created.") var type: String?
    @Flag(help: "Print Markdown: docs/EVENTS.md, or TYPE's section of it.") var markdown = false

    func validate() throws {
        if let type, EventDescription.named(type) == nil {
            let nearest = EventDescription.nearest(to: type).map { "\"\($0)\"" }.joined(separator: ", ")
            throw ValidationError("unknown event type \"\(type.prefix(100))\"; the nearest known types: \(nearest)")
        }
    }

    func run() async throws {
        if let type, let event = EventDescription.named(type) {
            print(markdown ? event.markdownSection() : Self.text(of: event), terminator: "")
        } else if markdown {
            print(EventDescription.markdown(), terminator: "")
        } else {
            print(Self.list(), terminator: "")
        }
    }

    /// Every type, its stream and its summary, one a line.
    static func list() -> String {
        let all = EventDescription.all
        let typeWidth = all.map(\.type.count).max()! + 2
        let streamWidth = all.map(\.stream.pattern.count).max()! + 2
        var text = ""
        for event in all {
            text += event.type.padded(typeWidth) + event.stream.pattern.padded(streamWidth) + event.summary + "\n"
        }
        text += "\n`reel events TYPE` prints a type's fields, stream, rules and an example input line; docs/EVENTS.md has them all.\n"
        return text
    }

    /// One type, for a terminal.
    static func text(of event: EventDescription) -> String {
        var text = "\(event.type): \(event.summary)\n\n"
        switch event.stream {
        case let .own(entity, field): text += "stream: \(entity)-<\(field)>\n"
        case let .parent(entity, _, field, child):
            text += "stream: \(event.stream.pattern), the stream of the \(entity) of the \(child) that \(field) names\n"
        }
        text += "\nfields of data:\n"
        let nameWidth = event.fields.map(\.name.count).max()! + 2
        let typeWidth = event.fields.map(\.type.rawValue.count).max()! + 2
        let requirements = event.fields.map { $0.isRequired ? "required" : $0.defaultValue.map { "optional, default \($0)" } ?? "optional" }
        let requirementWidth = requirements.map(\.count).max()! + 2
        for (field, requirement) in zip(event.fields, requirements) {
            text += "  " + field.name.padded(nameWidth) + field.type.rawValue.padded(typeWidth) + requirement.padded(requirementWidth) + field.summary + "\n"
        }
        text += "\nrejected (\"\(event.type) rejected: …\") when:\n"
        for rule in event.rules { text += "  \(rule)\n" }
        let requires = event.exampleRequires
        text += requires.isEmpty ? "\nexample:\n" : "\nexample, accepted once the examples of \(requires.joined(separator: ", ")) are in the store:\n"
        text += "  \(event.exampleLine)\n"
        return text
    }
}

extension String {
    /// The string followed by spaces up to `width` characters (never cut).
    func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
