/// The only globals (`module.name`) a pickle may name, and what each one means to the decoder.
///
/// Anything else is refused with `ArtifactError(.forbiddenClass)` the moment the pickle names
/// it, before its arguments are read, so no file can reach `os.system`, `eval`, `subprocess`
/// or an estimator this service does not understand. Nothing here is ever called: each role
/// is a recipe for building plain data (see `PickleDecoder`).
enum PickleWhitelist {
    enum Role: Sendable {
        /// A class instantiated as data: a scikit-learn scaler, `Pipeline`, joblib's `NumpyArrayWrapper`.
        case instance
        /// `numpy.ndarray`: only as an argument (of `_reconstruct`, of a wrapper's `subclass`).
        case ndarrayClass
        /// `numpy.dtype(name, align, copy)` followed by BUILD with its byte order.
        case dtype
        /// `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`: an empty array that BUILD fills.
        case reconstructArray
        /// `numpy.core.multiarray.scalar(dtype, bytes)`: one number.
        case numpyScalar
        /// `numpy.core.numeric._frombuffer(bytes, dtype, shape, order)`: protocol 5's array form.
        case fromBuffer
        /// `copyreg._reconstructor(cls, object, None)`: a whitelisted instance, protocol 0/1 style.
        case reconstructor
        /// `copyreg.__newobj__(cls, *args)`: a whitelisted instance.
        case newObject
        /// `_codecs.encode(str, 'latin1')`: how protocol 2 spells `bytes`.
        case latin1Encode
        /// `builtins.object`: only as `_reconstructor`'s base class.
        case objectClass
    }

    static let scalerClasses: [String: String] = [
        "sklearn.preprocessing._data.StandardScaler": "StandardScaler",
        "sklearn.preprocessing._data.MinMaxScaler": "MinMaxScaler",
        "sklearn.preprocessing._data.RobustScaler": "RobustScaler",
        "sklearn.preprocessing._data.MaxAbsScaler": "MaxAbsScaler",
    ]
    static let pipelineClass = "sklearn.pipeline.Pipeline"
    static let arrayWrapperClass = "joblib.numpy_pickle.NumpyArrayWrapper"
    static let ndarrayClass = "numpy.ndarray"

    static let roles: [String: Role] = {
        var roles: [String: Role] = [
            pipelineClass: .instance,
            arrayWrapperClass: .instance,
            ndarrayClass: .ndarrayClass,
            "numpy.dtype": .dtype,
            "numpy.core.multiarray._reconstruct": .reconstructArray,
            "numpy._core.multiarray._reconstruct": .reconstructArray,
            "numpy.core.multiarray.scalar": .numpyScalar,
            "numpy._core.multiarray.scalar": .numpyScalar,
            "numpy.core.numeric._frombuffer": .fromBuffer,
            "numpy._core.numeric._frombuffer": .fromBuffer,
            "copyreg._reconstructor": .reconstructor,
            "copyreg.__newobj__": .newObject,
            "_codecs.encode": .latin1Encode,
            "builtins.object": .objectClass,
        ]
        for name in scalerClasses.keys { roles[name] = .instance }
        return roles
    }()

    /// Python 2 module names, as protocol-2 pickles written by Python 3 still spell them.
    static let python2Modules = ["__builtin__": "builtins", "copy_reg": "copyreg"]

    /// The canonical `module.name` and its role, or `nil` when the global is not allowed.
    static func resolve(module: String, name: String) -> (name: String, role: Role)? {
        let full = "\(python2Modules[module] ?? module).\(name)"
        return roles[full].map { (full, $0) }
    }
}
