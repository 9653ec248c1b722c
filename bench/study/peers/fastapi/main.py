"""The study's Python peer: GET /api/matmul, /api/health and /api/compute on FastAPI (served
by uvicorn), answering as examples/matmul and examples/fastserve do.

`kernel=naive` (the `fastapi` system) is the i-k-j loop in pure Python, as every peer writes
it; `kernel=numpy` (the `fastapi-numpy` system, a separate row in the study) multiplies with
NumPy's BLAS-backed `@`.

    uvicorn --host 127.0.0.1 --port 3006 main:app
"""

import time

import numpy
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse

MAX_N = 5000

app = FastAPI()


def bad_request(message):
    return JSONResponse({"error": message, "status": 400}, status_code=400)


def matmul_naive(n):
    a = [[float((31 * i + 17 * j) % 100) for j in range(n)] for i in range(n)]
    b = [[float((13 * i + 7 * j) % 100) for j in range(n)] for i in range(n)]
    c = [[0.0] * n for _ in range(n)]
    for i in range(n):
        a_row, c_row = a[i], c[i]
        for k in range(n):
            a_ik, b_row = a_row[k], b[k]
            for j in range(n):
                c_row[j] += a_ik * b_row[j]
    return sum(sum(row) for row in c)


def matmul_numpy(n):
    i, j = numpy.indices((n, n))
    a = ((31 * i + 17 * j) % 100).astype(numpy.float64)
    b = ((13 * i + 7 * j) % 100).astype(numpy.float64)
    return float((a @ b).sum())


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


# Plain `def` handlers: FastAPI runs them on its thread pool, as a CPU-bound handler should be.
@app.get("/api/matmul")
def matmul(n: str = "", kernel: str = "naive"):
    if kernel not in ("naive", "numpy"):
        return bad_request(f'unknown kernel "{kernel}"')
    if not n.isdigit() or not 1 <= int(n) <= MAX_N:
        return bad_request(f"n must be a number in 1..={MAX_N}")
    size = int(n)
    start = time.perf_counter_ns()
    checksum = matmul_naive(size) if kernel == "naive" else matmul_numpy(size)
    millis = (time.perf_counter_ns() - start) // 1000 / 1000
    return {"n": size, "kernel": kernel, "checksum": int(checksum), "millis": millis}


@app.get("/api/health", response_class=PlainTextResponse)
def health():
    return "ok"


@app.get("/api/compute")
def compute(n: str = "30"):
    if not n.isdigit() or int(n) > 40:
        return bad_request("n must be a whole number in 0..=40")
    return {"n": int(n), "fib": fib(int(n))}
