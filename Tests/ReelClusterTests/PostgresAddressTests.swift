import ReelCluster
import Testing

@Suite("PostgreSQL addresses")
struct PostgresAddressTests {
    @Test("several hosts in order, default port, settings by default and from options; the password never printed")
    func parsed() throws {
        let address = try PostgresAddress("postgres://reel:s%40cret@db1,db2:6543/media?lock_timeout=2s&connect_timeout=1.5")
        #expect(address.endpoints.map(\.host) == ["db1", "db2"])
        #expect(address.endpoints.map(\.port) == [5432, 6543])
        #expect(address.user == "reel" && address.password == "s@cret" && address.database == "media")
        #expect(address.settings["lock_timeout"] == "2s")
        #expect(address.settings["statement_timeout"] == "30s" && address.settings["idle_in_transaction_session_timeout"] == "15s")
        #expect(address.connectTimeout == 1.5)
        #expect(address.description == "postgres://reel@db1:5432,db2:6543/media")
    }

    @Test(
        "a URL that is not a PostgreSQL address is refused with the reason",
        arguments: [
            ("mysql://u@h/d", "not a postgres:// URL"), ("postgres://h/d", "no USER@"), ("postgres://u@h", "no database"),
            ("postgres://u@h:99999/d", "malformed port"), ("postgres://u@/d", "no host"), ("postgres://u@h/d?nosuch=1", "unknown option"),
            ("postgres://u@h/d?lock_timeout=1;DROP", "must read like"),
        ])
    func refused(url: String, reason: String) {
        #expect {
            _ = try PostgresAddress(url)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }
}
