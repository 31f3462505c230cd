"""Triton's own Python clients against a live inference-api (driven by TritonClientTests).

Reads the rows to score (a JSON list of lists, in the model's feature order) from --rows, then
uses tritonclient.http exactly as a Triton user would: health, readiness, metadata, and infer
with JSON tensors and with binary tensors, for one row and for every row; then the mistakes a
client makes (no credentials, a key without the predict scope, an unknown model, a wrong
shape). With --grpc-url, the same through tritonclient.grpc, and gRPC's health protocol. FP32
tensors hold the readings rounded to float32, so their answers are also given for
the same rounded values sent as FP64. Prints one JSON object with what it saw on its last line; the Swift test checks it.
"""

import argparse
import json

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def infer(client, model, rows, datatype, binary, headers):
    array = np.asarray(rows, dtype=np.float32 if datatype == "FP32" else np.float64)
    tensor = httpclient.InferInput("input-0", list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput("hazard_probability", binary_data=binary),
        httpclient.InferRequestedOutput("label", binary_data=binary),
    ]
    # A copy: the client adds Inference-Header-Content-Length to the dict it is given, which
    # would then go with the next (JSON) request too.
    result = client.infer(model, [tensor], outputs=outputs, headers=dict(headers))
    return {
        "probabilities": [float(p) for p in result.as_numpy("hazard_probability")],
        "labels": [int(v) for v in result.as_numpy("label")],
        "model_version": result.get_response()["model_version"],
    }


def failure(call):
    try:
        call()
    except InferenceServerException as error:
        return {"status": str(error.status()), "message": error.message()}
    return {"status": "no error"}


def grpc_checks(url, model, rows, key, other_key):
    """The same through tritonclient.grpc (raw tensors), and gRPC's health protocol."""
    import grpc
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url=url)
    headers = {"x-api-key": key}

    def infer_grpc(rows, datatype, headers):
        array = np.asarray(rows, dtype=np.float32 if datatype == "FP32" else np.float64)
        tensor = grpcclient.InferInput("input-0", list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        outputs = [grpcclient.InferRequestedOutput("hazard_probability"), grpcclient.InferRequestedOutput("label")]
        result = client.infer(model, [tensor], outputs=outputs, headers=dict(headers))
        return {
            "probabilities": [float(p) for p in result.as_numpy("hazard_probability")],
            "labels": [int(v) for v in result.as_numpy("label")],
            "model_version": result.get_response().model_version,
        }

    seen = {
        "live": client.is_server_live(headers=headers),
        "ready": client.is_server_ready(headers=headers),
        "model_ready": client.is_model_ready(model, headers=headers),
        "server_metadata": client.get_server_metadata(headers=headers, as_json=True),
        "model_metadata": client.get_model_metadata(model, headers=headers, as_json=True),
        "answers": {},
    }
    for datatype in ("FP32", "FP64"):
        for count in (1, len(rows)):
            name = f"{datatype} grpc {count}"
            try:
                answer = infer_grpc(rows[:count], datatype, headers)
                if datatype == "FP32":
                    rounded = np.asarray(rows[:count], dtype=np.float32).astype(np.float64).tolist()
                    answer["fp64_of_rounded"] = infer_grpc(rounded, "FP64", headers)["probabilities"]
            except InferenceServerException as error:
                raise SystemExit(f"infer {name}: {error}")
            seen["answers"][name] = answer
    one = rows[:1]
    seen["bearer"] = infer_grpc(one, "FP64", {"authorization": f"Bearer {key}"})["probabilities"]
    seen["errors"] = {
        "no_credentials": failure(lambda: infer_grpc(one, "FP32", {})),
        "wrong_scope": failure(lambda: infer_grpc(one, "FP32", {"x-api-key": other_key})),
        "unknown_model": failure(lambda: client.get_model_metadata("no-such-model", headers=headers)),
        "wrong_shape": failure(lambda: infer_grpc([row[:-1] for row in one], "FP32", headers)),
    }
    # grpc.health.v1.Health/Check by hand: an empty request; the answer's field 1 is the status.
    with grpc.insecure_channel(url) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        answer = check(b"")
        seen["health"] = answer[1] if len(answer) >= 2 and answer[0] == 0x08 else 0
        try:
            check(b"\x0a\x07nothing")  # service "nothing"
            seen["health_unknown"] = "no error"
        except grpc.RpcError as error:
            seen["health_unknown"] = str(error.code())
    return seen


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="host:port")
    parser.add_argument("--model", required=True)
    parser.add_argument("--key", required=True, help="an API key with the predict scope")
    parser.add_argument("--other-key", required=True, help="an API key without it")
    parser.add_argument("--rows", required=True, help="a JSON file: a list of rows")
    parser.add_argument("--grpc-url", help="host:port of the gRPC server: run the gRPC checks too")
    args = parser.parse_args()
    with open(args.rows) as f:
        rows = json.load(f)
    headers = {"X-API-Key": args.key}
    client = httpclient.InferenceServerClient(url=args.url)
    seen = {
        "live": client.is_server_live(headers=headers),
        "ready": client.is_server_ready(headers=headers),
        "model_ready": client.is_model_ready(args.model, headers=headers),
        "server_metadata": client.get_server_metadata(headers=headers),
        "model_metadata": client.get_model_metadata(args.model, headers=headers),
        "answers": {},
    }
    for datatype in ("FP32", "FP64"):
        for binary in (False, True):
            for count in (1, len(rows)):
                name = f"{datatype} {'binary' if binary else 'json'} {count}"
                try:
                    answer = infer(client, args.model, rows[:count], datatype, binary, headers)
                    if datatype == "FP32":
                        # What FP64 gives for the same values rounded to float32, as the FP32 tensor holds them.
                        rounded = np.asarray(rows[:count], dtype=np.float32).astype(np.float64).tolist()
                        answer["fp64_of_rounded"] = infer(client, args.model, rounded, "FP64", False, headers)["probabilities"]
                except InferenceServerException as error:
                    raise SystemExit(f"infer {name}: {error}")
                seen["answers"][name] = answer
    one = rows[:1]
    seen["errors"] = {
        "no_credentials": failure(lambda: infer(client, args.model, one, "FP32", True, {})),
        "wrong_scope": failure(lambda: infer(client, args.model, one, "FP32", True, {"X-API-Key": args.other_key})),
        "unknown_model": failure(lambda: infer(client, "no-such-model", one, "FP32", True, headers)),
        "wrong_shape": failure(lambda: infer(client, args.model, [row[:-1] for row in one], "FP32", True, headers)),
    }
    if args.grpc_url:
        seen["grpc"] = grpc_checks(args.grpc_url, args.model, rows, args.key, args.other_key)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
