"""Batch embedding jobs: an input file in, one vector per valid line out, every line counted.

Flow (docs/batch.md has the whole story):
``submit`` streams the input (``records``), cuts it into chunks and sends them to a queue
(``queues``); ``worker`` embeds one chunk per message and writes its part under a
deterministic key; ``jobs`` keeps the job's manifest (status, counts, which chunks are
done) with compare-and-swap writes and finalizes the job when the last chunk is in.
The bucket is an ``ObjectStore`` of ``lamina.storage`` (S3, or a local directory); the
tools package (``lamina_tools.poller``, ``lamina_tools.local_batch``) feeds the handlers the
way Lambda's SQS event source does and runs the whole pipeline on one machine.

Nothing here imports numpy or ONNX Runtime except ``worker``, so the submit function
ships as a small zip with the lamina layer.
"""
