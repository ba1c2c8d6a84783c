"""Provenance of a rendered video: what marks it as generated, and by which job.

- :mod:`engine.provenance.payload`: a payload watermark in the speech (the job's token),
  spread over the voice band so it survives lossy re-encoding, trims and resampling.
- :mod:`engine.provenance.manifest`: a signed C2PA manifest in the MP4 (digital source type
  ``trainedAlgorithmicMedia``, the tool, its backends, the job, the consent method).

Perth's payload-free watermark stays in :mod:`engine.watermark`; ``mouthpiece verify`` reads
every mark (:mod:`engine.verify`).
"""
