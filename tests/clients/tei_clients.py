"""Hugging Face's and LangChain's embedding clients, unchanged, against a lamina server.

Run with .venv-clients' Python: ``python tests/clients/tei_clients.py URL``. Prints one JSON
object: what each client got back (vectors as lists), or the error it raised, by case.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


def main(url: str) -> dict[str, Any]:
    from huggingface_hub import AsyncInferenceClient, InferenceClient
    from huggingface_hub.errors import HfHubHTTPError
    from langchain_openai import OpenAIEmbeddings

    out: dict[str, Any] = {}
    client = InferenceClient(model=url)  # TEI's documented use: the endpoint's URL as model
    out["hf_single"] = client.feature_extraction("갈비탕 만드는 법").tolist()
    out["hf_batch"] = client.feature_extraction(["김치찌개", "The quick brown fox"]).tolist()
    out["hf_unnormalized"] = client.feature_extraction("hello", normalize=False).tolist()
    by_base = InferenceClient(base_url=url)
    out["hf_base_url"] = by_base.feature_extraction("hello").tolist()
    try:
        client.feature_extraction("hello", prompt_name="no-such-prompt")
        out["hf_bad_prompt"] = "no error"
    except HfHubHTTPError as exc:
        out["hf_bad_prompt"] = {"status": exc.response.status_code, "body": exc.response.json()}

    async def run_async() -> list[Any]:
        aclient = AsyncInferenceClient(model=url)
        results = await asyncio.gather(*(aclient.feature_extraction(t) for t in ("a", "b", "c")))
        return [r.tolist() for r in results]

    out["hf_async"] = asyncio.run(run_async())

    # LangChain: its TEI guide now points OpenAIEmbeddings at the server's /v1 (the
    # huggingface wrapper, langchain-huggingface 1.x, refuses a URL: it only calls the Hub).
    lc = OpenAIEmbeddings(
        model="all-MiniLM-L6-v2",
        base_url=f"{url}/v1",
        api_key="unused",
        check_embedding_ctx_length=False,  # send the texts; the server tokenizes
    )
    out["lc_documents"] = lc.embed_documents(["김치찌개", "The quick brown fox"])
    out["lc_query"] = lc.embed_query("갈비탕 만드는 법")
    return out


if __name__ == "__main__":
    json.dump(main(sys.argv[1]), sys.stdout)
