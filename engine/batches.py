"""Batch order: a pure function of (seed, batch size, epoch), so it needs no RNG state.

Every run with the same seed and batch size reads the same stream, whatever its
optimizer; a resumed run picks up at its step with nothing to restore. Epochs are
shuffled without replacement and drop the last partial batch; a batch size of 0
(or one >= the training set) means full-batch gradient descent. ``CohortBatches``
gathers the batches of a cohort's K runs, each from its own seed's stream.
"""

from __future__ import annotations

import hashlib

import torch

from engine.tasks import Split


def _epoch_seed(seed: int, batch_size: int, epoch: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{batch_size}:{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class BatchStream:
    """Indices into the training split for one (seed, batch size)."""

    def __init__(self, seed: int, batch_size: int, n_train: int):
        self.full = batch_size <= 0 or batch_size >= n_train
        self.batch_size = n_train if self.full else batch_size
        self.seed, self.n = seed, n_train
        self.steps_per_epoch = 1 if self.full else n_train // batch_size
        self._cached: tuple[int, torch.Tensor] | None = None

    def epoch(self, e: int) -> torch.Tensor:
        """(steps_per_epoch, batch_size) int64 indices for epoch ``e``."""
        if self._cached is None or self._cached[0] != e:
            self._cached = (e, self._indices(e))
        return self._cached[1]

    def _indices(self, e: int) -> torch.Tensor:
        if self.full:
            return torch.arange(self.n).view(1, -1)
        g = torch.Generator().manual_seed(_epoch_seed(self.seed, self.batch_size, e))
        perm = torch.randperm(self.n, generator=g)
        return perm[: self.steps_per_epoch * self.batch_size].view(self.steps_per_epoch, -1)

    def digest(self, steps: int) -> str:
        """Hash of the first ``steps`` batches, in order: equal digests, equal batches."""
        h = hashlib.sha256(f"{self.n}:{self.batch_size}".encode())
        for e in range((steps + self.steps_per_epoch - 1) // self.steps_per_epoch):
            take = min(self.steps_per_epoch, steps - e * self.steps_per_epoch)
            # _indices, not epoch: hashing must not evict the epoch the trainer is reading.
            h.update(self._indices(e)[:take].to(torch.int64).numpy().tobytes())
        return h.hexdigest()


class CohortBatches:
    """Each run's batch at each step: rows of ``train`` picked by its seed's stream.

    ``rows`` (K, n_train): each run's own rows of ``train`` (folds, bootstrap resamples),
    or None when every run reads ``train`` as it is."""

    def __init__(self, train: Split, rows: torch.Tensor | None, seeds: list[int], run_seeds: list[int],
                 batch_size: int, n_train: int, device: torch.device):
        self.train, self.rows, self.device = train, rows, device
        self.streams = [BatchStream(s, batch_size, n_train) for s in seeds]
        self.stream_of_run = torch.tensor([seeds.index(s) for s in run_seeds], device=device)
        self.full = self.streams[0].full
        self.batch_size = self.streams[0].batch_size
        self._epoch, self._epoch_idx = -1, None
        self._digests: dict[int, str] = {}

    def at(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of 0-based ``step``: (K, B, ...) per run, or the shared split for a full batch."""
        tr, rows = self.train, self.rows
        if self.full:
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

    def digest(self, k: int, steps: int) -> str:
        """The digest of run k's stream over ``steps`` steps."""
        stream = self.streams[int(self.stream_of_run[k])]
        # One digest per stream, not per run: it regenerates every epoch of the run.
        if stream.seed not in self._digests:
            self._digests[stream.seed] = stream.digest(steps)
        return self._digests[stream.seed]


def weights_digest(flat: torch.Tensor) -> str:
    """Hash of a flat float64 weight vector: equal digests, bit-identical weights."""
    return hashlib.sha256(flat.detach().to("cpu", torch.float64).contiguous().numpy().tobytes()).hexdigest()
