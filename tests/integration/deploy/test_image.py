"""The image without a registry or a Docker daemon: the Dockerfile's own install step
(deploy/image/install.sh) into a fresh virtualenv, the Numba precompile with the image's ENV, then,
as an unprivileged user with that ENV (its folders moved under a temporary root): the API and
the UI start and answer their probes (and the image's HEALTHCHECK script), and the runbook's
backtest in a fresh process with only the shipped cache takes under 2 s."""

from __future__ import annotations

import os
import pwd
import re
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
USER = "nobody"
# the runbook's probabilistic validation, on the offline synthetic vendor
BACKTEST = [
    "-m", "app.backtest.run_breakout", "--symbol", "AAPL", "--start", "2023-01-03", "--end", "2023-02-03",
    "--strategy", "momentum", "--use-probabilistic", "--dal-vendor", "synthetic", "--dal-interval", "1Day",
    "--risk-agent", "fractional_kelly", "--risk-agent-fraction", "0.4", "--regime-aware-sizing", "--debug",
]  # fmt: skip


def _final_stage() -> str:
    return DOCKERFILE.split("\nFROM ")[-1]


def _image_env(final_stage: str) -> dict[str, str]:
    """The final stage's ENV as KEY -> value (``$PATH`` left for the caller)."""
    env: dict[str, str] = {}
    for block in re.findall(r"^ENV ((?:.*\\\n)*.*)$", final_stage, flags=re.MULTILINE):
        for item in shlex.split(block.replace("\\\n", " ")):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def _interpreter() -> str:
    """A Python 3.11+ whose installation an unprivileged user can read (the venv links to it)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys._base_executable):
        if not Path(candidate).exists():
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys, venv, ensurepip; print(sys.version_info >= (3, 11))"],
                capture_output=True, text=True, user=USER, check=False,
            )  # fmt: skip
        except OSError:  # not executable by that user (e.g. under /root)
            continue
        if probe.stdout.strip() == "True":
            return candidate
    pytest.fail(f"no Python 3.11+ with venv that user {USER} can run")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Image:
    """The image's filesystem under ``root``: /opt/venv, /opt/numba-cache, /app, /home/site."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "opt" / "venv"
        self.app = root / "app"
        final = _final_stage()
        image_env = _image_env(final)
        relocated = {
            "/opt/venv": str(self.venv),
            "/opt/numba-cache": str(root / "opt" / "numba-cache"),
            "/home/site": str(root / "home" / "site"),
        }

        def move(value: str) -> str:
            for old, new in relocated.items():
                value = value.replace(old, new)
            return value

        self.env = {key: move(value) for key, value in image_env.items()}
        self.env["PATH"] = self.env["PATH"].replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
        self.env["HOME"] = str(root / "home" / "trader")
        self.env["LANG"] = "C.UTF-8"
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # set by this machine, kept as is
            if key in os.environ:
                self.env[key] = os.environ[key]
        self.cache = Path(self.env["NUMBA_CACHE_DIR"])
        # the folders the image creates for its user (`install -d -o trader ...`)
        created = re.search(r"install -d -o \S+ -g \S+ ([^\n\\&]+)", final)
        assert created, "the Dockerfile creates the user's writable folders with install -d"
        self.writable = [Path(move(p)) for p in created.group(1).split()]
        self.writable.append(Path(self.env["HOME"]))

    def run(
        self, args: list[str], *, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=self.app, env={**self.env, **(env or {})}, user=USER, capture_output=True,
            text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args, cwd=self.app, env={**self.env, **env}, user=USER, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    if os.geteuid() != 0:
        pytest.skip("runs the image's processes as another user, which needs root (CI runs as root)")
    pwd.getpwnam(USER)
    assert "RUN deploy/image/install.sh /opt/venv /src" in DOCKERFILE, (
        "the test runs the image's install step"
    )
    assert "RUN python -m app.backtest.precompile" in _final_stage(), "the image precompiles its kernels"
    root = Path(tempfile.mkdtemp(prefix="ai-trader-image-", dir="/tmp"))
    try:
        root.chmod(0o755)
        src = root / "src"
        src.mkdir()
        # the build stage's COPY lines
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / "app", src / "app", ignore=ignore)
        (src / "deploy" / "image").mkdir(parents=True)
        shutil.copy2(ROOT / "deploy/image/install.sh", src / "deploy/image/install.sh")
        img = Image(root)
        started = time.perf_counter()
        done = subprocess.run(
            ["deploy/image/install.sh", str(img.venv), str(src)],
            cwd=src, env={**os.environ, "PYTHON": _interpreter()}, capture_output=True, text=True,
            timeout=900, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        installed_s = time.perf_counter() - started
        # the final stage: its user's folders, then the files it copies into /app
        for folder in [*img.writable, img.cache]:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, USER)
        img.app.mkdir()
        shutil.copytree(ROOT / "scripts", img.app / "scripts", ignore=ignore)
        shutil.copytree(ROOT / "configs", img.app / "configs", ignore=ignore)
        (img.app / "deploy" / "image").mkdir(parents=True)
        shutil.copy2(ROOT / "deploy/image/healthcheck.py", img.app / "deploy/image/healthcheck.py")
        started = time.perf_counter()
        built = img.run(["python", "-m", "app.backtest.precompile"], timeout=900)
        assert built.returncode == 0, built.stdout + built.stderr[-3000:]
        print(f"image install {installed_s:.0f} s, precompile {time.perf_counter() - started:.0f} s")
        yield img
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_image_env_targets_a_generic_cpu_and_its_own_cache(image: Image) -> None:
    assert image.env["NUMBA_CPU_NAME"] == "generic"
    assert image.cache.is_relative_to(image.root / "opt")
    assert any(image.cache.rglob("*.nbc")), "the precompile wrote compiled kernels"
    for folder in image.writable:
        assert folder.stat().st_uid == pwd.getpwnam(USER).pw_uid, folder


def test_every_kernel_loads_from_the_shipped_cache(image: Image) -> None:
    checked = image.run(["python", "-m", "app.backtest.precompile", "--check"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert " 0 compiled" in checked.stdout


def _wait_ok(url: str, process: subprocess.Popen[bytes], timeout_s: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode} before {url} answered"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"{url} did not answer 200 within {timeout_s} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_api_and_ui_start_as_the_image_user_and_answer_their_probes(image: Image) -> None:
    cmd = re.search(r'^CMD \["ai-trader", "api", "--host", "0.0.0.0"\]$', DOCKERFILE, flags=re.MULTILINE)
    assert cmd, "the image's default command is the API"
    api_port, ui_port = _free_port(), _free_port()
    token = {"API_BEARER_TOKEN": os.urandom(16).hex()}
    api = image.start(["ai-trader", "api", "--host", "127.0.0.1"], {**token, "WEBSITES_PORT": str(api_port)})
    ui = image.start(
        ["ai-trader", "ui", "--host", "127.0.0.1"],
        {**token, "WEBSITES_PORT": str(ui_port), "AI_TRADER_COMPONENT": "ui"},
    )
    try:
        _wait_ok(f"http://127.0.0.1:{api_port}/health/live", api)
        assert _wait_ok(f"http://127.0.0.1:{ui_port}/ui/_stcore/health", ui).text.strip() == "ok"
        check = ["python", "/app/deploy/image/healthcheck.py".replace("/app", str(image.app))]
        api_check = image.run(check, env={"WEBSITES_PORT": str(api_port)}, timeout=30)
        assert api_check.returncode == 0, api_check.stdout
        assert "/health/live -> 200" in api_check.stdout
        ui_check = image.run(
            check, env={"WEBSITES_PORT": str(ui_port), "AI_TRADER_COMPONENT": "ui"}, timeout=30
        )
        assert ui_check.returncode == 0, ui_check.stdout
        assert "/ui/_stcore/health -> 200" in ui_check.stdout
        job_check = image.run(check, env={"AI_TRADER_COMPONENT": "order-consumer"}, timeout=30)
        assert job_check.returncode == 0 and "no HTTP probe" in job_check.stdout
        wrong = image.run(check, env={"AI_TRADER_COMPONENT": "apii"}, timeout=30)
        assert wrong.returncode == 1 and "unknown AI_TRADER_COMPONENT 'apii'" in wrong.stdout
    finally:
        _stop(api)
        _stop(ui)
    assert (image.root / "home/site/var").exists() and any((image.root / "home/site/var").iterdir()), (
        "the API wrote its embedded state into DATA_DIR as the image user"
    )


def _backtest_cpu(image: Image, env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = image.run(["python", *BACKTEST], env=env, timeout=300)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "AAPL momentum (synthetic 1Day)" in done.stdout
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def test_the_first_backtest_of_a_fresh_process_loads_its_kernels_instead_of_compiling(image: Image) -> None:
    """The shipped cache removes the compile from a fresh process's first backtest.

    Timing limits belong to the benchmarks (``python -m bench``: the cold-start rows, goal
    under 2 s); here the shipped cache is compared with an empty one in the same run, on CPU
    time, which a busy CI host does not distort the way it distorts wall time.
    """
    out = image.root / "home" / "trader" / "backtests"
    env = {"BACKTEST_NO_SAVE": "1", "BACKTEST_OUT_DIR": str(out)}
    shipped = [_backtest_cpu(image, env) for _ in range(3)]
    empty_cache = image.root / "home" / "trader" / "empty-numba-cache"
    empty_cache.mkdir(parents=True, exist_ok=True)
    shutil.chown(empty_cache, user=USER)
    cold = _backtest_cpu(image, {**env, "NUMBA_CACHE_DIR": str(empty_cache)})
    best = min(cpu for _, cpu in shipped)
    print(
        "first backtest of a fresh process: shipped cache wall "
        f"{', '.join(f'{w:.2f}' for w, _ in shipped)} s, CPU {', '.join(f'{c:.2f}' for _, c in shipped)} s; "
        f"empty cache wall {cold[0]:.2f} s, CPU {cold[1]:.2f} s; load average {os.getloadavg()[0]:.1f}"
    )
    assert best * 2 < cold[1], (shipped, cold)


def test_a_cache_that_no_longer_matches_its_sources_fails_the_check(image: Image) -> None:
    # runs last in this module: a changed kernel source invalidates the shipped cache
    source = next(image.venv.glob("lib/python3*/site-packages/app/dal/synthetic.py"))
    source.write_text(source.read_text() + "\n# changed after the image was built\n")
    checked = image.run(["python", "-m", "app.backtest.precompile", "--check"])
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "compiled instead:" in checked.stderr
    # the cache is keyed by every kernel module's source (app.kernel_cache): a change to one file
    # retires the whole shipped cache, callers in other files included
    assert "app.dal.synthetic._path_nb" in checked.stderr
    assert "app.backtest.engine." in checked.stderr
