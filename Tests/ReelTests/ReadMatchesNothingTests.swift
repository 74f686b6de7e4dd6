import Foundation
import Testing

/// `reel read` with filters that match nothing: it says which on standard error and exits 0 with no output. The built
/// `reel`, run as a real process.
@Suite struct ReadMatchesNothingTests {
    /// A store of three events: a user, their session, a project.
    private func smallStore() throws -> (store: String, user: String) {
        let store = temporaryStorePath()
        let user = uuid()
        let run = try append(ndjson([
            inputLine("user.registered", ["user_id": .string(user), "email": "read@studio.example"]),
            inputLine("session.created", ["session_id": .string(uuid()), "user_id": .string(user), "title": "read"]),
            inputLine("project.created", ["project_id": .string(uuid())]),
        ]), to: store)
        try #require(run.status == 0, "\(run)")
        return (store, user)
    }

    @Test("a read filter that matches nothing says which on stderr and exits 0 with no output", arguments: [
        (["--type", "nosuch.type"], #"reel: nothing to print: no event of type "nosuch.type": not an event type of the catalogue"#),
        (["--type", "frame.aproved"], #"reel: nothing to print: no event of type "frame.aproved": not an event type of the catalogue; did you mean "frame.approved"?"#),
        (["--type", "frame.approved"], #"reel: nothing to print: no event of type "frame.approved" (the log holds positions 1…3)"#),
        (["--stream", "user-00000000-0000-4000-8000-000000000009"], #"reel: nothing to print: stream "user-00000000-0000-4000-8000-000000000009" has no events"#),
        (["--from", "4"], "reel: nothing to print: --from 4 is past the head of the log (position 3)"),
        (["--from", "100", "--type", "user.registered"], "reel: nothing to print: --from 100 is past the head of the log (position 3)"),
        (["--type", "user.registered", "--from", "2"], #"reel: nothing to print: no event of type "user.registered" at or after position 2 (the log holds positions 1…3)"#),
    ])
    func readMatchesNothing(_ options: [String], _ message: String) throws {
        let (store, _) = try smallStore()
        defer { remove(store) }
        let run = try reel(["read", "--store", store] + options)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.isEmpty, "\(run)")
        #expect(run.stderr == message + "\n", "\(run)")
        try expectVerified(store)
    }

    @Test("a read of a stream's events before --from says so; a read that prints, or --limit 0, says nothing")
    func readStreamAndQuietCases() throws {
        let (store, user) = try smallStore()
        defer { remove(store) }
        let late = try reel(["read", "--store", store, "--stream", "user-\(user)", "--from", "2"])
        #expect(late.status == 0 && late.stdout.isEmpty, "\(late)")
        #expect(late.stderr == "reel: nothing to print: no event in stream \"user-\(user)\" at or after position 2 (the log holds positions 1…3)\n", "\(late)")
        for options in [[], ["--stream", "user-\(user)"], ["--type", "project.created"], ["--limit", "0"], ["--from", "3"]] {
            let run = try reel(["read", "--store", store] + options)
            #expect(run.status == 0 && run.stderr.isEmpty, "\(options): \(run)")
        }
        try expectVerified(store)
    }

    @Test("a read of a store that holds no event says so")
    func readEmptyStore() throws {
        let store = temporaryStorePath()
        defer { remove(store) }
        let created = try append("", to: store)
        try #require(created.status == 0 && exists(store), "\(created)")
        let run = try reel(["read", "--store", store])
        #expect(run.status == 0 && run.stdout.isEmpty, "\(run)")
        #expect(run.stderr == "reel: nothing to print: the store holds no events\n", "\(run)")
        try expectVerified(store)
    }
}
