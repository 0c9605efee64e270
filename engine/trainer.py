"""The vectorized trainer: a cohort of K runs with one batch size, trained in lockstep.

Shapes: P is (K, D), one row of D parameters per run. A step gathers a (K, B, in)
batch (each run's rows from its own seed's stream), runs one stacked forward and
one backward, then applies each arm's update rule to its contiguous block of rows.
Runs never mix: every op is per row, so a NaN in one run cannot reach another.
With ``spec.regularization`` set, the forward/backward goes through
engine/regularizers.py instead (its docstring says which randomness is shared); batch
norm's running statistics are per run, live in ``net.buffers`` and are checkpointed.

Device syncs happen only when metrics are flushed (every ``flush_seconds`` or at an
evaluation); between flushes losses stay on the device.
"""

from __future__ import annotations

import bisect
import io
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.batches import BatchStream, weights_digest
from engine.events import Event, MetricChunk, Progress, RunFinished, RunStarted
from engine.nets import initial_weights, make_net
from engine.optimizers import Stepper
from engine.spec import ComparisonSpec, RunPlan, Schedule
from engine.tasks import Split, TaskData
from engine.variants import DataView, finishing_measures, run_outputs

TRAIN_METRICS = ("train_loss", "grad_norm", "update_ratio")

# Gradients are views into one (K, D) buffer on purpose (see StackedMLP.bind).
warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout contract")


def loss_per_run(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss of each run: out (K, B, C), y (K, B, 1) | (K, B) | shared (B, ...) -> (K,)."""
    K = out.shape[0]
    if kind == "regression":
        return (out - y).square().flatten(1).mean(1)
    y = y.expand(K, -1) if y.dim() == 1 else y
    return F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none").view(K, -1).mean(1)


@dataclass
class _ArmBlock:
    rows: slice
    arm: int
    stepper: Stepper
    lr: float | torch.Tensor  # one value, or (rows, 1) when the rows differ only in lr
    schedule: Schedule


class Cohort:
    """Runs sharing one batch size; the unit the service shards a job into."""

    def __init__(self, spec: ComparisonSpec, runs: list[RunPlan], data: TaskData,
                 device: torch.device, dtype: torch.dtype):
        assert runs and len({r.batch_size for r in runs}) == 1, "a cohort has one batch size"
        self.spec, self.runs = spec, runs
        self.device, self.dtype = device, dtype
        # Folds and bootstrap resamples: each run reads its own rows of the training pool.
        self.view = DataView.build(spec, runs, data, device)
        self.data = data = self.view.data
        n_train = self.view.n_train
        self.K, self.steps = len(runs), spec.steps_for(runs[0].batch_size, n_train)
        shape = (spec.net, data.in_dim, data.out_dim)
        self.net = make_net(*shape, data.image_shape)
        self.net.reset_buffers(self.K, device, dtype)

        inits = {s: initial_weights(*shape, s, data.image_shape) for s in {r.seed for r in runs}}
        self.init_hash = {s: weights_digest(w) for s, w in inits.items()}
        self._batch_hashes: dict[int, str] = {}
        self.P = torch.stack([inits[r.seed] for r in runs]).to(device, dtype)  # (K, D)
        self.G = torch.zeros_like(self.P)  # gradients land here, row per run
        self.layers = self.net.bind(self.P, self.G)

        seeds = sorted(inits)
        self.streams = [BatchStream(s, runs[0].batch_size, n_train) for s in seeds]
        self.stream_of_run = torch.tensor([seeds.index(r.seed) for r in runs], device=device)
        self.full_batch = self.streams[0].full
        self.batch_size = self.streams[0].batch_size
        self._epoch, self._epoch_idx = -1, None

        self.blocks = self._arm_blocks()
        clips = [spec.arms[r.arm].clip_grad_norm for r in runs]
        self.clip = None if all(c is None for c in clips) else torch.tensor(
            [c if c is not None else math.inf for c in clips], device=device, dtype=dtype)

        # Per-run bookkeeping (host side, updated at sync points only).
        self.step = 0
        self.stopped: list[str | None] = [None] * self.K  # reason once stopped
        self.stop_step = [0] * self.K
        self.best_val = [math.inf] * self.K
        self.best_step = [0] * self.K
        self.bad_evals = [0] * self.K
        self.target_step: list[int | None] = [None] * self.K
        self.last_eval: list[dict[str, float]] = [{} for _ in range(self.K)]
        self.frozen: dict[int, torch.Tensor] = {}  # weights of runs that stopped early
        self.frozen_buffers: dict[int, list[torch.Tensor]] = {}  # and their running statistics
        self.elapsed = 0.0
        self._all = self.view.all
        self.reg = None
        if spec.regularization is not None and spec.regularization.active():
            from engine.regularizers import Regularizers  # it imports this module

            self.reg = Regularizers(spec.regularization, self)

    def _arm_blocks(self) -> list[_ArmBlock]:
        """Contiguous rows whose arms differ at most in learning rate share one Stepper."""
        blocks, start = [], 0
        key = [self._rule_key(r.arm) for r in self.runs]
        for k in range(1, self.K + 1):
            if k == self.K or key[k] != key[start]:
                rows = slice(start, k)
                arms = [self.runs[j].arm for j in range(start, k)]
                arm = self.spec.arms[arms[0]]
                lrs = [float(self.spec.arms[a].lr) for a in arms]  # type: ignore[attr-defined]
                base = lrs[0] if len(set(lrs)) == 1 else torch.tensor(
                    lrs, device=self.device, dtype=self.dtype).unsqueeze(1)
                stepper = Stepper(arm.optimizer, arm.hyperparams(), self.P[rows])
                blocks.append(_ArmBlock(rows, arms[0], stepper,
                                        base, arm.schedule))
                start = k
        return blocks

    def _rule_key(self, a: int) -> str:
        arm = self.spec.arms[a]
        hp = {k: v for k, v in arm.hyperparams().items() if k != "lr"}
        return f"{arm.optimizer}|{sorted(hp.items())}|{arm.schedule!r}"

    # -- data -------------------------------------------------------------------------

    def _batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        tr, rows = self.data.train, self.view.train_rows
        if self.full_batch:
            if rows is not None:
                return tr.x[rows], tr.y[rows]  # (K, n, ...): each run's whole training set
            return tr.x, tr.y  # shared by all runs; broadcast in the forward
        e, j = divmod(step, self.streams[0].steps_per_epoch)
        if e != self._epoch:
            per_stream = torch.stack([s.epoch(e) for s in self.streams]).to(self.device)
            self._epoch, self._epoch_idx = e, per_stream[self.stream_of_run]  # (K, spe, B)
        idx = self._epoch_idx[:, j]  # (K, B)
        if rows is not None:
            idx = rows.gather(1, idx)
        return tr.x[idx], tr.y[idx]

    # -- one step ---------------------------------------------------------------------

    def _lr(self, block: _ArmBlock, step: int) -> float | torch.Tensor:
        return block.lr * block.schedule.factor(step, self.steps)

    def _run_lr(self, k: int, step: int) -> float:
        factor = self._block_of(k).schedule.factor(step, self.steps)
        return float(self.spec.arms[self.runs[k].arm].lr * factor)  # type: ignore[attr-defined]

    def train_step(self, step: int, log: bool, diag: bool) -> tuple[torch.Tensor | None, ...]:
        """One update of every run. Returns (losses if log, grad norms and update ratios if diag)."""
        x, y = self._batch(step)
        self.G.zero_()
        if self.reg is None:
            losses = loss_per_run(self.data.kind, self.net.forward(self.layers, x, train=True), y)
            losses.sum().backward()  # rows are independent: d(sum)/d(run k) is run k's gradient
        else:
            losses = self.reg.forward_backward(step, x, y)
        with torch.no_grad():
            P, G = self.P, self.G
            gnorm = G.norm(dim=1) if (diag or self.clip is not None) else None
            if self.clip is not None:
                # torch.nn.utils.clip_grad_norm_'s rule, with each run's own norm.
                G.mul_((self.clip / (gnorm + 1e-6)).clamp_(max=1.0).unsqueeze(1))
            before = P.clone() if diag else None
            for b in self.blocks:
                b.stepper.step(P[b.rows], G[b.rows], self._lr(b, step))
            ratio = (P - before).norm(dim=1) / before.norm(dim=1) if diag else None
        return (losses.detach() if log else None), (gnorm if diag else None), ratio

    # -- evaluation -------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, split: Split, P: torch.Tensor | None = None,
                 buffers: list[torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Eval-mode metrics; ``P`` and ``buffers`` (running statistics) default to the cohort's."""
        out = self.net.forward(self.net.views(self.P if P is None else P), split.x, buffers=buffers)
        res = {"loss": loss_per_run(self.data.kind, out, split.y)}
        if self.data.kind == "classification":
            res["accuracy"] = (out.argmax(-1) == split.y).to(self.dtype).mean(1)
        return res

    def _eval_point(self, step: int) -> dict[str, list[float]]:
        """Validation/test metrics at ``step`` for every run (one sync)."""
        vals = {f"val_{k}": v for k, v in self.evaluate(self.view.val).items()}
        vals.update({f"test_{k}": v for k, v in self.evaluate(self.data.test).items()})
        return {k: v.cpu().tolist() for k, v in vals.items()}

    # -- the loop ---------------------------------------------------------------------

    def train(self, on_event: Callable[[Event], None], *,
              should_stop: Callable[[], bool] | None = None,
              on_checkpoint: Callable[[int, bytes], None] | None = None,
              checkpoint_every: int = 0, flush_seconds: float = 0.5, until: int | None = None) -> bool:
        """Train to the end, or to step ``until``, or until ``should_stop`` says so.

        Returns True once every run has finished; a later call continues where this
        one left off (that is also how a checkpoint resumes)."""
        tr = self.spec.train
        for k, r in enumerate(self.runs):  # also on resume: a consumer may be new
            on_event(self._started(k, r))
        losses: list[tuple[int, torch.Tensor]] = []  # (step, (K,) losses), still on the device
        diags: list[tuple[int, torch.Tensor, torch.Tensor]] = []
        t0, last_flush = time.perf_counter() - self.elapsed, time.perf_counter()
        last_checkpoint, interrupted = self.step, False
        for step in range(self.step, self.steps if until is None else min(until, self.steps)):
            n = step + 1
            last = n == self.steps
            loss, gnorm, ratio = self.train_step(step, n % tr.log_every == 0 or last,
                                                 n % tr.diag_every == 0 or last)
            self.step = n
            if loss is not None:
                losses.append((n, loss))
            if ratio is not None:
                diags.append((n, gnorm, ratio))
            evaluate = n % tr.eval_every == 0 or last
            if evaluate or time.perf_counter() - last_flush > flush_seconds:
                self.elapsed = time.perf_counter() - t0
                self._flush(losses, diags, on_event)
                losses, diags, last_flush = [], [], time.perf_counter()
                if evaluate:
                    self._evaluate_and_stop(n, on_event)
                on_event(Progress([r.index for r in self.runs], n, self.steps))
                if all(self.stopped):
                    break
                # Only at a flush: everything up to ``n`` has been emitted before it is saved.
                if on_checkpoint and checkpoint_every and n - last_checkpoint >= checkpoint_every \
                        and not last:
                    on_checkpoint(n, self.state_bytes())
                    last_checkpoint = n
            if should_stop is not None and n % 8 == 0 and should_stop():
                interrupted = True
                break
        self.elapsed = time.perf_counter() - t0
        self._flush(losses, diags, on_event)
        completed = not interrupted and (self.step == self.steps or all(self.stopped))
        if completed:
            outputs = run_outputs(self)
            for k, (r, summary) in enumerate(zip(self.runs, self.summaries(), strict=True)):
                on_event(RunFinished(r.index, summary, outputs[k]))
        return completed

    def _batch_hash(self, stream: BatchStream) -> str:
        # One digest per stream, not per run: it regenerates every epoch of the run.
        if stream.seed not in self._batch_hashes:
            self._batch_hashes[stream.seed] = stream.digest(self.steps)
        return self._batch_hashes[stream.seed]

    def _started(self, k: int, r: RunPlan) -> RunStarted:
        arm = self.spec.arms[r.arm]
        stream = self.streams[int(self.stream_of_run[k])]
        return RunStarted(r.index, r.arm, arm.display(), arm.optimizer, r.seed, self.batch_size,
                          self.init_hash[r.seed], self.view.batch_hash(self._batch_hash(stream), k),
                          r.variant)

    def _flush(self, losses: list[tuple[int, torch.Tensor]],
               diags: list[tuple[int, torch.Tensor, torch.Tensor]],
               on_event: Callable[[Event], None]) -> None:
        """Move buffered points to the host (the only sync between evaluations) and emit them."""
        series = []
        if losses:
            series.append(("train_loss", [n for n, _ in losses], torch.stack([v for _, v in losses]).cpu()))
        if diags:
            steps = [n for n, _, _ in diags]
            series.append(("grad_norm", steps, torch.stack([g for _, g, _ in diags]).cpu()))
            series.append(("update_ratio", steps, torch.stack([r for _, _, r in diags]).cpu()))
        for k, r in enumerate(self.runs):
            if self.stopped[k]:
                continue
            if losses:
                bad = (~torch.isfinite(series[0][2][:, k])).nonzero()
                if len(bad):  # keep the first non-finite point; it is flagged downstream
                    self._stop(k, series[0][1][int(bad[0])], "diverged")
            limit = self.stop_step[k] if self.stopped[k] else self.steps
            for name, steps, values in series:
                end = bisect.bisect_right(steps, limit)
                if end:
                    on_event(MetricChunk(r.index, name, steps[:end], values[:end, k].tolist()))

    def _evaluate_and_stop(self, n: int, on_event: Callable[[Event], None]) -> None:
        point = self._eval_point(n)
        es, target = self.spec.train.early_stopping, self.spec.train.target_loss
        for k, r in enumerate(self.runs):
            if self.stopped[k]:
                continue
            extra = {"lr": self._run_lr(k, n - 1), "examples_seen": n * self.batch_size,
                     "wall_time": self.elapsed}
            row = {m: v[k] for m, v in point.items()} | extra
            for m, v in row.items():
                on_event(MetricChunk(r.index, m, [n], [v]))
            self.last_eval[k] = row
            val = row["val_loss"]
            if not math.isfinite(val):
                self._stop(k, n, "diverged")
                continue
            if target is not None and self.target_step[k] is None and val <= target:
                self.target_step[k] = n
            if val < self.best_val[k] - (es.min_delta if es else 0.0):
                self.best_val[k], self.best_step[k], self.bad_evals[k] = val, n, 0
            else:
                self.bad_evals[k] += 1
                if es and self.bad_evals[k] >= es.patience:
                    self._stop(k, n, "early_stopped")

    def _block_of(self, k: int) -> _ArmBlock:
        return next(b for b in self.blocks if b.rows.start <= k < b.rows.stop)

    def _stop(self, k: int, step: int, reason: str) -> None:
        self.stopped[k], self.stop_step[k] = reason, step
        # The row keeps being stepped with the others (cheaper than masking every
        # step); its weights as of now are kept for the summary.
        self.frozen[k] = self.P[k].clone()
        self.frozen_buffers[k] = [b[k].clone() for b in self.net.buffers]

    # -- results ----------------------------------------------------------------------

    def final_weights(self) -> torch.Tensor:
        P = self.P.clone()
        for k, w in self.frozen.items():
            P[k] = w
        return P

    def final_buffers(self) -> list[torch.Tensor]:
        """Running statistics as of each run's stop (or now), like ``final_weights``."""
        out = [b.clone() for b in self.net.buffers]
        for k, saved in self.frozen_buffers.items():
            for b, s in zip(out, saved, strict=True):
                b[k] = s
        return out

    @torch.no_grad()
    def summaries(self) -> list[dict[str, object]]:
        """Every run's final numbers, from its final weights (one batched evaluation per split)."""
        P, bufs = self.final_weights(), self.final_buffers()
        splits = (("train", self.view.train), ("val", self.view.val), ("test", self.data.test),
                  ("all", self._all))
        full = {name: {m: v.tolist() for m, v in self.evaluate(split, P, bufs).items()}
                for name, split in splits}
        extras = finishing_measures(self, P)
        return [self._summary(k, {f"{s}_{m}": v[k] for s, res in full.items() for m, v in res.items()})
                | extras[k] for k in range(self.K)]

    def _summary(self, k: int, get: dict[str, float]) -> dict[str, object]:
        diverged = self.stopped[k] == "diverged"
        steps = self.stop_step[k] if self.stopped[k] else self.step
        out: dict[str, object] = {
            "diverged": diverged,
            "stopped": self.stopped[k],
            "steps_trained": steps,
            "examples_seen": steps * self.batch_size,
            "final_train_loss": get["train_loss"],
            "final_val_loss": get["val_loss"],
            "final_test_loss": get["test_loss"],
            "full_data_loss": get["all_loss"],
            "best_val_loss": self.best_val[k] if math.isfinite(self.best_val[k]) else None,
            "best_step": self.best_step[k] or None,
            "generalization_gap": get["test_loss"] - get["train_loss"],
            "steps_to_target": self.target_step[k],
            "wall_time": self.elapsed,
            "baseline_val_loss": self.view.baseline_val_loss[k],
        }
        if self.runs[k].variant is not None:
            out["variant"] = self.runs[k].variant
        if self.data.kind == "classification":
            out.update({f"final_{s}_accuracy": get[f"{s}_accuracy"] for s in ("train", "val", "test")})
        return out

    # -- checkpoint -------------------------------------------------------------------

    def state_dict(self) -> dict[str, object]:
        return {
            "step": self.step, "P": self.P.cpu().clone(), "elapsed": self.elapsed,
            "optim": [b.stepper.state_dict() for b in self.blocks],
            "stopped": [s or "" for s in self.stopped], "stop_step": self.stop_step,
            "best_val": self.best_val, "best_step": self.best_step, "bad_evals": self.bad_evals,
            "target_step": [-1 if t is None else t for t in self.target_step],
            "frozen": {str(k): w.cpu() for k, w in self.frozen.items()},
            "buffers": [b.cpu().clone() for b in self.net.buffers],
            "frozen_buffers": {str(k): [b.cpu() for b in bs] for k, bs in self.frozen_buffers.items()},
            "runs": [r.index for r in self.runs],
        }

    def state_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        return buf.getvalue()

    def load_state_bytes(self, blob: bytes) -> None:
        # weights_only=True: tensors and plain containers only, never arbitrary objects.
        sd = torch.load(io.BytesIO(blob), weights_only=True, map_location=self.device)
        if sd["runs"] != [r.index for r in self.runs]:
            raise ValueError("checkpoint belongs to a different set of runs")
        with torch.no_grad():
            self.P.copy_(sd["P"])
            for b, saved in zip(self.net.buffers, sd.get("buffers", []), strict=True):
                b.copy_(saved)
        for b, s in zip(self.blocks, sd["optim"], strict=True):
            b.stepper.load_state_dict(s)
        self.step, self.elapsed = int(sd["step"]), float(sd["elapsed"])
        self.stopped = [s or None for s in sd["stopped"]]
        self.stop_step, self.best_val = list(sd["stop_step"]), list(sd["best_val"])
        self.best_step, self.bad_evals = list(sd["best_step"]), list(sd["bad_evals"])
        self.target_step = [None if t < 0 else t for t in sd["target_step"]]
        self.frozen = {int(k): w.to(self.device) for k, w in sd["frozen"].items()}
        self.frozen_buffers = {int(k): [b.to(self.device) for b in bs]
                               for k, bs in sd.get("frozen_buffers", {}).items()}
