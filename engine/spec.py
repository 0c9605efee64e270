"""The comparison spec: one typed description of a job, validated the same way everywhere.

Runs = arms x seeds. Arm models are generated from the optimizer registry, so each
arm's fields are exactly its optimizer's hyperparameters, and a bad value is reported
at its own path, e.g. ``arms.1.adam.beta1``. The job's parts live beside it: the net in
engine/net_spec.py, training and regularization in engine/train_spec.py, the study in
engine/study_spec.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapSerializer,
    WrapValidator,
    create_model,
    field_validator,
    model_validator,
)

from engine import plugins
from engine.net_spec import NetSpec
from engine.optimizer_defs import hparam_field
from engine.registry import REGISTRY, HParam, OptimizerDef
from engine.search_space import check_spaces
from engine.strict import DISTINCT, INT32_MAX, Strict
from engine.study_spec import Study
from engine.task_table import CLASSIFICATION_TASKS, IMAGE_TASKS, KNOWN_TRUTH, TASKS, TOKEN_TASKS
from engine.train_spec import Lookahead, Regularization, Sam, Schedule, TrainSpec


class ArmBase(Strict):
    label: str | None = Field(None, max_length=64, description="name shown in results")
    batch_size: int | None = Field(None, ge=0, le=INT32_MAX,
                                   description="overrides train.batch_size; 0 is the full batch")
    schedule: Schedule = Schedule()
    clip_grad_norm: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="clip each run's gradient to this norm"
    )
    sam: Sam | None = Field(None, description="wrap the optimizer in sharpness-aware minimization")
    lookahead: Lookahead | None = Field(None, description="wrap the optimizer in Lookahead")
    # A multiple, not a count: "twice the steps" stays twice under train.examples, under the
    # CLI's --steps and under any override of train.steps.
    steps_factor: int = Field(1, ge=1, le=100, description=(
        "this arm trains this many times the job's steps (train.steps, or the steps "
        "train.examples gives its batch size); 2 gives a one-pass optimizer as many gradient "
        "evaluations as the same optimizer with sam"))

    @property
    def definition(self) -> OptimizerDef:
        return REGISTRY[self.optimizer]  # type: ignore[attr-defined]

    def hyperparams(self) -> dict[str, Any]:
        return {h.name: getattr(self, h.name) for h in self.definition.hparams}

    def display(self) -> str:
        return self.label or self.definition.title


class PluginArm(ArmBase):
    """An arm whose optimizer an installed plugin provides (engine/plugins.py)."""

    optimizer_def: ClassVar[OptimizerDef]

    @property
    def definition(self) -> OptimizerDef:
        return self.optimizer_def


class StoredPluginArm(ArmBase):
    """A plugin arm read back from a stored job where the plugin is not installed (the API):
    its hyperparameters were validated when the job was stored and are kept as they are."""

    model_config = ConfigDict(extra="allow")
    optimizer: str

    @property
    def definition(self) -> OptimizerDef:
        hp = tuple(HParam(k, v) for k, v in (self.model_extra or {}).items())
        return OptimizerDef(self.optimizer, self.optimizer, "", hp, vectorized=False, plugin=True)


def _arm_model(opt: OptimizerDef, base: type[ArmBase] = ArmBase) -> type[ArmBase]:
    fields: dict[str, Any] = {"optimizer": (Literal[opt.name], ...)}  # type: ignore[valid-type]
    fields.update({h.name: hparam_field(h) for h in opt.hparams})
    cls_name = "".join(p.capitalize() for p in opt.name.split("_")) + "Arm"
    return create_model(cls_name, __base__=base, __doc__=opt.doc, **fields)


_PLUGIN_MODELS: dict[tuple[Any, ...], type[ArmBase]] = {}


def plugin_arm_model(opt: OptimizerDef) -> type[ArmBase]:
    """The arm model of a plugin's definition, built once per definition."""
    key = (opt.name, opt.module, opt.torch_class, opt.granularity, opt.hparams)
    if key not in _PLUGIN_MODELS:
        model = _arm_model(opt, PluginArm)
        model.optimizer_def = opt  # type: ignore[attr-defined]
        _PLUGIN_MODELS[key] = model
    return _PLUGIN_MODELS[key]


def _offered(info: ValidationInfo) -> Mapping[str, OptimizerDef] | None:
    """The plugins an arm may name: those live workers offer (the API passes them in the
    validation context), those installed here (the engine's default), or, for a job read
    back from storage, whatever it names (None)."""
    ctx = info.context or {}
    if "optimizers" in ctx:
        return ctx["optimizers"]
    if ctx.get("stored"):
        return None
    return plugins.installed()


def _unknown(name: str, offered: Mapping[str, OptimizerDef], value: Any) -> ValidationError:
    names = ", ".join([*REGISTRY, *offered])
    return ValidationError.from_exception_data("Arm", [{
        "type": "value_error", "loc": ("optimizer",), "input": value,
        "ctx": {"error": ValueError(f"unknown optimizer {name!r}; choose one of: {names} (GET /optimizers "
                                    "lists them; a plugin's are there while a worker that has it runs)")}}])


def _arm(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    """Built-in arms go to their tagged model; other names to a plugin's model, whose errors
    carry the same path (``arms.N.<optimizer>.<field>``)."""
    if isinstance(value, PluginArm | StoredPluginArm):
        return value  # validated when it was built
    name = value.get("optimizer") if isinstance(value, dict) else None
    if not isinstance(name, str) or name in ARM_MODELS:
        return handler(value)
    offered = _offered(info)
    if offered is None:
        loaded = plugins.loaded()
        if name not in loaded:
            return StoredPluginArm.model_validate(value)
        offered = loaded
    if name not in offered:
        raise _unknown(name, offered, value)
    try:
        return plugin_arm_model(offered[name]).model_validate(value)
    except ValidationError as exc:
        raise ValidationError.from_exception_data("Arm", [
            {"type": e["type"], "loc": (name, *e["loc"]), "input": e["input"]}
            | ({"ctx": e["ctx"]} if "ctx" in e else {})
            for e in exc.errors()]) from None


def _dump_arm(arm: Any, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
    """A plugin arm is not among the tagged union's models: it dumps itself."""
    if isinstance(arm, PluginArm | StoredPluginArm):
        return arm.model_dump(mode=info.mode, exclude_none=info.exclude_none,
                              exclude_defaults=info.exclude_defaults, exclude_unset=info.exclude_unset)
    return handler(arm)


ARM_MODELS = {name: _arm_model(opt) for name, opt in REGISTRY.items()}
Arm = Annotated[
    Annotated[Union[tuple(ARM_MODELS.values())], Field(discriminator="optimizer")],  # type: ignore[valid-type]  # noqa: UP007
    WrapValidator(_arm),
    WrapSerializer(_dump_arm),
]


def stored(data: dict[str, Any]) -> ComparisonSpec:
    """A job's spec as stored: validated when it was submitted, so a plugin arm is read back
    even where that plugin is not installed (the API)."""
    return ComparisonSpec.model_validate(data, context={"stored": True})


class TaskSpec(Strict):
    name: Literal[tuple(TASKS)] = "wave"  # type: ignore[valid-type]  # GET /tasks lists them
    dataset: str | None = Field(None, max_length=36,
                                description="'dataset': the id of an uploaded CSV (POST /datasets)")
    n: int = Field(10_000, ge=20, le=1_000_000,
                   description="points generated; 'digits' and 'digits-reconstruct' use min(n, 1797) of "
                   "the images; 'dataset' uses min(n, its rows), set when the job is stored")
    noise: float = Field(0.03, ge=0, allow_inf_nan=False,
                         description="label noise scale (unused by 'digits', 'digits-reconstruct' and "
                         "'tokens')")
    seed: int = Field(0, ge=0, le=INT32_MAX, description="data seed; the same data for every run")
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0, lt=0.5)

    @model_validator(mode="after")
    def _dataset_named(self) -> TaskSpec:
        if (self.name == "dataset") != (self.dataset is not None):
            raise ValueError("give 'dataset' (an uploaded CSV's id) exactly when name is 'dataset'")
        return self

    def split_sizes(self) -> tuple[int, int, int]:
        """(train, val, test) sizes."""
        n = self.size
        n_test = max(1, round(n * self.test_fraction))
        n_val = max(1, round(n * self.val_fraction))
        return n - n_val - n_test, n_val, n_test

    @property
    def size(self) -> int:
        """Points actually used: a real data set caps ``n`` at its own size."""
        fixed = TASKS[self.name].size
        return self.n if fixed is None else min(self.n, fixed)


class ComparisonSpec(Strict):
    """A full optimizer comparison: every arm trained from every seed."""

    task: TaskSpec = TaskSpec()
    net: NetSpec = NetSpec()
    arms: list[Arm] = Field(..., min_length=1, max_length=64)  # type: ignore[valid-type]
    seeds: list[Annotated[int, Field(ge=0, le=INT32_MAX)]] = Field([0], min_length=1, max_length=100,
                                                                   json_schema_extra=DISTINCT)
    train: TrainSpec = TrainSpec()
    regularization: Regularization | None = None
    study: Study | None = Field(None, description="what to run beyond every arm from every seed "
                                "(tuning, batch_size, cross_validation, bias_variance, trajectories)")

    @field_validator("net")
    @classmethod
    def _net_fits_task(cls, v: NetSpec, info: ValidationInfo) -> NetSpec:
        task = info.data.get("task")
        # An uploaded data set's vocabulary is known once it is looked up (core/submission.py).
        if task is not None and v.module is not None and v.module.tokens and task.name != "dataset":
            vocab = TASKS[task.name].vocab
            if vocab is None:
                raise ValueError(f"model {v.model!r} reads token ids: it needs a token task "
                                 f"({', '.join(sorted(TOKEN_TASKS))}); {task.name!r} has none")
            # The embedding's size is the task's: filled in, so the stored spec says it.
            v = v.model_copy(update={"config": v.module.with_vocab(v.config, vocab)})
        # An uploaded data set's images are known once it is looked up (core/submission.py).
        if task is None or task.name in IMAGE_TASKS | {"dataset"}:
            return v
        if v.kind == "cnn":
            raise ValueError(f"kind 'cnn' needs an image task (digits); {task.name!r} has none")
        if v.module is not None and v.module.images:
            raise ValueError(f"model {v.model!r} needs an image task (digits); {task.name!r} has none")
        return v

    @field_validator("regularization")
    @classmethod
    def _regularization_fits_task(cls, v: Regularization | None,
                                  info: ValidationInfo) -> Regularization | None:
        task = info.data.get("task")
        if v is None or task is None:
            return v
        # An uploaded data set's kind is only known once it is read: it may take label smoothing.
        if v.label_smoothing and task.name not in CLASSIFICATION_TASKS | {"dataset"}:
            raise ValueError(f"label_smoothing needs a classification task; {task.name!r} is regression")
        net = info.data.get("net")
        if v.dropout and net is not None and net.functional:
            raise ValueError("dropout acts between the stacked mlp's or cnn's layers; a module (or "
                             "path 'functional') has none to act on")
        for name in ("cutmix", "cutout", "augment"):
            if getattr(v, name) and task.name not in IMAGE_TASKS:
                raise ValueError(f"{name} needs an image task (digits); {task.name!r} has none")
        for name in ("input_noise", "mixup"):
            if getattr(v, name) and net is not None and net.module is not None and net.module.tokens:
                raise ValueError(f"{name} would make the token ids fractions; model {net.model!r} "
                                 "reads them as indices")
        return v

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("seeds must be distinct")
        return v

    @field_validator("arms")
    @classmethod
    def _labels_unique(cls, v: list[ArmBase]) -> list[ArmBase]:
        labels = [a.display() for a in v]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"arms need distinct labels; set 'label' on: {', '.join(dupes)}")
        return v

    @field_validator("arms")
    @classmethod
    def _sam_fits_net(cls, v: list[ArmBase], info: ValidationInfo) -> list[ArmBase]:
        net = info.data.get("net")
        sam = [a.display() for a in v if a.sam is not None]
        if sam and net is not None and net.batch_norm:
            # SAM's second pass would update batch norm's running statistics a second time.
            where = f"model {net.model!r}" if net.model else f"net.norm {net.norm!r}"
            raise ValueError(f"arms {sam} use sam, which does not support batch norm yet ({where}); "
                             "use norm 'layer', 'group' or 'none'")
        return v

    @field_validator("train")
    @classmethod
    def _batch_norm_batches(cls, v: TrainSpec, info: ValidationInfo) -> TrainSpec:
        # Batch statistics of one example are undefined for an MLP (a CNN still has H*W values).
        # Checked on `train` (validated after net and arms) so the error carries a field path.
        net, arms = info.data.get("net"), info.data.get("arms")
        if net is None or arms is None or net.norm != "batch" or net.kind != "mlp":
            return v
        for i, arm in enumerate(arms):
            if not arm.definition.full_batch and (arm.batch_size or v.batch_size) == 1:
                raise ValueError(f"net.norm 'batch' needs batches of 2 or more; arm {i} "
                                 f"({arm.display()}) has batch size 1")
        return v

    @field_validator("study")
    @classmethod
    def _study_fits(cls, v: Study | None, info: ValidationInfo) -> Study | None:
        task, seeds, arms = info.data.get("task"), info.data.get("seeds"), info.data.get("arms")
        if v is None:
            return v
        if v.kind == "bias_variance":
            if task is not None and task.name not in KNOWN_TRUTH:
                raise ValueError(f"bias_variance needs a regression task with a known true function "
                                 f"({', '.join(sorted(KNOWN_TRUTH))}); {task.name!r} has none")
            if seeds is not None and len(seeds) != 1:
                raise ValueError("bias_variance takes one seed: replicate b trains from seed + b")
        if v.kind in ("tuning", "search") and seeds is not None and set(seeds) & set(v.test_seeds):
            raise ValueError("test_seeds must be fresh: they may not repeat any of 'seeds'")
        if v.kind == "tuning" and arms is not None:
            for name, values in v.grid.items():
                if not any(name in a.hyperparams() for a in arms):
                    raise ValueError(f"no arm has a hyperparameter {name!r} to search")
                for arm in arms:
                    if name in arm.hyperparams():
                        _check_values(arm, name, values)
        if v.kind == "search" and arms is not None:
            try:
                check_spaces(v, {a.display(): a.definition for a in arms})
            except ValidationError as exc:  # at study.search..., as the study's own errors are
                raise ValidationError.from_exception_data("SearchStudy", [
                    {"type": e["type"], "loc": ("search", *e["loc"]), "input": e["input"]}
                    | ({"ctx": e["ctx"]} if "ctx" in e else {}) for e in exc.errors()]) from None
        if v.kind == "trajectories" and arms is not None:
            other = [a.display() for a in arms if not a.definition.vectorized]
            if other:
                # The 2-D paths step the hand-written rules directly (engine/studies/trajectories.py).
                raise ValueError(f"arms {other} have no path on a 2-D function yet; trajectories take "
                                 "gd, sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam or adamw")
        net = info.data.get("net")
        if v.kind == "batch_size" and 1 in v.batch_sizes and net is not None and net.norm == "batch" \
                and net.kind == "mlp":
            raise ValueError("net.norm 'batch' needs batches of 2 or more; batch_sizes has 1")
        if v.kind == "batch_size" and arms is not None:
            full = [a.display() for a in arms if a.definition.full_batch]
            if full:
                raise ValueError(f"arms {full} always use the full batch; use 'sgd' or another "
                                 "mini-batch optimizer in a batch_size study")
        return v

    @field_validator("study")
    @classmethod
    def _paths_take_study_steps(cls, v: Study | None, info: ValidationInfo) -> Study | None:
        arms = info.data.get("arms")
        if v is not None and v.kind == "trajectories" and arms is not None:
            longer = [a.display() for a in arms if a.steps_factor != 1]
            if longer:  # every path takes study.steps: a factor would be silently ignored
                raise ValueError(f"arms {longer} set steps_factor, but every path of a trajectories "
                                 "study takes study.steps")
            wrapped = [a.display() for a in arms if a.sam is not None or a.lookahead is not None]
            if wrapped:  # the 2-D paths step the bare rules: a wrapper would be silently ignored
                raise ValueError(f"arms {wrapped} set sam or lookahead, which trajectories do not "
                                 "apply; compare them in a training job")
        return v

    def variants(self) -> list[int | None]:
        """Data variants of every (arm, seed): folds, bootstrap resamples, or just the data."""
        if self.study is not None and self.study.kind == "cross_validation":
            return list(range(self.study.folds))
        if self.study is not None and self.study.kind == "bias_variance":
            return list(range(self.study.resamples + 1))  # the last one is the whole split
        return [None]

    def runs(self) -> list[RunPlan]:
        """Every (arm, variant, seed), numbered arm-major. Without variants,
        run = arm * len(seeds) + seed_pos. A bias_variance replicate b trains from seed + b."""
        out = []
        bootstrap = self.study is not None and self.study.kind == "bias_variance"
        for a, arm in enumerate(self.arms):
            bs = self.batch_size_of(arm)
            for v in self.variants():
                for s, seed in enumerate(self.seeds):
                    out.append(RunPlan(index=len(out), arm=a, seed=seed + v if bootstrap else seed,
                                       seed_pos=s, batch_size=bs, variant=v))
        return out

    def steps_for(self, batch_size: int, n_train: int, arm: ArmBase | None = None) -> int:
        """Steps of a run with this effective batch size: ``train.steps``, or the examples budget,
        times ``arm``'s steps_factor."""
        factor = 1 if arm is None else arm.steps_factor
        if self.train.examples is None:
            return self.train.steps * factor
        return max(1, -(-self.train.examples // min(max(batch_size, 1), n_train))) * factor

    def batch_size_of(self, arm: ArmBase) -> int:
        if arm.definition.full_batch:
            return 0  # 0 means the whole training split, resolved by the trainer
        return self.train.batch_size if arm.batch_size is None else arm.batch_size


def _check_values(arm: ArmBase, name: str, values: list[float]) -> None:
    """Each grid value must be one the arm's optimizer accepts, e.g. momentum in [0, 1)."""
    from pydantic import ValidationError

    for value in values:
        try:
            type(arm).model_validate(arm.model_dump() | {name: value})
        except ValidationError as exc:
            msg = exc.errors(include_url=False)[0]["msg"]
            raise ValueError(f"grid '{name}' value {value:g} is out of range for arm "
                             f"{arm.display()}: {msg}") from None


class RunPlan(Strict):
    index: int
    arm: int
    seed: int
    seed_pos: int
    batch_size: int
    variant: int | None = None
