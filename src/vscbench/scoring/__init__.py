"""From verdicts to figures: the scoring rules (:mod:`.rules`), the SRA records and their
computation (:mod:`.records`, :mod:`.metrics`), intervals and paired tests (:mod:`.stats`,
:mod:`.resample`), the open questions' figures (:mod:`.detection` d' and c, :mod:`.transfer`,
:mod:`.consistency`, :mod:`.harm`, :mod:`.frontier`), comparisons (:mod:`.compare`), scores of
stored runs (:mod:`.runs`) and the utility benchmarks' metrics (:mod:`.utility`). The report
only reads what is computed here."""
