"""Storage for data: DVC-3-identical hashing (``hashing``), its memo (``state``), the cache (``cache``)."""
