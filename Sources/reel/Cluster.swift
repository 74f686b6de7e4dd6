import ArgumentParser
import EventStore
import Foundation
import MediaPipeline
import ReelCluster

/// `reel cluster` — the log of record of a cluster of nodes, in PostgreSQL.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Create and inspect a cluster's log in PostgreSQL.",
        discussion: """
            A cluster keeps its log of record in PostgreSQL and, on every node, an LMDB replica of the log and its \
            projections. --postgres URL (or $REEL_POSTGRES) on serve, append, read, query, replay, audit verify, \
            export, import and stats makes the store given by --store a node of the cluster. See docs/CLUSTER.md.
            """,
        subcommands: [Initialize.self, Status.self]
    )

    /// The cluster's PostgreSQL address from --postgres or $REEL_POSTGRES; a usage error without one.
    static func address(_ option: String?) throws -> PostgresAddress {
        guard let url = option ?? ProcessInfo.processInfo.environment["REEL_POSTGRES"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw ValidationError("give the cluster's PostgreSQL URL with --postgres URL or $REEL_POSTGRES")
        }
        do {
            return try PostgresAddress(url)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    struct Initialize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init", abstract: "Create the cluster's log in PostgreSQL (safe to run again).")

        @Option(help: ArgumentHelp("The PostgreSQL database (default: $REEL_POSTGRES).", valueName: "URL")) var postgres: String?

        func run() async throws {
            let address = try ClusterCommand.address(postgres)
            do {
                let (identity, created) = try Cluster.initialize(address)
                printJSON(
                    jsonObject([
                        ("log", .string(address.description)), ("identity", .string(identity)), ("created", .bool(created)),
                        ("format", .number(JSONNumber(Int(PostgresLog.format)))),
                    ]))
            } catch {
                warn("reel: \(error)")
                throw Exit.cannotOpen
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the log's head and each node's replica head and lag.")

        @Option(help: ArgumentHelp("The PostgreSQL database (default: $REEL_POSTGRES).", valueName: "URL")) var postgres: String?
        @Flag(help: "Print one JSON object instead of a table.") var json = false

        func run() async throws {
            let address = try ClusterCommand.address(postgres)
            let status: Cluster.Status
            do {
                status = try Cluster.status(address)
            } catch {
                warn("reel: \(error)")
                throw Exit.cannotOpen
            }
            if json {
                printJSON(
                    jsonObject([
                        ("log", .string(status.log)), ("identity", .string(status.identity)),
                        ("head", .number(JSONNumber(Int(status.head.position)))),
                        (
                            "nodes",
                            .array(
                                status.nodes.map { node in
                                    node.problem.map { problem in
                                        jsonObject([("node", .string(node.name)), ("unreadable", .string(problem))])
                                    }
                                        ?? jsonObject([
                                            ("node", .string(node.name)), ("head", .number(JSONNumber(Int(node.head)))),
                                            ("lag", .number(JSONNumber(Int(node.lag)))),
                                            ("reported_ms_ago", .number(JSONNumber(Int((node.secondsAgo * 1000).rounded())))),
                                        ])
                                })
                        ),
                    ]))
                return
            }
            print("log        \(status.log) (identity \(status.identity), format \(status.format))")
            print("head       \(status.head.position)")
            print("nodes      \(status.nodes.count)")
            for node in status.nodes {
                // A node's name comes from a host name and a path, which may hold any character: shown escaped.
                let name = History.printable(node.name)
                if let problem = node.problem {
                    print("  \(name)  unreadable: \(problem)")
                } else {
                    print("  \(name)  head \(node.head)  lag \(node.lag)  reported \(String(format: "%.1f", node.secondsAgo)) s ago")
                }
            }
        }
    }
}

/// A JSON object of these members, in this order.
func jsonObject(_ members: [(String, JSONValue)]) -> JSONValue {
    var object = JSONObject()
    for (key, value) in members { object.set(key, value) }
    return .object(object)
}
