"""Compositions of experiments: utility runs and the safety-utility trade-off, the steering sweep
and the contrastive data it needs, the offline demo and the quickstart. Each builds
:class:`~vscbench.experiment.Experiment` records and runs them; none reaches below the experiment
into the engine's internals."""
