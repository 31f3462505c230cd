import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Path rules that keep every file this module opens inside one root directory (`MLRUNS_DIR`).
///
/// Identifiers that come from requests (run ids, model names, versions, aliases, artifact paths)
/// are checked against a conservative alphabet first, then every path is resolved with
/// `realpath(3)`, symlinks included, and must still lie inside the resolved root.
public enum SafePath {
    /// Run ids, experiment ids, logged-model ids, aliases: letters, digits, `-`, `_`; 1-64 characters.
    public static func isIdentifier(_ s: String) -> Bool {
        guard (1...64).contains(s.utf8.count) else { return false }
        return s.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    /// Registered-model names: what MLflow users write (letters, digits, `-`, `_`, `.`, space),
    /// never a path separator, never `.`/`..`, 1-256 characters.
    public static func isModelName(_ s: String) -> Bool {
        guard (1...256).contains(s.utf8.count), s != ".", s != ".." else { return false }
        return s.utf8.allSatisfy {
            isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
                || $0 == UInt8(ascii: " ")
        }
    }

    /// A relative artifact path (`model`, `models/xgb`): segments of safe characters, no `.`/`..`.
    public static func isRelativeArtifactPath(_ s: String) -> Bool {
        if s.isEmpty { return true }
        guard s.utf8.count <= 1024, !s.hasPrefix("/") else { return false }
        return s.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { segment in
            !segment.isEmpty && segment != "." && segment != ".."
                && segment.utf8.allSatisfy {
                    isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
                }
        }
    }

    /// The canonical path of an existing file or directory, symlinks resolved; nil if it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `candidate` resolved, if it exists and lies inside `root` (itself already resolved).
    public static func contained(_ candidate: String, in root: String) -> String? {
        guard let real = realPath(candidate) else { return nil }
        if real == root || real.hasPrefix(root.hasSuffix("/") ? root : root + "/") { return real }
        return nil
    }

    private static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }
}
