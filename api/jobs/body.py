"""The body of POST /jobs as the OpenAPI schema states it: a full spec, or a preset with
overrides, each beside the job's labels and webhook.

The models are built from the ones that validate a request (engine.spec, core.labels,
core.webhooks), so the schema says what the validation checks, per optimizer and per field.
The route still reads the body with core.requests: plugin optimizers are only known while a
worker offers them, and the errors keep the paths the caller wrote (``overrides.train.steps``).
"""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field, PlainValidator, create_model
from pydantic.fields import FieldInfo

from core.labels import Labels
from core.webhooks import Notify
from engine.presets import DESCRIPTIONS, PRESETS
from engine.spec import ComparisonSpec
from engine.strict import Strict

_EXTRAS: dict[str, Any] = {name: (f.annotation, f) for name, f in Labels.model_fields.items()} | {
    "notify": (Notify | None, Field(None, description="POST the job's end to this URL, signed with the "
                                    "secret (see the README's webhooks)")),
}


def _override(f: FieldInfo) -> tuple[Any, FieldInfo]:
    """A field of an override: optional, with no default in the schema (leaving it out keeps the
    preset's value, or the default where the preset has none), and an object merged into the
    preset's is itself an override."""
    extra = f.json_schema_extra

    def schema(s: dict[str, Any]) -> None:
        if isinstance(extra, dict):
            s.update(extra)
        elif callable(extra):
            extra(s)  # type: ignore[call-arg]
        s.pop("default", None)

    return _merged(f.annotation), FieldInfo.merge_field_infos(f, default=None, json_schema_extra=schema)


def _merged(annotation: Any) -> Any:
    """A spec model (or one beside None) as its override, a study as an override of any kind
    (engine/presets.py: merged into the preset's study of its kind); a list as it is, since it
    replaces the preset's whole."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return overrides_of(annotation)
    if get_origin(annotation) is Annotated:  # a tagged union: each member's override, tag optional
        return _merged(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return Union[tuple(_merged(a) for a in get_args(annotation))]  # noqa: UP007
    return annotation


def overrides_of(model: type[BaseModel], name: str | None = None, doc: str | None = None) -> type[Strict]:
    """``model`` as an override of a preset's value: every field optional and without default."""
    fields = {key: _override(f) for key, f in model.model_fields.items()}
    return create_model(name or f"{model.__name__}Override", __base__=Strict,
                        __doc__=doc or model.__doc__, **fields)


SpecSubmission = create_model(
    "SpecSubmission", __base__=ComparisonSpec,
    __doc__="A full comparison spec: every arm trained from every seed. Omitted fields take their "
            "defaults.", **_EXTRAS)

SpecOverrides = overrides_of(
    ComparisonSpec, "SpecOverrides",
    "Fields of a spec that replace the preset's. An object is merged into the preset's field by field, "
    "a study into the preset's study of the same kind (one without `kind` into the preset's own, which "
    "the preset must then have); a list, or a study of another kind, replaces the preset's whole.")

PresetSubmission = create_model(
    "PresetSubmission", __base__=Strict,
    __doc__="A named preset (GET /presets) with some of its fields overridden.",
    preset=(Literal[tuple(PRESETS)], Field(description="a preset's name (GET /presets)")),  # type: ignore[valid-type]
    overrides=(SpecOverrides | None, Field(None, description="fields that replace the preset's")),
    **_EXTRAS)


def _as_sent(body: Any) -> Any:
    return body  # core.requests reads it (see the module's docstring)


# The route's body: typed in the schema, passed on as the decoded JSON.
JobSubmission = Annotated[Any, PlainValidator(_as_sent,
                                              json_schema_input_type=SpecSubmission | PresetSubmission)]


def _preset_example(name: str) -> dict[str, Any]:
    value: dict[str, Any] = {"preset": name}
    if name == "seed-wave":
        value |= {"overrides": {"train": {"steps": 500}}, "name": "seed wave, 500 steps",
                  "tags": ["baseline", "wave"]}
    return {"summary": f"The preset {name}", "description": DESCRIPTIONS.get(name, ""), "value": value}


EXAMPLES: dict[str, dict[str, Any]] = {name: _preset_example(name) for name in PRESETS} | {
    "spec": {
        "summary": "A full spec",
        "description": "Every field of a comparison spec; omitted fields take their defaults.",
        "value": {
            "task": {"name": "wave", "n": 2000},
            "net": {"hidden": [32, 32], "activation": "tanh"},
            "arms": [{"optimizer": "sgd", "lr": 0.01}, {"optimizer": "adam", "lr": 0.01, "beta2": 0.99}],
            "seeds": [0, 1],
            "train": {"steps": 300, "batch_size": 64, "eval_every": 50},
            "name": "sgd against adam",
        },
    },
}
