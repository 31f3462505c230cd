"""KServe's own Python SDK clients against a live inference-api (driven by TritonClientTests).

kserve.InferenceRESTClient (protocol v2, JSON and binary tensors) and kserve.InferenceGRPCClient,
as a KServe user calls them: liveness, readiness, model readiness, and infer for one row and for
every row of --rows (FP64, so the answers compare with Python's); then a request without
credentials and one for an unknown model. Prints one JSON object with what it saw on its last
line.
"""

import argparse
import asyncio
import json

import grpc
import httpx
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig


def request(model, rows, binary):
    array = np.asarray(rows, dtype=np.float64)
    tensor = InferInput(name="input-0", shape=list(array.shape), datatype="FP64")
    tensor.set_data_from_numpy(array, binary_data=binary)
    return InferRequest(model_name=model, infer_inputs=[tensor], request_id="kserve-1")


def answer(response):
    probabilities = response.get_output_by_name("hazard_probability").as_numpy()
    labels = response.get_output_by_name("label").as_numpy()
    return {
        "probabilities": [float(p) for p in probabilities],
        "labels": [int(v) for v in labels],
    }


async def rest_checks(base, model, rows, key):
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
    headers = {"x-api-key": key}
    seen = {
        "live": await client.is_server_live(base, headers=dict(headers)),
        "ready": await client.is_server_ready(base, headers=dict(headers)),
        "model_ready": await client.is_model_ready(base, model, headers=dict(headers)),
        "answers": {},
    }
    for binary in (False, True):
        for count in (1, len(rows)):
            name = f"FP64 {'binary' if binary else 'json'} {count}"
            response = await client.infer(base, request(model, rows[:count], binary), model_name=model, headers=dict(headers))
            seen["answers"][name] = answer(response)

    async def status(call):
        try:
            await call()
        except httpx.HTTPStatusError as error:
            return str(error.response.status_code)
        return "no error"

    one = rows[:1]
    seen["errors"] = {
        "no_credentials": await status(lambda: client.infer(base, request(model, one, True), model_name=model, headers={})),
        "unknown_model": await status(
            lambda: client.infer(base, request("no-such-model", one, True), model_name="no-such-model", headers=dict(headers))),
    }
    await client.close()
    return seen


async def grpc_checks(url, model, rows, key):
    client = InferenceGRPCClient(url=url, timeout=60)
    metadata = [("x-api-key", key)]
    seen = {
        "live": await client.is_server_live(headers=metadata),
        "ready": await client.is_server_ready(headers=metadata),
        "model_ready": await client.is_model_ready(model, headers=metadata),
        "answers": {},
    }
    for count in (1, len(rows)):
        response = await client.infer(request(model, rows[:count], False), headers=metadata)
        seen["answers"][f"FP64 grpc {count}"] = answer(response)

    async def status(call):
        try:
            await call()
        except grpc.aio.AioRpcError as error:
            return str(error.code())
        return "no error"

    one = rows[:1]
    seen["errors"] = {
        "no_credentials": await status(lambda: client.infer(request(model, one, False), headers=[])),
        "unknown_model": await status(lambda: client.infer(request("no-such-model", one, False), headers=metadata)),
    }
    await client.close()
    return seen


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="host:port of the HTTP server")
    parser.add_argument("--grpc-url", required=True, help="host:port")
    parser.add_argument("--model", required=True)
    parser.add_argument("--key", required=True, help="an API key with the predict scope")
    parser.add_argument("--rows", required=True, help="a JSON file: a list of rows")
    args = parser.parse_args()
    with open(args.rows) as f:
        rows = json.load(f)
    seen = {
        "rest": await rest_checks(f"http://{args.url}", args.model, rows, args.key),
        "grpc": await grpc_checks(args.grpc_url, args.model, rows, args.key),
    }
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main())
