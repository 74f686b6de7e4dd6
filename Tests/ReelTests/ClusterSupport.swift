import Foundation
import PostgresFixture

/// A temporary directory for a node's store, made here so that the `postgres` user never needs it.
func nodeStore() -> String { temporaryStorePath() }
