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
from engine.spec import ComparisonSpec, RunPlan
from engine.tasks import Split, TaskData

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


class Cohort:
    """Runs sharing one batch size; the unit the service shards a job into."""

    def __init__(self, spec: ComparisonSpec, runs: list[RunPlan], data: TaskData,
                 device: torch.device, dtype: torch.dtype):
        assert runs and len({r.batch_size for r in runs}) == 1, "a cohort has one batch size"
        self.spec, self.runs, self.data = spec, runs, data
        self.K, self.steps = len(runs), spec.train.steps
        self.device, self.dtype = device, dtype
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
        n_train = data.train.x.shape[0]
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
        self._all = data.all()
        self.reg = None
        if spec.regularization is not None and spec.regularization.active():
            from engine.regularizers import Regularizers  # it imports this module

            self.reg = Regularizers(spec.regularization, self)

    def _arm_blocks(self) -> list[_ArmBlock]:
        blocks, start = [], 0
        for k in range(1, self.K + 1):
            if k == self.K or self.runs[k].arm != self.runs[start].arm:
                arm = self.spec.arms[self.runs[start].arm]
                rows = slice(start, k)
                blocks.append(_ArmBlock(rows, self.runs[start].arm,
                                        Stepper(arm.optimizer, arm.hyperparams(), self.P[rows])))
                start = k
        return blocks

    # -- data -------------------------------------------------------------------------

    def _batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        tr = self.data.train
        if self.full_batch:
            return tr.x, tr.y  # shared by all runs; broadcast in the forward
        e, j = divmod(step, self.streams[0].steps_per_epoch)
        if e != self._epoch:
            per_stream = torch.stack([s.epoch(e) for s in self.streams]).to(self.device)
            self._epoch, self._epoch_idx = e, per_stream[self.stream_of_run]  # (K, spe, B)
        idx = self._epoch_idx[:, j]  # (K, B)
        return tr.x[idx], tr.y[idx]

    # -- one step ---------------------------------------------------------------------

    def _lr(self, block: _ArmBlock, step: int) -> float:
        arm = self.spec.arms[block.arm]
        return arm.lr * arm.schedule.factor(step, self.steps)

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
        vals = {f"val_{k}": v for k, v in self.evaluate(self.data.val).items()}
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
            for k, r in enumerate(self.runs):
                on_event(RunFinished(r.index, self.summary(k)))
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
                          self.init_hash[r.seed], self._batch_hash(stream))

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
            extra = {"lr": self._lr(self._block_of(k), n - 1), "examples_seen": n * self.batch_size,
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

    def summary(self, k: int) -> dict[str, object]:
        P = self.final_weights()[k : k + 1]
        bufs = [b[k : k + 1] for b in self.final_buffers()]
        full = {name: self.evaluate(split, P, bufs) for name, split in
                (("train", self.data.train), ("val", self.data.val), ("test", self.data.test),
                 ("all", self._all))}
        get = {f"{s}_{m}": float(v[0]) for s, res in full.items() for m, v in res.items()}
        diverged = self.stopped[k] == "diverged"
        out: dict[str, object] = {
            "diverged": diverged,
            "stopped": self.stopped[k],
            "steps_trained": self.stop_step[k] if self.stopped[k] else self.step,
            "final_train_loss": get["train_loss"],
            "final_val_loss": get["val_loss"],
            "final_test_loss": get["test_loss"],
            "full_data_loss": get["all_loss"],
            "best_val_loss": self.best_val[k] if math.isfinite(self.best_val[k]) else None,
            "best_step": self.best_step[k] or None,
            "generalization_gap": get["test_loss"] - get["train_loss"],
            "steps_to_target": self.target_step[k],
            "wall_time": self.elapsed,
        }
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
