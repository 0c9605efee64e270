"""The models a job may train as ``net: {"kind": "module", "model": ..., "config": {...}}``.

Plain data (no torch): the API validates a spec's model and its settings with it, and counts
its parameters for the limits. A worker builds the model with ``factory`` (engine/modules.py):
a plain ``nn.Module`` that the cohort trainer runs K times at once through ``torch.func``
(engine/functional_net.py).

A token model (``tokens``) embeds integer ids, so its embedding needs the task's vocabulary:
that is its ``vocab`` setting, which spec validation fills in from the task table
(``with_vocab``). The stored spec then says it, and the parameter count, the limits and the
module all read it from the config, like any other setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from engine.optimizer_defs import HParam, hparam_field, hparam_from_json, hparam_json

# (C, H, W) for images, (features,) for rows: the shape one example has when the model sees it.
InputShape = tuple[int, ...]


@dataclass(frozen=True)
class ModelDef:
    name: str
    title: str
    factory: str  # "module:function": ``(input_shape, out_dim, **config) -> nn.Module``
    config: tuple[HParam, ...]
    # Parameters, without torch. None for a plugin: the API cannot import it, so the worker
    # counts the built module against the same limits (worker/model_limits.py).
    count: Callable[[dict[str, Any], InputShape, int], int] | None
    doc: str = ""
    images: bool = False  # it needs an image task (its input is (C, H, W))
    batch_norm: bool = False  # it keeps running statistics (SAM and batches of one refuse it)
    tokens: bool = False  # it reads integer token ids and needs a token task (its ``vocab`` setting)
    # Rules between settings, beyond each one's range: "setting: why" for a bad config, else None.
    check: Callable[[dict[str, Any]], str | None] | None = None
    plugin: bool = False  # from an installed package's entry point (engine/plugins.py)
    distribution: str = "optarena"  # the package that provides ``factory`` (its version is published)

    def settings(self, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` checked against the model's settings, with every default filled in;
        ValueError naming the setting otherwise."""
        try:
            values = _config_model(self).model_validate(config).model_dump()
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"])
            raise ValueError(f"{where}: {e['msg']} (model {self.name!r} takes "
                             f"{', '.join(h.name for h in self.config) or 'no settings'})") from None
        problem = self.check(values) if self.check is not None else None
        if problem:
            raise ValueError(f"{problem} (model {self.name!r})")
        return values

    def with_vocab(self, config: dict[str, Any], vocab: int) -> dict[str, Any]:
        """A token model's settings on a task whose ids run from 0 to ``vocab`` - 1: ``vocab``
        filled in, or refused when the config names another vocabulary."""
        given = config.get("vocab", 0)
        if given not in (0, vocab):
            raise ValueError(f"config.vocab: {given} is not the task's vocabulary of {vocab} tokens; "
                             "leave it out and the task's is filled in")
        return config | {"vocab": vocab}


@dataclass(frozen=True)
class ModelPlugin:
    """What a plugin package exports under the entry-point group ``optarena.models``.

    ``factory`` is a module-level function (or class) ``(input_shape, out_dim, **config) ->
    nn.Module``: ``input_shape`` is ``(features,)``, or ``(C, H, W)`` when ``images`` is set;
    either way the module's forward receives flat rows ``(B, features)`` (an image model views
    them as images itself) and returns ``(B, out_dim)``. It receives every setting of
    ``config`` by name. The module must build its parameters from torch's global generator
    (as torch's layers do): the engine seeds it per seed, so all arms of a seed start equal.
    ``batch_norm``: the module keeps running statistics in buffers (SAM then refuses it)."""

    name: str
    factory: Callable[..., Any]
    config: tuple[HParam, ...] = ()
    title: str = ""
    doc: str = ""
    images: bool = False
    batch_norm: bool = False


_CONFIG_MODELS: dict[tuple[Any, ...], type[BaseModel]] = {}


def _config_model(d: ModelDef) -> type[BaseModel]:
    key = (d.name, d.factory, d.config)
    if key not in _CONFIG_MODELS:
        fields: dict[str, Any] = {h.name: hparam_field(h) for h in d.config}
        _CONFIG_MODELS[key] = create_model(f"{d.name}-config", __config__=ConfigDict(extra="forbid"),
                                           **fields)
    return _CONFIG_MODELS[key]


def _resnet_count(c: dict[str, Any], shape: InputShape, out: int) -> int:
    ch, blocks = c["channels"], c["blocks"]
    stem = ch * shape[0] * 9 + 2 * ch  # conv without bias, batch norm's weight and bias
    block = 2 * (ch * ch * 9 + 2 * ch)
    return stem + blocks * block + ch * out + out


def _dense_count(dims: list[int]) -> int:
    """Weights and biases of Linear layers from dims[0] through to dims[-1]."""
    return sum(i * o + o for i, o in zip(dims[:-1], dims[1:], strict=True))


def _mlp_count(c: dict[str, Any], shape: InputShape, out: int) -> int:
    return _dense_count([shape[0], *[c["width"]] * c["depth"], out])


def _autoencoder_count(c: dict[str, Any], shape: InputShape, out: int) -> int:
    return _dense_count([shape[0], c["width"], c["bottleneck"], c["width"], out])


def _transformer_count(c: dict[str, Any], shape: InputShape, out: int) -> int:
    d, ff = c["d_model"], c["ff"]
    # two layer norms, the q/k/v and output projections, the two feed-forward layers
    block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * ff + ff) + (ff * d + d)
    embeddings = c["vocab"] * d + shape[0] * d  # one row per token id, one per position
    return embeddings + c["layers"] * block + 2 * d + d * out + out


def _transformer_check(c: dict[str, Any]) -> str | None:
    if c["d_model"] % c["heads"]:
        return f"heads: {c['heads']} must divide d_model ({c['d_model']}): each head takes an equal slice"
    return None


MODELS: dict[str, ModelDef] = {m.name: m for m in (
    ModelDef("resnet-mini", "ResNet (mini)", "engine.modules:resnet_mini",
             (HParam("channels", 16, 1, 128, doc="channels of every convolution"),
              HParam("blocks", 2, 1, 8, doc="residual blocks after the stem")),
             _resnet_count, images=True, batch_norm=True,
             doc="a 3x3 conv stem with batch norm and ReLU, residual blocks of two 3x3 convs with "
                 "batch norm, global average pooling and a linear head (He et al. 2016, scaled down "
                 "for 8x8 images)"),
    ModelDef("mlp", "MLP", "engine.modules:mlp",
             (HParam("width", 64, 1, 4096, doc="units of every hidden layer"),
              HParam("depth", 2, 1, 16, doc="hidden layers")),
             _mlp_count,
             doc="dense layers with tanh, as an nn.Sequential: the seed net, trained through "
                 "torch.func instead of the stacked MLP"),
    ModelDef("autoencoder", "MLP autoencoder", "engine.modules:autoencoder",
             (HParam("width", 64, 1, 4096, doc="units of the encoder's and the decoder's hidden layer"),
              HParam("bottleneck", 8, 1, 1024, doc="units of the code between encoder and decoder")),
             _autoencoder_count,
             doc="an encoder (Linear, tanh, Linear) down to a linear bottleneck and a decoder "
                 "(Linear, tanh, Linear) out to the task's outputs: on digits-reconstruct, whose "
                 "targets are the inputs, an autoencoder; elsewhere an MLP with a bottleneck"),
    ModelDef("transformer", "Transformer encoder", "engine.modules:transformer",
             (HParam("d_model", 32, 1, 512, doc="width of the token vectors"),
              HParam("heads", 2, 1, 16, doc="attention heads; must divide d_model"),
              HParam("layers", 2, 1, 8, doc="encoder blocks"),
              HParam("ff", 64, 1, 2048, doc="units of each block's feed-forward layer"),
              HParam("dropout", 0.0, 0.0, 1.0, high_open=True, doc="rate of the dropout on the embeddings "
                     "and on each block's attention and feed-forward outputs; masks drawn per seed, "
                     "shared by the seed's arms"),
              HParam("vocab", 0, 0, 65_536, doc="rows of the token embedding: the task's vocabulary, "
                     "filled in from the task (0 until then)")),
             _transformer_count, tokens=True, check=_transformer_check,
             doc="a token embedding plus a learned embedding per position, pre-norm encoder blocks "
                 "(multi-head self-attention, then a GELU feed-forward layer, each with a residual), "
                 "a final layer norm, mean pooling over the sequence and a linear head (Vaswani et al. "
                 "2017, scaled down), dropout on the embeddings and on each residual branch. Needs a "
                 "token task (tokens)"),
)}


def describe(d: ModelDef, version: str | None = None, workers: int | None = None) -> dict[str, Any]:
    """A model as GET /models lists it and as workers publish it (models/workers)."""
    out = {"name": d.name, "title": d.title, "description": d.doc, "needs_images": d.images,
           "needs_tokens": d.tokens, "batch_norm": d.batch_norm, "plugin": d.plugin,
           "factory": d.factory, "package": d.distribution, "version": version,
           "config": [hparam_json(h) for h in d.config]}
    return out if workers is None else out | {"workers": workers}


def from_description(x: dict[str, Any]) -> ModelDef:
    """The plugin model a worker published, as the API validates nets against it."""
    return ModelDef(x["name"], x["title"], x["factory"], tuple(hparam_from_json(h) for h in x["config"]),
                    None, doc=x["description"], images=x["needs_images"], batch_norm=x["batch_norm"],
                    plugin=True, distribution=x["package"])
