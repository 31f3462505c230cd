import Logging
import NIOCore

/// What one connection may cost the server: how long it may take to send a request head, how
/// long it may sit idle between requests, how long a refused body is read and thrown away, and
/// how many connections may be open at once.
///
/// Written by hand: Hummingbird's `idleTimeout` closes idle connections but neither tells a slow
/// head from an idle connection nor counts what it closes; and it does not drain the rest of a
/// body it stops reading when the request says `Connection: close` (it half-closes and waits for
/// the client, which is still blocked sending: both wait forever). NIO has no connection cap.
struct ConnectionLimits: Sendable {
    /// A request head must be complete this long after its first byte (or after the connection opens).
    var headerTimeout: TimeAmount
    /// A connection with no request in progress is closed after this long.
    var idleTimeout: TimeAmount
    /// After the answer to a request whose body was not read, the rest is read and discarded for at
    /// most this long before the connection is closed (nginx's lingering close).
    var lingerTimeout: TimeAmount
    /// Connections beyond this many are closed as soon as they are accepted.
    var maxConnections: Int

    init(configuration: Configuration) {
        headerTimeout = .seconds(Int64(configuration.requestHeaderTimeoutSeconds))
        idleTimeout = .seconds(Int64(configuration.idleTimeoutSeconds))
        lingerTimeout = .seconds(Int64(configuration.lingerSeconds))
        maxConnections = configuration.maxConnections
    }
}

#if canImport(Glibc)
import Glibc

extension ConnectionLimits {
    /// Raises the process's open-file limit to its hard limit (as nginx's worker_rlimit_nofile
    /// does), so `maxConnections` is not cut short by a default soft limit of 1024; warns when even
    /// the hard limit is below what the cap needs.
    func raiseFileLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let needed = rlim_t(maxConnections + 256)
        if limit.rlim_cur < needed {
            logger.warning(
                "the open-file limit is below MAX_CONNECTIONS plus what the process needs besides; connections past it are refused by the kernel",
                metadata: ["limit": "\(limit.rlim_cur)", "max_connections": "\(maxConnections)"])
        }
    }
}
#endif
