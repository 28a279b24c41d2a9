"""The release pipeline: one module per DVC stage (ingest, validate, split, build, publish) and what they share."""
