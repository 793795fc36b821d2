"""From verdicts to figures: the scoring rules (:mod:`.rules`), the SRA records and their
computation (:mod:`.records`, :mod:`.metrics`), intervals and paired tests (:mod:`.stats`),
comparisons (:mod:`.compare`), scores of stored runs (:mod:`.runs`) and the utility benchmarks'
metrics (:mod:`.utility`). The report only reads what is computed here."""
