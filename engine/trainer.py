"""The vectorized trainer: a cohort of K runs with one batch size, trained in lockstep.

Shapes: P is (K, D), one row of D parameters per run. A step gathers a (K, B, in)
batch (each run's rows from its own seed's stream), runs one stacked forward and
one backward, then applies each arm's update rule to its contiguous block of rows
(engine/arm_blocks.py). Runs never mix: every op is per row, so a NaN in one run
cannot reach another. With ``spec.regularization`` set, the forward/backward goes
through engine/regularizers.py instead (its docstring says which randomness is shared);
batch norm's running statistics are per run, live in ``net.buffers`` and are
checkpointed. When each run stopped, and why, is kept by engine/tracker.py.

Device syncs happen only when metrics are flushed (every ``flush_seconds`` or at an
evaluation); between flushes losses stay on the device.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from engine import mlp_grad
from engine.arm_blocks import arm_blocks, block_of, evaluating
from engine.batches import CohortBatches, weights_digest
from engine.events import Event, MetricPoints, Progress, RunFinished, RunStarted
from engine.functional_net import FunctionalNet
from engine.losses import loss_per_run
from engine.mlp import row_blocks
from engine.nets import initial_weights, make_net
from engine.registry import package_version
from engine.regularizers import Regularizers, dropout_masks
from engine.sam import Sam
from engine.search_pruning import CohortPruning
from engine.spec import ComparisonSpec, RunPlan
from engine.studies.measures import finishing_measures, run_outputs
from engine.summary import run_summary
from engine.tasks import Split, TaskData
from engine.torch_stepper import TorchStepper
from engine.tracker import RunTracker
from engine.variants import DataView

# Gradients are views into one (K, D) buffer on purpose (StackedMLP.bind); for K > 1 torch's
# AccumulateGrad calls that a break of its gradient layout contract, a performance hint that
# does not apply here.
LAYOUT_WARNING = "grad and param do not obey the gradient layout contract"
EVAL_ELEMENTS = 1 << 24  # activations held at once by an evaluation: 64 MB in float32
# A cohort whose (runs, batch, width) activations are below torch's parallel grain (32,768
# elements) runs its large kernels on one thread anyway, while its small ones (batch gathers,
# an optimizer's foreach updates) pay a fork and join per call on several: at 5 seed-net runs,
# one thread stepped 15-25% faster than two (bench/engine.py --sizes 7 at both counts).
SERIAL_BELOW = 1 << 15


class Cohort:
    """Runs sharing one batch size; the unit the service shards a job into."""

    def __init__(self, spec: ComparisonSpec, runs: list[RunPlan], data: TaskData,
                 device: torch.device, dtype: torch.dtype, pruning: CohortPruning | None = None):
        assert runs and len({r.batch_size for r in runs}) == 1, "a cohort has one batch size"
        self.spec, self.runs = spec, runs
        self.device, self.dtype = device, dtype
        # Folds and bootstrap resamples: each run reads its own rows of the training pool.
        self.view = DataView.build(spec, runs, data, device)
        self.data = data = self.view.data
        n_train = self.view.n_train
        steps = {spec.steps_for(r.batch_size, n_train, spec.arms[r.arm]) for r in runs}
        assert len(steps) == 1, "a cohort trains one number of steps (design.plan_cohorts)"
        self.K, self.steps = len(runs), steps.pop()
        shape = (spec.net, data.in_dim, data.out_dim)
        self.net = make_net(*shape, data.image_shape)
        self.net.reset_buffers(self.K, device, dtype)

        inits = {s: initial_weights(*shape, s, data.image_shape) for s in {r.seed for r in runs}}
        self.init_hash = {s: weights_digest(w) for s, w in inits.items()}
        self.P = torch.stack([inits[r.seed] for r in runs]).to(device, dtype)  # (K, D)
        self.G = torch.zeros_like(self.P)  # gradients land here, row per run
        self.layers = self.net.bind(self.P, self.G)

        self.batches = self._batches()
        self.batch_size = self.batches.batch_size
        # A module's dropouts (engine/functional_net.SharedDropout): masks drawn every step.
        self.dropouts = self.net.dropout_shapes if isinstance(self.net, FunctionalNet) else []

        self.blocks = arm_blocks(spec, runs, self.P, self.G, self.net.layout)
        self.sam = Sam.build(spec, runs, device, dtype)
        clips = [spec.arms[r.arm].clip_grad_norm for r in runs]
        self.clip = None if all(c is None for c in clips) else torch.tensor(
            [c if c is not None else math.inf for c in clips], device=device, dtype=dtype)

        self.step = 0
        self._backward_done = False
        self.tracker = RunTracker(self.K, spec.train.early_stopping, spec.train.target_loss)
        # A search cohort's rungs: extra evaluations at which its poorer trials stop.
        self.pruning = pruning
        self.rungs = set(pruning.rungs(self.steps)) if pruning is not None else set()
        self.elapsed = 0.0
        self._all = self.view.all
        self.reg = self._regularizers()
        # The written-out step where it covers the net (engine/mlp_grad.py), else autograd.
        self.written_out = self.reg is None and mlp_grad.supports(self.net, data.kind)
        if self.written_out:  # plain views: its kernels need no autograd leaves
            self.plain_layers, self.grad_layers = self.net.views(self.P), self.net.views(self.G)

    # -- one step ---------------------------------------------------------------------

    def _run_lr(self, k: int, step: int) -> float:
        factor = block_of(self.blocks, k).schedule.factor(step, self.steps)
        return float(self.spec.arms[self.runs[k].arm].lr * factor)  # type: ignore[attr-defined]

    def train_step(self, step: int, log: bool, diag: bool) -> tuple[torch.Tensor | None, ...]:
        """One update of every run. Returns (losses if log, grad norms and update ratios if diag)."""
        x, y = self.batches.at(step)
        if not self.written_out:  # autograd adds into G; the written-out step overwrites it
            self.G.zero_()
        if self._backward_done:
            losses = self._forward_backward(step, x, y)
        else:
            # The layout warning is silenced around the first backward only: torch gives it once
            # per process, and whether a backward breaks the contract depends only on the views
            # bound at construction, so no later step can be the first to give it. A filter at
            # every step costs 3-8 us a step; one set at import changes every caller's filters.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=LAYOUT_WARNING)
                losses = self._forward_backward(step, x, y)
            self._backward_done = True
        if self.sam is not None:  # the gradient at w + e replaces it; the logged loss is at w
            with torch.no_grad():
                w = self.P.clone()  # restored by copy: w + e - e is not always w
                self.P.add_(self.sam.perturbation(self.P, self.G))
            self.G.zero_()
            self._forward_backward(step, x, y)
            with torch.no_grad():
                self.P.copy_(w)
        with torch.no_grad():
            P, G = self.P, self.G
            gnorm = G.norm(dim=1) if (diag or self.clip is not None) else None
            if self.clip is not None:
                # torch.nn.utils.clip_grad_norm_'s rule, with each run's own norm.
                G.mul_((self.clip / (gnorm + 1e-6)).clamp_(max=1.0).unsqueeze(1))
            before = P.clone() if diag else None
            for b in self.blocks:
                b.step(P, G, step, self.steps)
            ratio = (P - before).norm(dim=1) / before.norm(dim=1) if diag else None
        return (losses.detach() if log else None), (gnorm if diag else None), ratio

    def _forward_backward(self, step: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Every run's training loss (K,); gradients land in G."""
        masks = self._dropout_masks(step, x)
        if self.reg is not None:
            return self.reg.forward_backward(step, x, y, self.P, self.G, self.layers, masks)
        if self.written_out:
            return mlp_grad.forward_backward(self.net, self.plain_layers, self.grad_layers, x, y,
                                             self.data.kind)
        extra = {} if masks is None else {"masks": masks}
        losses = loss_per_run(self.data.kind, self.net.forward(self.layers, x, train=True, **extra), y)
        losses.sum().backward()  # rows are independent: d(sum)/d(run k) is run k's gradient
        return losses

    def _batches(self) -> CohortBatches:
        """Each run's batches, from its seed's stream."""
        runs = self.runs
        return CohortBatches(self.data.train, self.view.train_rows, sorted({r.seed for r in runs}),
                             [r.seed for r in runs], runs[0].batch_size, self.view.n_train, self.device)

    def _regularizers(self) -> Regularizers | None:
        reg = self.spec.regularization
        if reg is None or not reg.active():
            return None
        return Regularizers(reg, self.data, self.net, [st.seed for st in self.batches.streams],
                            self.batches.stream_of_run, self.batch_size, self.dtype, self.device)

    def _dropout_masks(self, step: int, x: torch.Tensor) -> list[torch.Tensor] | None:
        """A module's dropout masks for ``step`` (engine/functional_net.SharedDropout), or None."""
        if not self.dropouts:
            return None
        batch = x.shape[-2]  # (K, B, in), or (N, in) for a full batch shared by the runs
        return dropout_masks([st.seed for st in self.batches.streams], self.batches.stream_of_run,
                             self.batch_size, step, [((batch, *shape), p) for shape, p in self.dropouts],
                             self.dtype)

    # -- evaluation -------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, split: Split, P: torch.Tensor | None = None,
                 buffers: list[torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Eval-mode metrics; ``P`` and ``buffers`` (running statistics) default to the cohort's.

        Runs are evaluated in blocks of at most EVAL_ELEMENTS activations: a whole split
        through a thousand runs at once would hold gigabytes."""
        P = self.P if P is None else P
        buffers = self.net.buffers if buffers is None else buffers
        per_run = split.x.dim() == 3  # each run's own rows (folds, resamples), else shared
        parts = []
        for cut in row_blocks(P.shape[0], split.x.shape[-2] * self.net.width, EVAL_ELEMENTS):
            x, y = (split.x[cut], split.y[cut]) if per_run else (split.x, split.y)
            out = self.net.forward(self.net.views(P[cut]), x, buffers=[b[cut] for b in buffers])
            res = {"loss": loss_per_run(self.data.kind, out, y)}
            if self.data.kind == "classification":
                res["accuracy"] = (out.argmax(-1) == y).to(self.dtype).mean(1)
            parts.append(res)
        return {m: torch.cat([p[m] for p in parts]) for m in parts[0]}

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
        with self._threads():
            return self._train(on_event, should_stop, on_checkpoint, checkpoint_every, flush_seconds, until)

    @contextmanager
    def _threads(self) -> Iterator[None]:
        """One intra-op thread while a CPU cohort too small to split trains (SERIAL_BELOW);
        the caller's setting is restored after."""
        before = torch.get_num_threads()
        serial = (self.device.type == "cpu" and before > 1
                  and self.K * self.batch_size * self.net.width < SERIAL_BELOW)
        if serial:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if serial:
                torch.set_num_threads(before)

    def _train(self, on_event: Callable[[Event], None], should_stop: Callable[[], bool] | None,
               on_checkpoint: Callable[[int, bytes], None] | None, checkpoint_every: int,
               flush_seconds: float, until: int | None) -> bool:
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
            evaluate = n % tr.eval_every == 0 or last or n in self.rungs
            if evaluate or time.perf_counter() - last_flush > flush_seconds:
                self.elapsed = time.perf_counter() - t0
                self._flush(losses, diags, on_event)
                losses, diags, last_flush = [], [], time.perf_counter()
                if evaluate:
                    with evaluating(self.blocks):
                        self._evaluate_and_stop(n, on_event)
                    if n in self.rungs:
                        self._drop_stopped(on_event)
                on_event(Progress([r.index for r in self.runs], n, self.steps))
                if self.tracker.all_stopped():
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
        completed = not interrupted and (self.step == self.steps or self.tracker.all_stopped())
        if completed:
            with evaluating(self.blocks):
                outputs = run_outputs(self.spec.study, self.net, self.data, self.final_weights(),
                                      self.final_buffers())
                summaries = self.summaries()
            for k, (r, summary) in enumerate(zip(self.runs, summaries, strict=True)):
                on_event(RunFinished(r.index, summary, outputs[k]))
        return completed

    def _started(self, k: int, r: RunPlan) -> RunStarted:
        arm = self.spec.arms[r.arm]
        d = arm.definition
        return RunStarted(r.index, r.arm, arm.display(), arm.optimizer, r.seed, self.batch_size,
                          self.init_hash[r.seed], self.view.batch_hash(self.batches.digest(k, self.steps), k),
                          r.variant, d.distribution, package_version(d))

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
        # Whole matrices at once, not a tensor operation per run: at 1,000 runs a loop of them
        # cost 6 us per run-step (a flush every half second).
        first_bad: dict[int, int] = {}
        if losses:
            bad = ~torch.isfinite(series[0][2])  # (steps, K)
            for k in bad.any(0).nonzero().flatten().tolist():
                first_bad[k] = series[0][1][int(bad[:, k].nonzero()[0])]
        columns = [values.T.tolist() for _, _, values in series]  # per series, K lists of points
        for k, r in enumerate(self.runs):
            if self.tracker.stopped[k]:
                continue
            if k in first_bad:  # keep the first non-finite point; it is flagged downstream
                self._stop(k, first_bad[k], "diverged")
            limit = self.tracker.last_step(k, self.steps)
            for (name, steps, _), column in zip(series, columns, strict=True):
                end = bisect.bisect_right(steps, limit)
                if end:
                    on_event(MetricPoints(r.index, name, steps[:end], column[k][:end]))

    def _evaluate_and_stop(self, n: int, on_event: Callable[[Event], None]) -> None:
        point = self._eval_point(n)
        for k, r in enumerate(self.runs):
            if self.tracker.stopped[k]:
                continue
            extra = {"lr": self._run_lr(k, n - 1), "examples_seen": n * self.batch_size,
                     "wall_time": self.elapsed}
            row = {m: v[k] for m, v in point.items()} | extra
            for m, v in row.items():
                on_event(MetricPoints(r.index, m, [n], [v]))
            reason = self.tracker.observe(k, n, row["val_loss"])
            if reason is not None:
                self._stop(k, n, reason)
        if n in self.rungs:
            self._prune(n, point["val_loss"])

    def _prune(self, n: int, val_loss: list[float]) -> None:
        """At a rung: the trials still in the race rank by their mean validation loss over their
        runs, a run that is not training (diverged) counting as +inf; the poorer trials of every
        arm stop and leave the race. A diverged trial thus loses its first rung, as
        engine/search_pruning.cohort_steps counts it, so every arm spends the planned budget."""
        assert self.pruning is not None
        trial = [self.pruning.trial_of[r.arm] for r in self.runs]
        racing = self.tracker.racing
        losses: dict[tuple[int, int], list[float]] = {}
        for k in range(self.K):
            if racing[k]:
                running = self.tracker.stopped[k] is None and math.isfinite(val_loss[k])
                self.tracker.rung_losses[k][n] = val_loss[k] if running else math.inf
                losses.setdefault(trial[k], []).append(self.tracker.rung_losses[k][n])
        stop = self.pruning.to_stop({t: sum(v) / len(v) for t, v in losses.items()})
        for k in range(self.K):
            if trial[k] in stop:
                racing[k] = False
                if self.tracker.stopped[k] is None:
                    self._stop(k, n, "pruned")

    def _stop(self, k: int, step: int, reason: str) -> None:
        self.tracker.stop(k, step, reason, self.P, self.net.buffers)

    # -- results ----------------------------------------------------------------------

    def final_weights(self) -> torch.Tensor:
        return self.tracker.final_weights(self.P)

    def final_buffers(self) -> list[torch.Tensor]:
        """Running statistics as of each run's stop (or now), like ``final_weights``."""
        return self.tracker.final_buffers(self.net.buffers)

    @torch.no_grad()
    def summaries(self, rows: list[int] | None = None,
                  final: tuple[torch.Tensor, list[torch.Tensor]] | None = None) -> list[dict[str, object]]:
        """Every run's (or ``rows``') final numbers, from its final weights (one batched
        evaluation per split); ``final``: those rows' weights and buffers, if already taken."""
        rows = list(range(self.K)) if rows is None else rows
        P, bufs = final or self._final(rows)
        splits = (("train", self.view.train), ("val", self.view.val), ("test", self.data.test),
                  ("all", self._all))
        full = {name: {m: v.tolist() for m, v in self.evaluate(split, P, bufs).items()}
                for name, split in splits}
        extras = finishing_measures(self.spec.study, self.net, self.data, P, bufs)
        return [run_summary(k, {f"{s}_{m}": v[i] for s, res in full.items() for m, v in res.items()},
                            self.tracker, self.step, self.batch_size, self.elapsed,
                            self.view.baseline_val_loss[k], self.runs[k].variant, self.data.kind)
                | extras[i] for i, k in enumerate(rows)]

    def _final(self, rows: list[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        P, bufs = self.final_weights(), self.final_buffers()
        if rows == list(range(self.K)):
            return P, bufs
        idx = torch.tensor(rows, device=self.device)
        return P[idx], [b[idx] for b in bufs]

    # -- pruned rows leave the cohort -------------------------------------------------

    def _compactable(self) -> bool:
        """Rows can leave unless runs read rows of their own (folds, resamples)."""
        return self.view.train_rows is None

    def _drop_stopped(self, on_event: Callable[[Event], None]) -> None:
        """A search cohort after a rung: the runs that stopped finish now (their summaries from
        their weights at the stop) and their rows leave, so the cohort steps only the trials
        still racing. The others' rows, buffers and optimizer state move unchanged."""
        keep = [k for k in range(self.K) if self.tracker.stopped[k] is None]
        gone = [k for k in range(self.K) if self.tracker.stopped[k] is not None]
        if not gone or not keep or not self._compactable():
            return
        final = self._final(gone)
        outputs = run_outputs(self.spec.study, self.net, self.data, *final)
        for k, summary, out in zip(gone, self.summaries(gone, final), outputs, strict=True):
            on_event(RunFinished(self.runs[k].index, summary, out))
        self._keep_rows(keep)

    def _keep_rows(self, keep: list[int]) -> None:
        idx = torch.tensor(keep, device=self.device)
        where = {j: (b, j - b.rows.start) for b in self.blocks for j in range(b.rows.start, b.rows.stop)}
        self.runs = [self.runs[k] for k in keep]
        self.K = len(keep)
        with torch.no_grad():
            self.P = self.P[idx].contiguous()
            self.net.buffers = [b[idx].contiguous() for b in self.net.buffers]
        self.G = torch.zeros_like(self.P)
        self.layers = self.net.bind(self.P, self.G)
        if self.written_out:
            self.plain_layers, self.grad_layers = self.net.views(self.P), self.net.views(self.G)
        self.view = dataclasses.replace(self.view,
                                        baseline_val_loss=[self.view.baseline_val_loss[k] for k in keep],
                                        rows_digest=[self.view.rows_digest[k] for k in keep])
        self.batches = self._batches()
        blocks = arm_blocks(self.spec, self.runs, self.P, self.G, self.net.layout)
        for nb in blocks:
            olds = [where[keep[j]] for j in range(nb.rows.start, nb.rows.stop)]
            if isinstance(nb.stepper, TorchStepper):
                nb.stepper.adopt([(ob.stepper, i) for ob, i in olds])  # type: ignore[misc]
                continue
            state = {name: torch.stack([ob.stepper.state[name][i] for ob, i in olds])
                     for name in nb.stepper.state}
            nb.load_state_dict({"step": olds[0][0].stepper.step_count} | state)
        self.blocks = blocks
        if self.reg is not None:  # it carries nothing between steps: the kept rows' streams
            self.reg = self._regularizers()
        self.sam = Sam.build(self.spec, self.runs, self.device, self.dtype)
        if self.clip is not None:
            self.clip = self.clip[idx]
        self.tracker.keep(keep)

    # -- checkpoint -------------------------------------------------------------------

    def state_dict(self) -> dict[str, object]:
        return {
            "step": self.step, "P": self.P.cpu().clone(), "elapsed": self.elapsed,
            "optim": [b.state_dict() for b in self.blocks],
            "buffers": [b.cpu().clone() for b in self.net.buffers],
            "tracker": self.tracker.state_dict(),
            "runs": [r.index for r in self.runs],
        }

    def state_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        return buf.getvalue()

    def load_state_bytes(self, blob: bytes) -> None:
        # weights_only=True: tensors and plain containers only, never arbitrary objects.
        sd = torch.load(io.BytesIO(blob), weights_only=True, map_location=self.device)
        mine = [r.index for r in self.runs]
        if sd["runs"] != mine and set(sd["runs"]) < set(mine) and self.pruning is not None:
            # Saved after a rung: the pruned runs had finished and left; so they leave here.
            self._keep_rows([mine.index(r) for r in sd["runs"]])
        if sd["runs"] != [r.index for r in self.runs]:
            raise ValueError("checkpoint belongs to a different set of runs")
        with torch.no_grad():
            self.P.copy_(sd["P"])
            for b, saved in zip(self.net.buffers, sd["buffers"], strict=True):
                b.copy_(saved)
        for b, s in zip(self.blocks, sd["optim"], strict=True):
            b.load_state_dict(s)
        self.step, self.elapsed = int(sd["step"]), float(sd["elapsed"])
        self.tracker.load_state_dict(sd["tracker"], self.device)
