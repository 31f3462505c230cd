import Artifacts
import Foundation

/// The OpenAPI 3.1 description served at `GET /openapi.json`.
///
/// Kept true to the code by `OpenAPIDocumentTests` (every route documented, every documented path
/// routed) and by `make check-api` (schemathesis against a live server). The `Reading` schema
/// names the served model's features, so generated clients know them.
enum OpenAPIDocument {
    static func json(featureNames: [String]) -> Data {
        var document = (try? JSONSerialization.jsonObject(with: Data(base.utf8))) as? [String: Any] ?? [:]
        if var components = document["components"] as? [String: Any], var schemas = components["schemas"] as? [String: Any],
            var reading = schemas["Reading"] as? [String: Any]
        {
            var properties = reading["properties"] as? [String: Any] ?? [:]
            for name in featureNames { properties[name] = ["type": "number"] }
            reading["properties"] = properties
            reading["required"] = featureNames
            schemas["Reading"] = reading
            components["schemas"] = schemas
            document["components"] = components
        }
        document["paths"] = withAccessResponses(document["paths"])
        return (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data(base.utf8)
    }

    /// Probes: no credentials and no rate limit (`AccessPolicy`).
    static let probes: Set<String> = ["/health", "/ready", "/model-health", "/v2/health/live", "/v2/health/ready"]

    /// Adds the answers the access middleware can give: 401 and 403 wherever credentials are
    /// needed, 429 wherever the rate limit applies. Written once here rather than on every path.
    static func withAccessResponses(_ paths: Any?) -> Any? {
        guard var paths = paths as? [String: Any] else { return paths }
        let error: [String: Any] = ["$ref": "#/components/responses/Error"]
        for (path, value) in paths {
            guard var operations = value as? [String: Any] else { continue }
            for (method, value) in operations {
                guard var operation = value as? [String: Any], var responses = operation["responses"] as? [String: Any] else { continue }
                let open = (operation["security"] as? [Any])?.isEmpty == true
                var added = probes.contains(path) ? [] : ["429"]
                if !open { added += ["401", "403"] }
                for status in added where responses[status] == nil { responses[status] = error }
                operation["responses"] = responses
                operations[method] = operation
            }
            paths[path] = operations
        }
        return paths
    }

    /// Paths and methods documented, for the route-coverage test.
    static var documentedRoutes: Set<String> {
        guard let document = try? JSONSerialization.jsonObject(with: Data(base.utf8)) as? [String: Any],
            let paths = document["paths"] as? [String: [String: Any]]
        else { return [] }
        return Set(paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } })
    }

    static let base = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "Battery-hazard and anomaly inference service",
        "version": "1.0.0",
        "description": "Serves MLflow-trained XGBoost battery-hazard models with Python's exact probabilities, and EMS anomaly detection. Routes need a scope (predict, anomaly:write, anomaly:read, models:admin, metrics:read) granted by a bearer token, an API key or basic credentials; health and readiness need none."
      },
      "security": [{"bearer": []}, {"apiKey": []}, {"basic": []}],
      "paths": {
        "/auth/token": {"post": {"summary": "Log in: a bearer token (HS256 JWT) for AUTH_USERNAME/AUTH_PASSWORD", "operationId": "authToken", "security": [],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["username", "password"],
            "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}}},
          "responses": {
            "200": {"description": "a token", "content": {"application/json": {"schema": {"type": "object", "required": ["access_token", "token_type", "expires_in", "scope"],
              "properties": {"access_token": {"type": "string"}, "token_type": {"type": "string", "const": "bearer"}, "expires_in": {"type": "integer"}, "scope": {"type": "string"}}}}}},
            "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
            "415": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"}}}},
        "/metrics": {"get": {"summary": "Prometheus text exposition (scope metrics:read; basic auth accepted)", "operationId": "metrics", "responses": {
          "200": {"description": "Prometheus text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}},
          "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}},
        "/drift": {"get": {"summary": "Per-feature drift of recent readings against the training baseline (scope metrics:read)", "operationId": "drift", "responses": {
          "200": {"description": "drift report", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DriftReport"}}}},
          "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}},
        "/feedback": {"post": {"summary": "Observed outcomes of readings, stored for the caller's tenant (scope predict)", "operationId": "feedback",
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}}},
          "responses": {
            "201": {"description": "stored", "content": {"application/json": {"schema": {"type": "object", "required": ["stored", "run_id", "tenant"],
              "properties": {"stored": {"type": "integer"}, "run_id": {"type": "string"}, "tenant": {"type": "string"}}}}}},
            "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"},
            "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"}}}},
        "/models/active/performance": {"get": {"summary": "Precision, recall and ROC AUC of the served model on the tenant's feedback (scope models:admin)", "operationId": "activeModelPerformance",
          "responses": {
            "200": {"description": "performance", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Performance"}}}},
            "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"}}}},
        "/health": {"get": {"summary": "Liveness", "operationId": "health", "security": [], "responses": {
          "200": {"description": "alive", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}}},
        "/ready": {"get": {"summary": "Readiness: a model is loaded", "operationId": "ready", "security": [], "responses": {
          "200": {"description": "ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}}},
          "503": {"$ref": "#/components/responses/Error"}}}},
        "/model-health": {"get": {"summary": "The served model's state and traffic", "operationId": "modelHealth", "security": [], "responses": {
          "200": {"description": "model health", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelHealth"}}}},
          "503": {"$ref": "#/components/responses/Error"}}}},
        "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi", "security": [], "responses": {
          "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/predict": {"post": {"summary": "Hazard predictions for a batch of readings", "operationId": "predict",
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}}},
          "responses": {
            "200": {"description": "one prediction per reading, in order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictResponse"}}}},
            "400": {"$ref": "#/components/responses/Error"},
            "413": {"$ref": "#/components/responses/Error"},
            "415": {"$ref": "#/components/responses/Error"},
            "503": {"$ref": "#/components/responses/Error"}}}},
        "/models": {"get": {"summary": "Runs and registered models in the MLflow store", "operationId": "listModels", "responses": {
          "200": {"description": "runs", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunList"}}}}}}},
        "/models/active": {"get": {"summary": "The model serving now", "operationId": "activeModel", "responses": {
          "200": {"description": "active model", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActiveModel"}}}},
          "503": {"$ref": "#/components/responses/Error"}}}},
        "/models/activate": {"post": {"summary": "Load, check and atomically swap to another run", "operationId": "activateModel",
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActivateRequest"}}}},
          "responses": {
            "200": {"description": "now serving", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActiveModel"}}}},
            "400": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"},
            "413": {"$ref": "#/components/responses/Error"},
            "415": {"$ref": "#/components/responses/Error"},
            "422": {"$ref": "#/components/responses/Error"}}}},
        "/anomaly/detect": {"post": {"summary": "Score EMS metric samples of one asset; persisted rows are committed before the answer", "operationId": "anomalyDetect",
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DetectRequest"}}}},
          "responses": {
            "200": {"description": "one result per sample, in request order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DetectResponse"}}}},
            "400": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"}}}},
        "/anomaly/train": {"post": {"summary": "Fit an Isolation Forest for an asset and make it the asset's active model", "operationId": "anomalyTrain",
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TrainRequest"}}}},
          "responses": {
            "201": {"description": "trained and active", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TrainResponse"}}}},
            "400": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"},
            "422": {"$ref": "#/components/responses/Error"}}}},
        "/anomaly/scores/{asset_id}": {"get": {"summary": "Anomaly score history of an asset, newest first", "operationId": "anomalyScores",
          "parameters": [
            {"name": "asset_id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"}},
            {"name": "hours", "in": "query", "schema": {"type": "number", "minimum": 0.001, "maximum": 87600, "default": 24}},
            {"name": "metric", "in": "query", "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}},
            {"name": "anomalies_only", "in": "query", "schema": {"type": "boolean", "default": false}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}}],
          "responses": {
            "200": {"description": "history", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoresResponse"}}}},
            "400": {"$ref": "#/components/responses/Error"}}}},
        "/anomaly/models": {"get": {"summary": "Model metadata rows (anomaly models and hazard-model activations)", "operationId": "anomalyModels",
          "parameters": [{"name": "asset_id", "in": "query", "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:/-]{1,128}$"}}],
          "responses": {
            "200": {"description": "models, newest first", "content": {"application/json": {"schema": {"type": "object", "required": ["models"], "properties": {
              "models": {"type": "array", "items": {"type": "object", "required": ["model_id", "model_type", "model_version", "status", "training_date"]}}}}}}},
            "400": {"$ref": "#/components/responses/Error"}}}},
        "/v2": {"get": {"summary": "Open Inference Protocol server metadata", "operationId": "oipServerMetadata", "security": [], "responses": {
          "200": {"description": "server metadata", "content": {"application/json": {"schema": {"type": "object", "required": ["name", "version", "extensions"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "extensions": {"type": "array", "items": {"type": "string"}}}}}}}}}},
        "/v2/health/live": {"get": {"summary": "OIP liveness", "operationId": "oipLive", "security": [], "responses": {
          "200": {"description": "live", "content": {"application/json": {"schema": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}}}}}}}},
        "/v2/health/ready": {"get": {"summary": "OIP readiness", "operationId": "oipReady", "security": [], "responses": {
          "200": {"description": "ready", "content": {"application/json": {"schema": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}}}},
          "503": {"$ref": "#/components/responses/OIPError"}}}},
        "/v2/models/{name}": {"get": {"summary": "OIP model metadata", "operationId": "oipModelMetadata",
          "parameters": [{"$ref": "#/components/parameters/ModelName"}],
          "responses": {"200": {"$ref": "#/components/responses/OIPModelMetadata"}, "404": {"$ref": "#/components/responses/OIPError"}, "503": {"$ref": "#/components/responses/OIPError"}}}},
        "/v2/models/{name}/versions/{version}": {"get": {"summary": "OIP model metadata for a version (run id)", "operationId": "oipModelVersionMetadata",
          "parameters": [{"$ref": "#/components/parameters/ModelName"}, {"$ref": "#/components/parameters/ModelVersion"}],
          "responses": {"200": {"$ref": "#/components/responses/OIPModelMetadata"}, "404": {"$ref": "#/components/responses/OIPError"}, "503": {"$ref": "#/components/responses/OIPError"}}}},
        "/v2/models/{name}/ready": {"get": {"summary": "OIP model readiness", "operationId": "oipModelReady",
          "parameters": [{"$ref": "#/components/parameters/ModelName"}],
          "responses": {"200": {"$ref": "#/components/responses/OIPModelReady"}, "404": {"$ref": "#/components/responses/OIPError"}, "503": {"$ref": "#/components/responses/OIPError"}}}},
        "/v2/models/{name}/versions/{version}/ready": {"get": {"summary": "OIP model version readiness", "operationId": "oipModelVersionReady",
          "parameters": [{"$ref": "#/components/parameters/ModelName"}, {"$ref": "#/components/parameters/ModelVersion"}],
          "responses": {"200": {"$ref": "#/components/responses/OIPModelReady"}, "404": {"$ref": "#/components/responses/OIPError"}, "503": {"$ref": "#/components/responses/OIPError"}}}},
        "/v2/models/{name}/infer": {"post": {"summary": "OIP inference: raw readings as an FP32/FP64 tensor [n, features] in scaler order", "operationId": "oipInfer",
          "parameters": [{"$ref": "#/components/parameters/ModelName"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}}}},
          "responses": {"200": {"$ref": "#/components/responses/OIPInfer"}, "400": {"$ref": "#/components/responses/OIPError"}, "404": {"$ref": "#/components/responses/OIPError"},
            "413": {"$ref": "#/components/responses/OIPError"}, "415": {"$ref": "#/components/responses/OIPError"}, "503": {"$ref": "#/components/responses/OIPError"}}}},
        "/v2/models/{name}/versions/{version}/infer": {"post": {"summary": "OIP inference on a version (run id)", "operationId": "oipInferVersion",
          "parameters": [{"$ref": "#/components/parameters/ModelName"}, {"$ref": "#/components/parameters/ModelVersion"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}}}},
          "responses": {"200": {"$ref": "#/components/responses/OIPInfer"}, "400": {"$ref": "#/components/responses/OIPError"}, "404": {"$ref": "#/components/responses/OIPError"},
            "413": {"$ref": "#/components/responses/OIPError"}, "415": {"$ref": "#/components/responses/OIPError"}, "503": {"$ref": "#/components/responses/OIPError"}}}}
      },
      "components": {
        "parameters": {
          "ModelName": {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "example": "battery-hazard"},
          "ModelVersion": {"name": "version", "in": "path", "required": true, "schema": {"type": "string"}}
        },
        "responses": {
          "Error": {"description": "error envelope", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "OIPError": {"description": "Open Inference Protocol error", "content": {"application/json": {"schema": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}},
          "OIPModelMetadata": {"description": "model metadata", "content": {"application/json": {"schema": {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"],
            "properties": {"name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}}, "platform": {"type": "string"},
              "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}}, "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
              "parameters": {"type": "object"}}}}}},
          "OIPModelReady": {"description": "model readiness", "content": {"application/json": {"schema": {"type": "object", "required": ["name", "ready"],
            "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}}}}},
          "OIPInfer": {"description": "inference outputs", "content": {"application/json": {"schema": {"type": "object", "required": ["model_name", "model_version", "outputs"],
            "properties": {"model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
              "outputs": {"type": "array", "items": {"type": "object", "required": ["name", "datatype", "shape", "data"],
                "properties": {"name": {"type": "string"}, "datatype": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}}, "data": {"type": "array", "items": {"type": "number"}}}}}}}}}}
        },
        "securitySchemes": {
          "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "a token from POST /auth/token, or an API key"},
          "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
          "basic": {"type": "http", "scheme": "basic", "description": "the operator, or the metrics scraper (METRICS_USERNAME)"}
        },
        "schemas": {
          "FeedbackRequest": {"type": "object", "required": ["readings", "outcomes"], "properties": {
            "readings": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Reading"}},
            "outcomes": {"type": "array", "items": {"type": "integer", "enum": [0, 1]}, "description": "one per reading: 1 = hazardous, 0 = normal"}}},
          "Performance": {"type": "object", "required": ["run_id", "tenant", "threshold", "feedback_rows", "unusable_rows", "metrics"], "properties": {
            "run_id": {"type": "string"}, "tenant": {"type": "string"}, "threshold": {"type": "number"}, "feedback_rows": {"type": "integer"}, "unusable_rows": {"type": "integer"},
            "metrics": {"type": "object", "required": ["count", "positives"], "properties": {
              "count": {"type": "integer"}, "positives": {"type": "integer"}, "true_positives": {"type": "integer"}, "false_positives": {"type": "integer"},
              "true_negatives": {"type": "integer"}, "false_negatives": {"type": "integer"}, "precision": {"type": ["number", "null"]},
              "recall": {"type": ["number", "null"]}, "accuracy": {"type": ["number", "null"]}, "roc_auc": {"type": ["number", "null"]}}}}},
          "DriftReport": {"type": "object", "required": ["baseline", "window", "readings", "threshold", "drifted", "features"], "properties": {
            "run_id": {"type": ["string", "null"]}, "baseline": {"type": "string"}, "window": {"type": "integer"}, "readings": {"type": "integer"},
            "threshold": {"type": "number"}, "drifted": {"type": "array", "items": {"type": "string"}},
            "features": {"type": "array", "items": {"type": "object", "required": ["name", "drifted", "count"], "properties": {
              "name": {"type": "string"}, "training_mean": {"type": ["number", "null"]}, "training_scale": {"type": ["number", "null"]},
              "window_mean": {"type": ["number", "null"]}, "window_std": {"type": ["number", "null"]}, "mean_shift": {"type": ["number", "null"]},
              "std_ratio": {"type": ["number", "null"]}, "drifted": {"type": "boolean"}, "count": {"type": "integer"}}}}}},
          "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message", "details", "request_id"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "request_id": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "required": ["problem"], "properties": {
              "index": {"type": "integer"}, "field": {"type": "string"}, "problem": {"type": "string"}, "suggestion": {"type": "string"}}}}}}}},
          "Sample": {"type": "object", "required": ["timestamp", "metrics"], "additionalProperties": false, "properties": {
            "timestamp": {"type": "string", "format": "date-time"},
            "metrics": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": "^[A-Za-z0-9_.-]{1,64}$"}, "additionalProperties": {"type": "number"}}}},
          "DetectRequest": {"type": "object", "required": ["asset_id", "samples"], "additionalProperties": false, "properties": {
            "asset_id": {"type": "string", "pattern": "^[A-Za-z0-9_.:/-]{1,128}$"},
            "samples": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Sample"}},
            "persist": {"type": ["boolean", "null"], "default": true}}},
          "DetectResponse": {"type": "object", "required": ["asset_id", "threshold", "persisted", "results"], "properties": {
            "asset_id": {"type": "string"}, "model_id": {"type": ["string", "null"]}, "threshold": {"type": "number"}, "persisted": {"type": "boolean"},
            "results": {"type": "array", "items": {"type": "object", "required": ["timestamp", "score", "is_anomaly", "method"], "properties": {
              "timestamp": {"type": "string"}, "score": {"type": "number", "minimum": 0, "maximum": 1}, "is_anomaly": {"type": "boolean"},
              "method": {"type": "string", "enum": ["isolation_forest", "zscore", "iqr", "mad", "flatline", "residual", "level_shift"]},
              "metric": {"type": ["string", "null"]}, "scores": {"type": "object", "additionalProperties": {"type": "number"}}}}}}},
          "TrainRequest": {"type": "object", "required": ["asset_id", "metrics"], "additionalProperties": false, "properties": {
            "asset_id": {"type": "string", "pattern": "^[A-Za-z0-9_.:/-]{1,128}$"},
            "metrics": {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}},
            "samples": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Sample"}},
            "from": {"type": ["string", "null"], "format": "date-time"}, "to": {"type": ["string", "null"], "format": "date-time"},
            "n_estimators": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000}, "max_samples": {"type": ["integer", "null"], "minimum": 2, "maximum": 100000},
            "max_features": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
            "contamination": {"oneOf": [{"const": "auto"}, {"type": "null"}, {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5}]},
            "seed": {"type": ["integer", "null"], "minimum": 0, "maximum": 2147483647}, "window": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000}}},
          "TrainResponse": {"type": "object", "required": ["asset_id", "model_id", "model_version", "status", "n_samples", "training_seconds", "score_threshold", "parameters"]},
          "ScoresResponse": {"type": "object", "required": ["asset_id", "count", "scores"], "properties": {
            "asset_id": {"type": "string"}, "count": {"type": "integer"},
            "scores": {"type": "array", "items": {"type": "object", "required": ["timestamp", "metric_name", "score", "is_anomaly", "threshold", "method"]}}}},
          "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
          "Readiness": {"type": "object", "required": ["status", "model_loaded"], "properties": {"status": {"type": "string"}, "model_loaded": {"type": "boolean"}, "run_id": {"type": "string"}, "store": {"type": "string"}}},
          "ModelHealth": {"type": "object", "required": ["status", "run_id", "loaded_at", "requests", "readings", "hazardous"], "properties": {
            "status": {"type": "string"}, "run_id": {"type": "string"}, "model_uri": {"type": "string"}, "loaded_at": {"type": "string"},
            "requests": {"type": "integer"}, "readings": {"type": "integer"}, "hazardous": {"type": "integer"}, "failures": {"type": "integer"},
            "last_prediction_at": {"type": ["string", "null"]}, "swaps": {"type": "integer"}}},
          "Reading": {"type": "object", "additionalProperties": false, "properties": {
            "module_id": {"type": ["string", "null"]}, "timestamp": {"type": ["string", "null"]}}},
          "PredictRequest": {"type": "object", "required": ["readings"], "additionalProperties": false,
            "properties": {"readings": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Reading"}}}},
          "ServingModel": {"type": "object", "required": ["run_id", "experiment", "model_uri", "model_format", "loaded_at"], "properties": {
            "run_id": {"type": "string"}, "run_name": {"type": ["string", "null"]}, "experiment": {"type": "string"}, "model_uri": {"type": "string"},
            "model_format": {"type": "string"}, "loaded_at": {"type": "string"}}},
          "PredictResponse": {"type": "object", "required": ["model", "predictions", "summary"], "properties": {
            "model": {"$ref": "#/components/schemas/ServingModel"},
            "predictions": {"type": "array", "items": {"type": "object", "required": ["index", "prediction", "label", "hazard_probability"], "properties": {
              "index": {"type": "integer"}, "module_id": {"type": "string"}, "timestamp": {"type": "string"},
              "prediction": {"type": "integer", "enum": [0, 1]}, "label": {"type": "string", "enum": ["Normal", "Hazardous"]},
              "hazard_probability": {"type": "number", "minimum": 0, "maximum": 1}}}},
            "summary": {"type": "object", "required": ["count", "hazardous", "normal", "threshold"], "properties": {
              "count": {"type": "integer"}, "hazardous": {"type": "integer"}, "normal": {"type": "integer"},
              "max_hazard_probability": {"type": "number"}, "threshold": {"type": "number"}}}}},
          "ActivateRequest": {"description": "exactly one of run_id and model_uri", "oneOf": [
            {"type": "object", "required": ["run_id"], "additionalProperties": false, "properties": {"run_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}},
            {"type": "object", "required": ["model_uri"], "additionalProperties": false, "properties": {"model_uri": {"type": "string",
              "pattern": "^(runs:/[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}){0,4}|models:/[A-Za-z0-9_][A-Za-z0-9_. -]{0,63}(/[1-9][0-9]{0,5}|@[A-Za-z0-9_-]{1,64})|models:/m-[A-Za-z0-9_-]{1,62}|[A-Za-z0-9_-]{1,64})$"}}}]},
          "ActiveModel": {"type": "object", "required": ["run_id", "experiment", "model_uri", "feature_names", "scaler", "booster", "xgboost_library_version", "loaded_at", "checks"], "properties": {
            "run_id": {"type": "string"}, "run_name": {"type": ["string", "null"]}, "experiment": {"type": "string"}, "model_uri": {"type": "string"},
            "logged_model_id": {"type": ["string", "null"]}, "registered_model": {"type": ["object", "null"]},
            "feature_names": {"type": "array", "items": {"type": "string"}}, "scaler": {"type": "string"}, "booster": {"type": "object"},
            "xgboost_library_version": {"type": "string"}, "mlflow_version": {"type": ["string", "null"]}, "loaded_at": {"type": "string"},
            "load_ms": {"type": "number"}, "checks": {"type": "array", "items": {"type": "string"}}, "threshold": {"type": "number"}}},
          "RunList": {"type": "object", "required": ["runs", "registered_models"], "properties": {
            "runs": {"type": "array", "items": {"type": "object", "required": ["run_id", "experiment", "status", "servable", "active"], "properties": {
              "run_id": {"type": "string"}, "run_name": {"type": ["string", "null"]}, "experiment_id": {"type": "string"}, "experiment": {"type": "string"},
              "status": {"type": "string"}, "start_time": {"type": ["string", "null"]}, "end_time": {"type": ["string", "null"]},
              "params": {"type": "object"}, "metrics": {"type": "object"}, "tags": {"type": "object"}, "model_uri": {"type": ["string", "null"]},
              "model_format": {"type": ["string", "null"]}, "servable": {"type": "boolean"}, "reason": {"type": ["string", "null"]}, "active": {"type": "boolean"}}}},
            "registered_models": {"type": "array", "items": {"type": "object"}}}},
          "TensorMetadata": {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
            "name": {"type": "string"}, "datatype": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}}}},
          "InferRequest": {"type": "object", "required": ["inputs"], "properties": {
            "id": {"type": "string"},
            "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
              "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}}, "datatype": {"type": "string", "enum": ["FP32", "FP64"]},
              "data": {"type": "array", "items": {"type": "number"}, "description": "row-major values; nested rows are accepted too"}}}}}}
        }
      }
    }
    """#
}
