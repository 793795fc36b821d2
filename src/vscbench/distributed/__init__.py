"""Generation past one machine with existing engines: Ray actors (:mod:`vscbench.distributed.ray`).

A pool of OpenAI-compatible servers (vLLM, SGLang replicas) needs no code here: name them all
in one spec, ``openai:MODEL@URL1,URL2`` (:mod:`vscbench.models.pool`).
"""
