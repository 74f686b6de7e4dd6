import Foundation
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
        #expect(address.settings["lock_timeout"] == "2000ms")
        #expect(address.settings["statement_timeout"] == "30000ms" && address.settings["idle_in_transaction_session_timeout"] == "15000ms")
        #expect(address.connectTimeout == 1.5)
        #expect(address.description == "postgres://reel@db1:5432,db2:6543/media")
    }

    @Test(
        "durations read as PostgreSQL reads them: a bare number is milliseconds, a unit scales it",
        arguments: [
            ("3000", 3.0), ("250ms", 0.25), ("1.5s", 1.5), ("2min", 120.0), ("1h", 3_600.0), ("1d", 86_400.0), ("1500us", 0.002),
            (" 7 s", 7.0),
        ])
    func durations(value: String, seconds: Double) throws {
        let encoded = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value
        let address = try PostgresAddress("postgres://u@h/d?statement_timeout=\(encoded)&lock_timeout=\(encoded)")
        #expect(address.seconds(of: "statement_timeout") == seconds)
        #expect(address.seconds(of: "lock_timeout") == seconds)
        #expect(address.settings["statement_timeout"] == "\(Int((seconds * 1000).rounded()))ms")
    }

    @Test("sslrootcert: a FIFO is refused at once (opening it would wait for a writer), a regular file through a symbolic link is taken")
    func rootCertificateFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reel-roots-\(UInt64.random(in: 0 ... .max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(mkfifo(directory + "/fifo", 0o600) == 0)
        #expect {
            _ = try PostgresAddress("postgres://u@h/d?sslmode=require&sslrootcert=\(directory)/fifo")
        } throws: { error in
            "\(error)".contains("not a file that can be read")
        }
        try "-----BEGIN CERTIFICATE-----\n".write(toFile: directory + "/roots.pem", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link.pem", withDestinationPath: directory + "/roots.pem")
        let address = try PostgresAddress("postgres://u@h/d?sslmode=require&sslrootcert=\(directory)/link.pem")
        #expect(address.rootCertificates == directory + "/link.pem")
    }

    @Test("an IPv6 address in brackets, with or without a port")
    func ipv6() throws {
        let address = try PostgresAddress("postgres://u@[::1]:6543,[fe80::1]/d")
        #expect(address.endpoints.map(\.host) == ["::1", "fe80::1"])
        #expect(address.endpoints.map(\.port) == [6543, 5432])
        #expect(address.description == "postgres://u@[::1]:6543,[fe80::1]:5432/d")
    }

    @Test(
        "a URL that is not a PostgreSQL address is refused with the reason",
        arguments: [
            ("mysql://u@h/d", "not a postgres:// URL"), ("postgres://h/d", "no USER@"), ("postgres://u@h", "no database"),
            ("postgres://u@h:99999/d", "malformed port"), ("postgres://u@/d", "no host"), ("postgres://u@h/d?nosuch=1", "unknown option"),
            ("postgres://u@h/d?lock_timeout=1;DROP", "must read like"), ("postgres://u@h/d?lock_timeout=5sec", "must read like"),
            ("postgres://u@h/d?statement_timeout=0", "at least 1ms"), ("postgres://u@h/d?lock_timeout=100us", "at least 1ms"),
            ("postgres://u@h/d?idle_in_transaction_session_timeout=30d", "at most"),
            ("postgres://u@h/d?connect_timeout=inf", "connect_timeout"), ("postgres://u@h/d?connect_timeout=1e300", "connect_timeout"),
            ("postgres://u@h/d?connect_timeout=nan", "connect_timeout"), ("postgres://u@h/d?connect_timeout=0x10", "connect_timeout"), ("postgres://u@h/d?connect_timeout=-1", "connect_timeout"),
            ("postgres://u@::1:5432/d", "in brackets"), ("postgres://u@[::1/d", "malformed host"), ("postgres://u@[::1]x/d", "malformed host"),
            ("postgres://u@h/d?sslmode=sometimes", "sslmode"),
            ("postgres://u:secret%zz@h/d", "percent-encoding in the password"), ("postgres://u%zz@h/d", "percent-encoding in the user"),
            ("postgres://u@h/d%zz", "percent-encoding in the database"), ("postgres://u%00x@h/d", "NUL character (%00) in the user"),
            ("postgres://u@h/d%00", "NUL character (%00) in the database"), ("postgres://u@h/d?application_name=a%00", "malformed option"),
            ("postgres://u@h:+5432/d", "malformed port"), ("postgres://u@h:%205432/d", "malformed port"), ("postgres://u@,h/d", "empty host"),
            ("postgres://u@h,,g/d", "empty host"), ("postgres://u@h,/d", "empty host"),
            ("postgres://u@h/d?sslmode=require&sslrootcert=/tmp", "not a file that can be read"),
            ("postgres://u@h/d?sslmode=require&sslrootcert=/nonexistent/roots.pem", "not a file that can be read"),
        ])
    func refused(url: String, reason: String) {
        #expect {
            _ = try PostgresAddress(url)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }
}
