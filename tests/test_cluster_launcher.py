"""cluster/onprem.yaml brought up for real with Ray's cluster launcher on 127.0.0.1, and the
documented `ray submit CLUSTER.yaml raymtl/tune.py -- search_spaces/quickstart.yaml --smoke-test`.

The cluster belongs to a dedicated unprivileged user, so nothing it starts can touch other Ray
instances on the machine; Debian's
sshd listens on 127.0.0.1 only, on a free port, with throwaway host and user keys; the user's ssh
config routes Ray's ssh (which has no port option) to that port. Everything this test starts is
stopped by PID (sshd and its children, the user's processes), then the user and files are removed.
Needs root, sshd (openssh-server), rsync and a system python3 of this interpreter's version:
.ci/run installs the Debian packages.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from raymtl.paths import data_dir
from raymtl.procs import stop_pids

REPO = Path(__file__).resolve().parent.parent
USER = "raymtl-e2e"
SUBMIT = "raymtl/tune.py -- search_spaces/quickstart.yaml --smoke-test"  # docs/cluster.md, verbatim

pytestmark = pytest.mark.slow


def system_python() -> str | None:
    """A python3 outside any home directory with this interpreter's version (it runs the user's venv)."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for d in ("/usr/bin", "/usr/local/bin"):
        if os.access(f"{d}/{name}", os.X_OK):
            return f"{d}/{name}"
    return None


def missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (to run sshd and create the cluster's own user)"
    for tool in ("/usr/sbin/sshd", "ssh", "ssh-keygen", "rsync", "useradd", "userdel", "runuser"):
        if not shutil.which(tool):
            return f"{tool} not found (apt-get install openssh-server rsync; .ci/run does)"
    if system_python() is None:
        return f"no system python{sys.version_info.major}.{sys.version_info.minor} in /usr/bin or /usr/local/bin"
    return None


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def user_pids() -> list[int]:
    try:
        uid = pwd.getpwnam(USER).pw_uid
    except KeyError:
        return []
    out = subprocess.run(["ps", "-U", str(uid), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        ps = subprocess.run(["ps", "-o", "pid=", "--ppid", str(todo.pop())], capture_output=True, text=True).stdout
        children = [int(p) for p in ps.split()]
        out += children
        todo += children
    return out


def remove_user() -> None:
    stop_pids(user_pids())  # leftovers of this test's user only (e.g. an earlier interrupted run)
    subprocess.run(["userdel", USER], capture_output=True)


class Node:
    """The cluster user's side: its home, environment and commands."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.log: list[str] = []

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "USER": USER, "LOGNAME": USER, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

    def run(self, command: str, *, timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """`command` in a bash that sourced the user's ~/.bashrc (as a login over ssh would)."""
        started = time.time()
        out = subprocess.run([shutil.which("runuser") or "runuser", "-u", USER, "--", "bash", "-c",
                              f"source ~/.bashrc && {command}"],
                             env=self.env(), cwd=cwd or self.home, capture_output=True, text=True, timeout=timeout)
        self.log.append(f"$ {command}  [rc {out.returncode}, {time.time() - started:.0f}s]")
        return out

    def own(self, *paths: Path) -> None:
        pw = pwd.getpwnam(USER)
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)


def make_user_env(node: Node) -> None:
    """A venv for the cluster user on the system python that sees this interpreter's packages through
    a hard-linked copy (this venv may live in a home the user cannot read); raymtl itself is not in
    it: the cluster's setup commands install it from the file mount, as on a real cluster."""
    site = Path(sysconfig.get_paths()["purelib"])
    shared = node.root / "site-packages"
    if subprocess.run(["cp", "-al", str(site), str(shared)], capture_output=True).returncode != 0:
        shutil.rmtree(shared, ignore_errors=True)
        shutil.copytree(site, shared, symlinks=True)
    for p in shared.iterdir():
        if p.name.startswith(("raymtl", "__editable__.raymtl", "__editable___raymtl")):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    venv = node.home / "venv"
    out = node.run(f"{system_python()} -m venv --without-pip {venv}", timeout=120)
    assert out.returncode == 0, out.stderr
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (venv / "lib" / minor / "site-packages" / "zz_shared.pth").write_text(f"{shared}\n")
    ray = venv / "bin" / "ray"
    ray.write_text(f"#!{venv}/bin/python\nimport sys\nfrom ray.scripts.scripts import main\nsys.exit(main())\n")
    ray.chmod(0o755)
    node.own(ray)


@pytest.fixture
def loopback_cluster():
    why = missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the cluster launcher test cannot run here: {why}")
        pytest.skip(why)
    if not data_dir().is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"corpora not found in {data_dir()} (RAYMTL_DATA_DIR)")
        pytest.skip(f"corpora not found in {data_dir()} (RAYMTL_DATA_DIR)")
    remove_user()
    root = Path(tempfile.mkdtemp(prefix="rmtl-", dir="/tmp"))  # short: Ray's socket paths live below it
    root.chmod(0o755)
    node = Node(root)
    sshd: subprocess.Popen | None = None
    sshd_children: list[int] = []
    cluster_yaml = node.home / "cluster.yaml"
    try:
        subprocess.run(["useradd", "--home-dir", str(node.home), "--create-home", "--shell", "/bin/bash",
                        "--user-group", USER], check=True, capture_output=True)
        subprocess.run(["usermod", "-p", "*", USER], check=True)  # no password, but not "locked" for sshd
        ssh_port, gcs, dash, client, om, nm, metrics, agent, agent_grpc, rt_env = free_ports(10)
        # Throwaway keys: the host key stays root's, the user's key and authorized_keys are the user's.
        (root / "sshd").mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / "sshd" / "host_key")],
                       check=True)
        dot_ssh = node.home / ".ssh"
        dot_ssh.mkdir(mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(dot_ssh / "id_ed25519")],
                       check=True)
        shutil.copy(dot_ssh / "id_ed25519.pub", dot_ssh / "authorized_keys")
        # Ray's ssh has no port option: the user's ssh config routes 127.0.0.1 (and only it) to ours.
        (dot_ssh / "config").write_text(f"Host 127.0.0.1\n  Port {ssh_port}\n")
        for p in dot_ssh.iterdir():
            p.chmod(0o600 if not p.name.endswith(".pub") else 0o644)
        node.own(dot_ssh, *dot_ssh.iterdir())
        (root / "sshd" / "sshd_config").write_text(
            f"Port {ssh_port}\nListenAddress 127.0.0.1\nHostKey {root / 'sshd' / 'host_key'}\n"
            f"PidFile {root / 'sshd' / 'sshd.pid'}\nAuthorizedKeysFile .ssh/authorized_keys\n"
            f"AllowUsers {USER}\nPermitRootLogin no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nUsePAM no\nStrictModes no\nMaxStartups 50:30:100\nMaxSessions 50\n"
            "X11Forwarding no\nAllowTcpForwarding no\nPrintMotd no\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
        sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(root / "sshd" / "sshd_config")],
                                stdout=subprocess.DEVNULL, stderr=open(root / "sshd" / "sshd.log", "w"))
        ray_tmp = root / "t"  # the user's RAY_TMPDIR: its Ray never meets /tmp/ray of anyone else
        ray_tmp.mkdir()
        node.own(ray_tmp)
        (node.home / ".bashrc").write_text(
            f"export PATH={node.home}/venv/bin:/usr/local/bin:/usr/bin:/bin\nexport RAY_TMPDIR={ray_tmp}\n"
            f"export RAYMTL_DATA_DIR={data_dir()}\nexport RAY_USAGE_STATS_ENABLED=0\n"
            # The setup's `pip install -e` resolves from what is installed: no download in a test.
            "export PIP_NO_INDEX=1 PIP_NO_BUILD_ISOLATION=0 PIP_DISABLE_PIP_VERSION_CHECK=1\n"
            "export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1\n"
            # Ray turns 127.0.0.1 (even --node-ip-address=127.0.0.1) into the machine's interface
            # address; with its single-machine switch every node IP Ray computes is 127.0.0.1.
            "export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0\n")
        node.own(node.home / ".bashrc")
        make_user_env(node)

        config = yaml.safe_load((REPO / "cluster" / "onprem.yaml").read_text())
        config["cluster_name"] = "raymtl-e2e"
        config["provider"].update(head_ip="127.0.0.1", worker_ips=[])
        config["max_workers"] = 0
        config["auth"] = {"ssh_user": USER, "ssh_private_key": str(dot_ssh / "id_ed25519")}
        config["head_setup_commands"] = [re.sub(r"for ds in [^;]+;", "for ds in semeval14-restaurants;", c)
                                         for c in config["head_setup_commands"]]
        # Pin every port (other Ray instances share this machine) and the advertised IP to loopback.
        pins = (f" --node-ip-address=127.0.0.1 --dashboard-host=127.0.0.1 --dashboard-port={dash}"
                f" --ray-client-server-port={client} --object-manager-port={om} --node-manager-port={nm}"
                f" --metrics-export-port={metrics} --dashboard-agent-listen-port={agent}"
                f" --dashboard-agent-grpc-port={agent_grpc} --runtime-env-agent-port={rt_env}"
                " --object-store-memory=300000000")
        config["head_start_ray_commands"] = [c.replace("--port=6379", f"--port={gcs}") + (pins if "ray start" in c
                                                                                          else "")
                                             for c in config["head_start_ray_commands"]]
        cluster_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
        node.own(cluster_yaml)
        for _ in range(100):  # sshd is up
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", ssh_port)) == 0:
                    break
            time.sleep(0.1)
        yield node, cluster_yaml, gcs, dash
    finally:
        # Torn down by PID (the cluster user's processes, sshd and its children), never by Ray's
        # name-based teardown commands.
        if sshd is not None:
            sshd_children = descendants(sshd.pid)
        stop_pids(user_pids() + sshd_children + ([sshd.pid] if sshd else []))
        if sshd is not None:
            sshd.wait(timeout=30)
        remove_user()
        shutil.rmtree(root, ignore_errors=True)
        print("\n".join(node.log))


def test_ray_up_submit_exec_down_on_loopback(loopback_cluster):
    node, cluster_yaml, gcs, dash = loopback_cluster
    started = time.time()
    up = node.run(f"ray up -y --no-config-cache {cluster_yaml}", timeout=1200, cwd=REPO)
    assert up.returncode == 0, (up.stdout + up.stderr)[-4000:]
    assert (node.home / "src" / "raymtl" / "raymtl" / "tune.py").exists()  # the file mount
    assert (node.home / "raymtl-shards" / "semeval14-restaurants" / "manifest.json").exists()  # prepared on the head

    address = node.run(f"ray exec {cluster_yaml} 'echo RAY_ADDRESS=$RAY_ADDRESS'", timeout=300, cwd=REPO)
    assert f"RAY_ADDRESS=127.0.0.1:{gcs}" in address.stdout, address.stdout + address.stderr

    submit = node.run(f"ray submit {cluster_yaml} {SUBMIT}", timeout=1800, cwd=REPO)
    out = submit.stdout + submit.stderr
    assert submit.returncode == 0, out[-6000:]
    # The space came from the file mount, the search joined this cluster, and finished its 2 trials.
    assert (f"search_spaces/quickstart.yaml: not found in {node.home}; using "
            f"{node.home}/src/raymtl/search_spaces/quickstart.yaml") in out, out[-6000:]
    assert re.search(rf"(joined the Ray cluster at|Connecting to existing Ray cluster at address:) "
                     rf"127\.0\.0\.1:{gcs}", out), out[-6000:]
    assert re.search(r"== 2 trials \([^)]*\b0 failed", out), out[-6000:]
    # Outputs where docs/cluster.md says: ~/runs/tune/NAME on the head (the script runs from ~).
    exp = node.home / "runs" / "tune" / "quickstart"
    for name in ("results.csv", "best_config.yaml", "summary.json", "importances.json"):
        assert (exp / name).exists(), name
    assert any(exp.rglob("events.out.tfevents.*"))  # TensorBoard runs (`tensorboard --logdir` on it)
    import pandas as pd

    results = pd.read_csv(exp / "results.csv")
    assert len(results) == 2 and set(results["status"]) <= {"terminated", "stopped_early"}
    best = yaml.safe_load((exp / "best_config.yaml").read_text())
    assert best["name"] == "quickstart-best" and best["model"]["arch"] == "cmtl"

    # The documented way to fetch them to the machine that ran `ray up`.
    fetched = node.home / "fetched"  # the user's (rsync-down runs as the cluster user)
    down = node.run(f"ray rsync-down {cluster_yaml} '~/runs/tune/quickstart/' {fetched}/", timeout=300, cwd=REPO)
    assert down.returncode == 0 and (fetched / "results.csv").exists(), down.stdout + down.stderr

    helped = node.run(f"ray exec {cluster_yaml} 'raymtl --help'", timeout=300, cwd=REPO)
    assert helped.returncode == 0 and "usage: raymtl" in helped.stdout, helped.stdout + helped.stderr

    # `ray job submit --working-dir .`: without --storage the outputs land outside Ray's session dir.
    job = node.run(f"RAY_ADDRESS=http://127.0.0.1:{dash} ray job submit --working-dir . -- "
                   "python raymtl/tune.py search_spaces/quickstart.yaml --smoke-test", timeout=1800, cwd=REPO)
    out = job.stdout + job.stderr
    assert job.returncode == 0 and re.search(r"== 2 trials \([^)]*\b0 failed", out), out[-6000:]
    durable = node.home / "raymtl-runs" / "tune" / "quickstart"
    assert (durable / "results.csv").exists() and (durable / "best_config.yaml").exists(), out[-3000:]
    assert f"results: {durable / 'results.csv'}" in out
    print(f"\ncluster launcher end to end (up, submit, rsync-down, exec, job submit): "
          f"{time.time() - started:.0f}s")
