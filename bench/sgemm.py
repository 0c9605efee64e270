"""This machine's float32 matrix-product rate: the peak that FLOP bounds in the README divide by.

    .venv/bin/python bench/sgemm.py      # best of 10 products of two 2,048 x 2,048 matrices
"""

import time

import torch

N = 2048


def main() -> None:
    a, b = torch.randn(N, N), torch.randn(N, N)
    for _ in range(3):  # warm-up
        a @ b
    times = []
    for _ in range(10):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    print(f"{2 * N**3 / min(times) / 1e9:.0f} GFLOP/s, {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
