"""Attack images: typography, FigStep and concat renderers (:mod:`.images`), fonts (:mod:`.fonts`),
and the builders that render a whole release (:mod:`.build`) or a user's dataset (:mod:`.custom`)."""
