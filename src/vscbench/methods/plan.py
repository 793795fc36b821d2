"""One method spec for a whole run: prompting methods and IAR steering, composed with ``+``.

``parse_method("few-shot:2+safety-prompt+iar:layer=14,strength=1.5,vector=v.safetensors")``
gives a :class:`MethodPlan` that the run engine uses in three places:

- :meth:`MethodPlan.select` drops few-shot demonstration rows from the evaluated samples;
- :meth:`MethodPlan.transform` maps each built Request to the one sent and stamps it with the
  canonical spec, so a response's cache key covers the method;
- :meth:`MethodPlan.wrap` wraps a local ``hf:`` model for IAR (a model decorator whose every
  ``generate`` hooks the block for its own duration, also when it fails).

The canonical spec names the steering vector by its file's SHA-256, not its path, so moving a
file keeps cached answers and changing its content never reuses them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vscbench.images import file_sha256
from vscbench.methods.prompting import MethodSpecError, PromptPipeline
from vscbench.methods.steering.hooks import Positions
from vscbench.schema import Request, Sample

__all__ = ["IARSetting", "MethodPlan", "MethodSpecError", "fit_model_options", "parse_method"]

IAR_EXAMPLE = "iar:layer=14,strength=1.5,vector=iar.safetensors[,positions=last|all][,gate=probe|condition]"
GATES = ("probe", "condition")
#: Images one conversation may hold, per backend, where the backend has a fixed limit.
FIXED_IMAGE_LIMITS = {"anthropic": 100}
#: What vscbench asks vLLM to allow per prompt when a method needs no more (its own default is lower).
VLLM_DEFAULT_IMAGES = 8


@dataclass
class IARSetting:
    """Where and how hard to steer, and with which vector file.

    ``layer_spec`` is what the user wrote (``14``, ``-1`` or a depth fraction ``0.5``);
    ``layer`` is the 0-indexed text block once known (at parse time for a non-negative index,
    otherwise when the model is wrapped or :meth:`MethodPlan.resolve_layer` is called).
    """

    layer_spec: str
    strength: float
    vector: Path
    vector_sha256: str
    positions: Positions = "last"
    gate: str | None = None
    """``probe`` (logistic probe), ``condition`` (CAST condition vector) or None (always steer)."""
    layer: int | None = None
    #: Filled by :meth:`MethodPlan.wrap`: the push as a fraction of the activation norm.
    relative_strength: float | None = None
    #: ``add`` (IAR) or ``ablate`` (:mod:`vscbench.methods.steering.ablation`), and with ``ablate``
    #: the direction taken out: the file's ``condition`` direction or its IAR ``vector``.
    mode: str = "add"
    direction: str = "condition"

    @property
    def depends_on_model(self) -> bool:
        """True for a depth fraction or a negative index: the block depends on the model's depth."""
        return not (self.layer_spec.lstrip("+").isdigit())

    def canonical(self) -> str:
        if self.layer is None:
            raise MethodSpecError(
                f"iar layer {self.layer_spec} is a depth fraction or counts from the end; it is resolved "
                "against a model: call wrap(model) or resolve_layer(num_layers) first"
            )
        text = (
            f"iar:layer={self.layer},strength={float(self.strength)!r},"
            f"vector={self.vector_sha256[:16]},positions={self.positions}"
        )
        text += f",mode=ablate,direction={self.direction}" if self.mode == "ablate" else ""
        return text + (f",gate={self.gate}" if self.gate else "")


def _parse_iar(text: str) -> IARSetting:
    _, _, rest = text.strip().partition(":")
    options: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise MethodSpecError(f"iar option {item!r} is not KEY=VALUE; example: {IAR_EXAMPLE}")
        key = {"alpha": "strength"}.get(key.strip(), key.strip())
        if key in options:
            raise MethodSpecError(f"iar option {key!r} is given twice in {text!r}")
        options[key] = value.strip()
    unknown = sorted(set(options) - {"layer", "strength", "vector", "positions", "gate", "mode", "direction"})
    if unknown:
        raise MethodSpecError(f"unknown iar option(s) {', '.join(unknown)} in {text!r}; form: {IAR_EXAMPLE}")
    mode, direction = options.get("mode", "add"), options.get("direction", "condition")
    if mode not in ("add", "ablate") or direction not in ("condition", "vector"):
        raise MethodSpecError(f"iar mode must be add or ablate and direction condition or vector, in {text!r}")
    if mode == "ablate":
        options.setdefault("strength", "1")  # the share of the projection removed
    missing = [key for key in ("layer", "strength", "vector") if key not in options]
    if missing:
        raise MethodSpecError(f"iar needs {', '.join(missing)} in {text!r}; example: {IAR_EXAMPLE}")
    try:
        layer_value = float(options["layer"])
    except ValueError:
        raise MethodSpecError(
            f"iar layer {options['layer']!r} is not a block index (14) or depth fraction (0.5)"
        ) from None
    if not (layer_value.is_integer() or 0 < layer_value < 1):
        raise MethodSpecError(f"iar layer {options['layer']!r} is neither a block index nor a fraction in (0, 1)")
    try:
        strength = float(options["strength"])
    except ValueError:
        raise MethodSpecError(f"iar strength {options['strength']!r} is not a number; example: strength=1.5") from None
    positions: Positions = "all" if options.get("positions", "last") == "all" else "last"
    if options.get("positions", "last") not in ("last", "all"):
        raise MethodSpecError(f"iar positions must be 'last' or 'all', not {options['positions']!r}")
    gate = options.get("gate", "none")
    if gate not in (*GATES, "none"):
        raise MethodSpecError(f"iar gate must be probe, condition or none, not {gate!r}")
    vector = Path(options["vector"]).expanduser()
    if not vector.is_file():
        raise MethodSpecError(
            f"iar vector file {vector} does not exist; make one with "
            "`vscbench steer extract --model hf:PATH --data contrastive.jsonl --out iar.safetensors`"
        )
    exact_layer = int(layer_value) if layer_value.is_integer() and layer_value >= 0 else None
    return IARSetting(
        layer_spec=options["layer"],
        strength=strength,
        vector=vector,
        vector_sha256=file_sha256(vector),
        positions=positions,
        gate=None if gate == "none" else gate,
        layer=exact_layer,
        mode=mode,
        direction=direction,
    )


@dataclass
class MethodPlan:
    """A parsed method spec; see the module docstring for how a run uses it."""

    spec: str = "none"
    pipeline: PromptPipeline = field(default_factory=lambda: PromptPipeline([]))
    iar: IARSetting | None = None
    ecso: bool = False  #: answer through ECSO's steps (:mod:`vscbench.methods.ecso`) around the rest
    #: Ids of the few-shot demonstration samples chosen by :meth:`select` (sorted).
    demo_ids: list[str] = field(default_factory=list)
    #: Ids of samples :meth:`select` held out because the steering data was built from their rows.
    held_out_ids: list[str] = field(default_factory=list)

    @property
    def canonical(self) -> str:
        """The method as it enters every cache key: options spelled out, files hashed."""
        parts = [self.base_canonical] if self.pipeline.methods or self.iar is not None else []
        return "+".join([*parts, *(["ecso"] if self.ecso else [])]) or "none"

    @property
    def base_canonical(self) -> str:
        """The canonical spec without ECSO: what ECSO's first step is asked (and keyed) under."""
        parts = [self.pipeline.canonical()] if self.pipeline.methods else []
        if self.iar is not None:
            parts.append(self.iar.canonical())
        return "+".join(parts) or "none"

    @property
    def label(self) -> str:
        """A short readable name for run names (``few-shot-2+safety-prompt``, ``iar-l14-s1.5``)."""
        parts = [m.canonical().split(",")[0].replace(":", "-") for m in self.pipeline.methods]
        if self.iar is not None:
            layer = self.iar.layer if self.iar.layer is not None else self.iar.layer_spec
            kind = "ablate" if self.iar.mode == "ablate" else "iar"
            gate = f"-{self.iar.gate}" if self.iar.gate else ""
            parts.append(f"{kind}-l{layer}-s{float(self.iar.strength):g}{gate}")
        return "+".join(parts + (["ecso"] if self.ecso else [])) or "none"

    def select(self, samples: Sequence[Sample], pool: Sequence[Sample]) -> list[Sample]:
        """The samples left to evaluate once few-shot demonstrations are drawn from ``pool`` and
        the rows the steering data was built from are held out.

        With ``iar``, the vector file's guard (questions and images of its contrastive data,
        and the benchmark rows of its held-out split) is checked: samples of those rows are held
        out, as few-shot holds out its demonstrations' rows; any other sample that shares a
        normalised question or an image with the data is refused with :class:`MethodSpecError`.
        """
        kept = self.pipeline.select(samples, pool)
        few_shot = self.pipeline.few_shot
        self.demo_ids = sorted(few_shot.demo_ids()) if few_shot is not None else []
        self.held_out_ids = []
        if self.iar is not None:
            kept = self._apart_from_steering_data(kept)
        return kept

    def _apart_from_steering_data(self, samples: list[Sample]) -> list[Sample]:
        from vscbench.methods.steering.guard import describe_overlap
        from vscbench.methods.steering.vectors import VectorFileError, read_guard

        assert self.iar is not None
        try:
            guard = read_guard(self.iar.vector)
        except VectorFileError as exc:
            raise MethodSpecError(str(exc)) from None
        held = [sample for sample in samples if guard.in_rows(sample)]
        self.held_out_ids = sorted(sample.id for sample in held)
        kept = [sample for sample in samples if not guard.in_rows(sample)]
        found = guard.overlapping(kept) if guard else []
        if found:
            raise MethodSpecError(
                describe_overlap(found, f"the steering data of {self.iar.vector}")
                + ". A vector must not be fitted on what it is evaluated on: build the data from a held-out split "
                "(`vscbench steer build-data`, whose rows runs then leave out) or evaluate other samples"
            )
        if samples and not kept:
            raise MethodSpecError(f"every selected sample is in the held-out split of {self.iar.vector}; select others")
        return kept

    @property
    def images_per_conversation(self) -> int:
        """The most images one request of this method holds: the sample's own and the demonstrations'."""
        few_shot = self.pipeline.few_shot
        return 1 + (few_shot.images_per_conversation if few_shot is not None else 0)

    def transform(self, samples: Sequence[Sample]) -> Callable[[Request], Request]:
        """A request transform for :func:`vscbench.engine.runner.run_samples` over these samples."""
        by_id = {sample.id: sample for sample in samples}

        def apply(request: Request) -> Request:
            sample = by_id.get(request.sample_id)
            if sample is None:
                raise MethodSpecError(f"request for {request.sample_id} is not one of the samples given to transform()")
            changed = self.pipeline.apply(request, sample)
            return changed.model_copy(update={"method": self.canonical})

        self.canonical  # noqa: B018 -- fail now, not per request, if an iar layer is unresolved
        return apply

    def resolve_layer(self, num_layers: int) -> int | None:
        """Turn the iar layer (index, negative index or depth fraction) into a text block."""
        if self.iar is None:
            return None
        from vscbench.methods.steering.layers import LayerError, resolve_layers

        try:
            self.iar.layer = resolve_layers([self.iar.layer_spec], num_layers)[0]
        except LayerError as exc:
            raise MethodSpecError(f"iar layer: {exc}") from None
        return self.iar.layer

    def check_backend(self, provider: str, model_name: str = "") -> None:
        """Refuse, before anything is loaded, a plan with ``iar`` for a non-``hf`` backend."""
        if self.iar is not None and provider != "hf":
            raise MethodSpecError(
                f"iar steering needs a local transformers model (hf:PATH), but {model_name or provider} "
                f"uses the {provider} backend, whose activations cannot be reached; use a prompting "
                "method (cot, safety-prompt, few-shot:K) with it instead"
            )

    def wrap(self, model: Any, cache: Any = None) -> Any:
        """The model a run calls: ``model`` itself, or, with ``iar``, a
        :class:`~vscbench.methods.steering.wrapper.SteeredModel` (an ``AblatedModel`` with
        ``mode=ablate``) around it; with ``ecso``, an :class:`~vscbench.methods.ecso.ECSOModel`
        around that, keeping its steps' answers in ``cache`` (the run's store).

        Loads the vector file against the model (refusing one made for another model),
        resolves the layer and checks the file has a vector (and, with ``gate=probe``, a probe)
        for it. The wrapped model is not changed.
        """
        if self.ecso:
            from vscbench.methods.ecso import ECSOModel

            return ECSOModel(self._steered(model), self.base_canonical, cache)
        return self._steered(model)

    def _steered(self, model: Any) -> Any:
        if self.iar is None:
            return model
        spec = getattr(model, "spec", None)
        provider = getattr(spec, "provider", type(model).__name__)
        self.check_backend(provider, str(spec or type(model).__name__))
        if not hasattr(model, "generate_batch") or not hasattr(model, "model"):
            raise MethodSpecError(
                f"iar steering needs a local HFModel (with .model and .generate_batch); got {type(model).__name__}"
            )
        from vscbench.methods.steering.layers import num_text_layers
        from vscbench.methods.steering.vectors import VectorFileError, load_vectors
        from vscbench.methods.steering.wrapper import SteeredModel

        iar = self.iar
        try:
            vectors = load_vectors(iar.vector, model.model)
        except VectorFileError as exc:
            raise MethodSpecError(f"iar vector file cannot be used with {spec}: {exc}") from None
        if vectors.sha256 is not None and vectors.sha256 != iar.vector_sha256:
            raise MethodSpecError(f"iar vector file {iar.vector} changed since the method was parsed; parse it again")
        layer = self.resolve_layer(num_text_layers(model.model))
        assert layer is not None
        if layer not in vectors.vectors:
            raise MethodSpecError(
                f"iar vector file {iar.vector} has no vector for text block {layer} (it has blocks "
                f"{vectors.layers}); extract one with `vscbench steer extract --layers {layer}`"
            )
        held = vectors.probes if iar.gate == "probe" else vectors.conditions
        if iar.gate and layer not in held:
            raise MethodSpecError(
                f"iar gate={iar.gate} needs a {iar.gate} for block {layer} in {iar.vector}; extract the vectors "
                "from safe and unsafe queries so a probe and a condition vector are fitted"
            )
        if iar.mode == "ablate":
            from vscbench.methods.steering.ablation import ablated_model

            try:
                return ablated_model(model, vectors, layer, iar.strength, iar.direction, iar.gate)
            except ValueError as exc:
                raise MethodSpecError(f"iar mode=ablate with {iar.vector}: {exc}") from None
        iar.relative_strength = vectors.relative_strength(layer, iar.strength)
        return SteeredModel(model, vectors, layer, iar.strength, positions=iar.positions, gate=iar.gate or False)

    def to_dict(self) -> dict[str, Any]:
        """What a run records about its method, enough to repeat it and trace its inputs."""
        record: dict[str, Any] = {"spec": self.spec, "prompting": self.pipeline.canonical()}
        try:
            record["canonical"] = self.canonical
        except MethodSpecError:
            record["canonical"] = None
        few_shot = self.pipeline.few_shot
        if few_shot is not None:
            record["few_shot"] = {"k": few_shot.k, "seed": few_shot.seed, "scope": few_shot.scope,
                                  "demo_ids": list(self.demo_ids)}  # fmt: skip
        if self.iar is not None:
            iar = self.iar
            record["iar"] = {
                "vector": str(iar.vector), "vector_sha256": iar.vector_sha256, "layer": iar.layer,
                "layer_spec": iar.layer_spec, "alpha": iar.strength, "positions": iar.positions,
                "gate": iar.gate, "relative_strength": iar.relative_strength, "held_out": len(self.held_out_ids),
                "mode": iar.mode, "direction": iar.direction if iar.mode == "ablate" else None,
            }  # fmt: skip
        record["ecso"] = self.ecso
        return record


def fit_model_options(provider: str, options: dict[str, Any], methods: Sequence[str | MethodPlan]) -> dict[str, Any]:
    """``options`` for a backend, made to hold the images every method puts in one conversation.

    vLLM refuses a prompt with more images than its ``limit_mm_per_prompt``: the limit is raised
    to fit (``few-shot:4`` needs 9), and a limit the user set too low is refused before the
    engine loads. Backends with a fixed limit refuse a method that exceeds it.
    """
    plans = [parse_method(m) if isinstance(m, str) else m for m in methods]
    needed = max((plan.images_per_conversation for plan in plans), default=1)
    worst = max(plans, key=lambda plan: plan.images_per_conversation).spec if plans else "none"
    fixed = FIXED_IMAGE_LIMITS.get(provider)
    if fixed is not None and needed > fixed:
        raise MethodSpecError(
            f"method {worst} puts {needed} images in one conversation; the {provider} backend takes at most {fixed}"
        )
    if provider != "vllm":
        return options
    limits = dict(options.get("limit_mm_per_prompt") or {})
    given = limits.get("image")
    if given is not None and int(given) < needed:
        raise MethodSpecError(
            f"method {worst} puts {needed} images in one conversation, but limit_mm_per_prompt allows {given}; "
            f"raise it (-M 'limit_mm_per_prompt={{\"image\": {needed}}}') or use fewer demonstrations"
        )
    limits["image"] = max(int(given or 0), needed, VLLM_DEFAULT_IMAGES)
    return {**options, "limit_mm_per_prompt": limits}


def parse_method(spec: str | None) -> MethodPlan:
    """Parse ``cot``, ``safety-prompt[:file=PATH]``, ``few-shot:K[,seed=N,scope=category|subset,answers=FILE]``,
    ``adashield-s[:file=PATH]``, ``ecso`` and ``iar:layer=L,strength=A,vector=PATH[,positions=last|all]
    [,gate=probe|condition][,mode=ablate[,direction=condition|vector]]``, joined by ``+``.

    ``None``, ``""`` and ``"none"`` mean no method. Raises :class:`MethodSpecError` with the
    accepted forms for anything else it cannot read.
    """
    text = (spec or "").strip()
    if text in ("", "none"):
        return MethodPlan()
    parts = [part.strip() for part in text.split("+")]
    if any(not part for part in parts):
        raise MethodSpecError(f"method spec {text!r} has an empty part; join methods like few-shot:2+safety-prompt")
    iar_parts = [part for part in parts if part.partition(":")[0].strip() == "iar"]
    if len(iar_parts) > 1:
        raise MethodSpecError(f"method spec {text!r} names iar twice; steer with one setting per run")
    ecso_parts = [part for part in parts if part.partition(":")[0].strip() == "ecso"]
    if len(ecso_parts) > 1 or any(part != "ecso" for part in ecso_parts):
        raise MethodSpecError(f"method spec {text!r}: ecso takes no options and is named once (ecso+few-shot:2)")
    prompting = "+".join(part for part in parts if part not in iar_parts and part not in ecso_parts)
    pipeline = PromptPipeline.parse(prompting) if prompting else PromptPipeline([])
    iar = _parse_iar(iar_parts[0]) if iar_parts else None
    return MethodPlan(spec=text, pipeline=pipeline, iar=iar, ecso=bool(ecso_parts))
