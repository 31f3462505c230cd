import CXGBoost

/// Facts about the libxgboost this process linked against.
public enum XGBoostLibrary {
    /// The linked library's version, as `XGBoostVersion` reports it (Debian ships 1.7.4).
    public static var version: (major: Int, minor: Int, patch: Int) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        XGBoostVersion(&major, &minor, &patch)
        return (Int(major), Int(minor), Int(patch))
    }

    /// `"major.minor.patch"`.
    public static var versionString: String {
        let v = version
        return "\(v.major).\(v.minor).\(v.patch)"
    }
}
