"""The run engine: samples become keyed requests (:mod:`.requests`), an executor sends them
(:mod:`.runner` in this process, :mod:`.ray` on a cluster) under the guards of :mod:`.guards`, and
every answer goes to the store as it arrives."""
