"""An experiment as data (:mod:`.spec`), the inputs it reads (:mod:`.inputs`), its presets
(:mod:`.presets`), and the one function that runs it (:mod:`.run`)."""

from vscbench.experiment.run import *
from vscbench.experiment.run import __all__  # noqa: F401
