"""The gRPC front of the local batch server, for xAI's own SDK (``xai-sdk``).

It serves ``xai_api.BatchMgmt`` (every method), ``xai_api.Tokenize`` and ``xai_api.Models`` on
the stubs the installed ``xai_sdk`` package ships, over the same store and engine as the REST
routes. It needs the ``batchframe[grpc]`` extra; nothing imports it unless a gRPC port is asked
for (``batchframe serve --grpc-port N``, ``bf.serve(grpc_port=0)``).

>>> import batchframe as bf
>>> with bf.serve(grpc_port=0) as handle:           # doctest: +SKIP
...     sdk = xai_sdk.Client(api_key="any", api_host=handle.grpc_address)
"""

from __future__ import annotations

from batchframe.server.grpc_front.front import STATUS_CODES, GrpcFront

__all__ = ["STATUS_CODES", "GrpcFront"]
