"""docker-compose.yml: the structure operators rely on (services, health checks, GPU, volumes),
checked with a YAML parser; and the whole file validated by a Compose CLI (`config -q`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import BotSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
GPU = ROOT / "docker-compose.gpu.yml"
#: one chat process per front-end: (service, the flag its command names)
FRONT_ENDS = {"bot-telegram": "--telegram", "bot-discord": "--discord", "bot-web": "--web"}
PROCESSES = (*FRONT_ENDS, "worker")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _healthcheck_port(service: dict[str, Any]) -> int:
    test = service["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-m", "bot.probe"], test
    return int(test[4])


def test_services_commands_and_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"redis", *FRONT_ENDS, "worker"} <= set(services)
    assert "bot" not in services  # one process per front-end, not one for all
    for name, flag in FRONT_ENDS.items():
        assert services[name]["command"] == ["python", "-m", "bot", flag]
    assert services["worker"]["command"] == ["python", "-m", "bot.worker"]
    image = services["worker"]["image"]
    for name in PROCESSES:
        s = services[name]
        assert s["build"]["context"] == "." and s["image"] == image
        assert s["env_file"] == ".env"
        assert s["depends_on"] == {"redis": {"condition": "service_healthy"}}
        assert s["environment"]["REDIS_URL"].endswith("redis://redis:6379/0}")
        assert s["restart"] == "unless-stopped", name  # each restarted on its own
        assert "TORCH_INDEX_URL" in s["build"]["args"]  # the Dockerfile's build argument
    assert "ARG TORCH_INDEX_URL" in (ROOT / "Dockerfile").read_text()
    # the studio runs in bot-web alone; the store is chosen by DATABASE_URL in each
    for name in ("bot-telegram", "bot-discord"):
        assert services[name]["environment"]["MOUTHPIECE_WEB_PORT"] == "0", name
    assert services["bot-web"]["environment"]["MOUTHPIECE_WEB_PORT"].startswith("${")
    for name in FRONT_ENDS:
        assert services[name]["environment"]["DATABASE_URL"] == "${DATABASE_URL:-}", name


def test_redis_persists_and_is_health_checked(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(
        v.split(":")[0] in compose["volumes"] and v.endswith(":/data") for v in redis["volumes"]
    )
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_health_checks_hit_the_configured_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    defaults = BotSettings()
    worker = services["worker"]
    for name in FRONT_ENDS:
        bot = services[name]
        assert _healthcheck_port(bot) == int(bot["environment"]["MOUTHPIECE_BOT_METRICS_PORT"])
        assert _healthcheck_port(bot) == defaults.bot_metrics_port
    assert _healthcheck_port(worker) == int(worker["environment"]["MOUTHPIECE_WORKER_METRICS_PORT"])
    assert _healthcheck_port(worker) == defaults.worker_metrics_port


def test_no_health_check_argument_has_a_space(compose: dict[str, Any]) -> None:
    """podman's Docker-compatible API splits an exec-form check's arguments on spaces (a
    ``python -c "..."`` check became a syntax error there): none may have one."""
    for name, service in compose["services"].items():
        if "healthcheck" in service:
            test = service["healthcheck"]["test"]
            assert test[0] == "CMD" and not any(" " in arg for arg in test), (name, test)


def test_the_probe_reports_a_health_endpoint(tmp_path: Path) -> None:
    """``python -m bot.probe PORT``: 0 while /healthz answers 200, 1 on 503 or nothing."""
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    status = [200]

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            self.send_response(status[0] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = str(server.server_address[1])

    def probe() -> int:
        return subprocess.run(
            [sys.executable, "-m", "bot.probe", port], cwd=ROOT, capture_output=True, timeout=30
        ).returncode

    try:
        assert probe() == 0
        status[0] = 503
        assert probe() == 1
    finally:
        server.shutdown()
        server.server_close()
    assert probe() == 1  # nothing listens


def test_cpu_hosts_need_no_edit_and_gpu_hosts_add_one_file(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], compose["volumes"]
    worker = services["worker"]
    assert "deploy" not in worker  # the base file starts on a host without a GPU
    gpu = yaml.safe_load(GPU.read_text())
    devices = gpu["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert set(gpu["services"]) == {"worker"}
    mounts = {v.split(":")[1]: v for v in worker["volumes"]}
    assert {"/data", "/models"} <= set(mounts)
    assert mounts["/models"].endswith(":ro")
    for name in FRONT_ENDS:
        data = next(v for v in services[name]["volumes"] if v.split(":")[1] == "/data")
        assert data.split(":")[0] == mounts["/data"].split(":")[0] in volumes
    assert mounts["/models"].split(":")[0] in volumes


def test_the_image_trusts_an_operators_extra_ca() -> None:
    """config/ca/*.crt joins the trust store in both stages. The build's pip reads that store
    from its lowest-priority config file (/etc/xdg/pip/pip.conf), so a build host's own
    /etc/pip.conf ``cert`` still wins (PIP_CERT or REQUESTS_CA_BUNDLE would override it:
    requests lets that variable beat pip's ``cert``); the processes' HTTPS clients (requests,
    httpx, ssl) read the store through SSL_CERT_FILE and REQUESTS_CA_BUNDLE."""
    build, runtime = _stages()[0], _stages()[-1]
    for stage in (build, runtime):
        text = " ".join(stage)
        assert "COPY config/ca/ /usr/local/share/ca-certificates/" in text
        assert "update-ca-certificates" in text
    build_text, runtime_text = " ".join(build), " ".join(runtime)
    assert "cert = /etc/ssl/certs/ca-certificates.crt" in build_text
    assert ">/etc/xdg/pip/pip.conf" in build_text
    for variable in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        assert variable not in build_text, variable
    for variable in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        assert f"{variable}=/etc/ssl/certs/ca-certificates.crt" in runtime_text, variable
    assert (ROOT / "config" / "ca").is_dir()


def _compose_cli() -> list[str]:
    """`docker compose` (the plugin) or `docker-compose` (make test installs Debian's)."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        pytest.fail("no Compose CLI: install docker-compose (make test installs it)")
    return [legacy]


def _config(tmp: Path, text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (tmp / "docker-compose.yml").write_text(text)
    shutil.copy(ROOT / "config" / "example.env", tmp / ".env")
    files = ["-f", "docker-compose.yml"]
    for name in extra:
        shutil.copy(ROOT / name, tmp / name)
        files += ["-f", name]
    return subprocess.run(
        [*_compose_cli(), *files, "config", "-q"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_cli_validates_the_file(tmp_path: Path) -> None:
    """`docker compose config -q` checks the file against Compose's schema (no daemon)."""
    done = _config(tmp_path, COMPOSE.read_text())
    assert done.returncode == 0, done.stderr
    # the check has teeth: one misspelt key and the same command refuses the file
    typo = COMPOSE.read_text().replace("    healthcheck:", "    helthcheck:", 1)
    refused = _config(tmp_path, typo)
    assert refused.returncode != 0 and "helthcheck" in refused.stdout + refused.stderr
    with_gpu = _config(tmp_path, COMPOSE.read_text(), GPU.name)
    assert with_gpu.returncode == 0, with_gpu.stderr


# ---- least privilege -----------------------------------------------------------------
COMPILERS = ("build-essential", "gcc", "g++", "clang", "cmake", "make", "cython", "-dev")


def _stages() -> list[list[str]]:
    """The Dockerfile's stages, each a list of instructions (continuation lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_runtime_image_has_no_compilers_and_runs_as_a_user() -> None:
    stages = _stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    build, runtime = stages[0], stages[-1]
    assert any("build-essential" in line for line in build)  # wheels are built there
    installs = [line for line in runtime if "apt-get install" in line or "pip install" in line]
    for line in installs:
        packages = line.split()
        bad = [p for p in packages for c in COMPILERS if p == c or (c == "-dev" and p.endswith(c))]
        assert not bad, f"compilers in the runtime stage: {bad}"
    assert any(line.startswith("COPY --from=") for line in runtime)
    users = [line.split()[1] for line in runtime if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0"), users[-1]
    assert runtime[-1].startswith("CMD ")


def test_services_drop_privileges_and_have_a_read_only_root(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("redis", *PROCESSES, "postgres"):
        s = services[name]
        assert s.get("read_only") is True, name
        assert s.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in s.get("security_opt", []), name
        assert not s.get("privileged") and not s.get("cap_add"), name
        assert str(s.get("user", "")).split(":")[0] not in ("root", "0"), name
    # the proxy binds 80 and 443 as its user: that one capability, nothing else
    assert services["proxy"].get("cap_add") == ["NET_BIND_SERVICE"]
    for name in services:  # the tools too: no capabilities, no setuid escalation
        assert services[name].get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in services[name].get("security_opt", []), name


def test_writes_land_on_volumes_or_tmpfs(compose: dict[str, Any]) -> None:
    """With a read-only root, every path the processes write is a volume or a tmpfs."""
    services, dockerfile = compose["services"], (ROOT / "Dockerfile").read_text()
    for name in PROCESSES:
        s = services[name]
        assert any(t.split(":")[0] == "/tmp" for t in s["tmpfs"]), name
        mounts = {v.split(":")[1] for v in s["volumes"]}
        assert s["environment"]["MOUTHPIECE_DATA_DIR"] in mounts, name
    for variable in ("MOUTHPIECE_CACHE_DIR=/data", "HOME=/tmp", "XDG_CACHE_HOME=/tmp"):
        assert variable in dockerfile, variable
    assert "/data" in {v.split(":")[1] for v in services["redis"]["volumes"]}


def test_redis_memory_is_bounded_without_eviction(compose: dict[str, Any]) -> None:
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--maxmemory") + 1].startswith("${MOUTHPIECE_REDIS_MAXMEMORY:-")
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def _bytes(value: str) -> int:
    """``${NAME:-12g}`` or ``12g`` in bytes."""
    value = value.split(":-")[-1].rstrip("}") if value.startswith("${") else value
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(float(value[:-1]) * units[value[-1].lower()])


def test_every_service_has_a_memory_and_a_process_limit(compose: dict[str, Any]) -> None:
    """So a runaway service meets its own limit, not the kernel's choice of victim; and the
    worker's leaves room for its decode jails at their bound beside the models."""
    from bot.worker.context import INTAKE_SLOTS
    from engine.jail import JailLimits

    for name, service in compose["services"].items():
        assert _bytes(str(service["mem_limit"])) > 0, name
        assert 0 < int(service["pids_limit"]) <= 4096, name
    redis = compose["services"]["redis"]
    maxmemory = redis["command"][redis["command"].index("--maxmemory") + 1]
    assert _bytes(str(redis["mem_limit"])) >= 1.25 * _bytes(maxmemory.replace("gb", "g"))
    jails = (INTAKE_SLOTS + 2) * JailLimits().memory_bytes  # intake, and a render's two inputs
    assert _bytes(str(compose["services"]["worker"]["mem_limit"])) >= jails + (4 << 30)
