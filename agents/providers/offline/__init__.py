"""The offline models: deterministic stand-ins for the live providers, used by the demo,
the tests and `GENOME_PROVIDER=offline`. They never call a network.

render     draws an ad image from a brief (Pillow)
measure    reads layout, colour and legibility back out of a rendered image
models     the image model, reviewers and defect scan built on render and measure
hashembed  a feature-hashing text embedder in place of the embedding API
"""
