"""The Xet protocol's formats as a CAS server reads and writes them: hashes, serialized xorbs and shards."""
