"""serving/launch.py's process records: a record names a process by pid, start time and command line, so a record
left over after a reboot, whose pid now belongs to another process, is never signalled. Seconds."""
import subprocess
import sys
import time

import psutil

from serving import launch


def test_a_stale_record_whose_pid_belongs_to_another_process_is_not_signalled(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # the record of a model server that ran with this pid before a reboot: another start time and command
        stale = {"pid": other.pid, "create_time": psutil.Process(other.pid).create_time() - 3600,
                 "command": [sys.executable, "-m", "serving.model_server", "--model_name", "ghsumm"],
                 "rest_url": "http://127.0.0.1:8501"}
        launch.write_record(str(tmp_path), "ghsumm", stale)
        assert launch.live_record(str(tmp_path), "ghsumm") is None
        assert launch.stop_recorded(stale) is False
        # the same pid and start time but another command line (an older record without create_time too)
        assert launch.stop_recorded(dict(stale, create_time=None)) is False
        time.sleep(0.3)
        assert other.poll() is None, "the unrelated process was signalled"
    finally:
        other.kill()
        other.wait()


def test_the_recorded_process_itself_is_stopped(tmp_path):
    log = tmp_path / "sleeper.log"
    record = launch.start_detached([sys.executable, "-c", "import time; time.sleep(60)"], str(log), env=None)
    launch.write_record(str(tmp_path), "sleeper", record)
    assert launch.live_record(str(tmp_path), "sleeper")["pid"] == record["pid"]
    assert launch.stop_recorded(record, timeout=10) is True
    assert not launch.alive(record["pid"])
    assert launch.live_record(str(tmp_path), "sleeper") is None


def test_two_servers_started_at_once_on_the_same_preferred_port_each_get_a_port_of_their_own(tmp_path):
    """Two runs (two working dirs, two test workers) start their model servers at the same moment, both preferring
    one port: without the machine's port lock both find it free, and one server exits on "address in use"."""
    import concurrent.futures
    preferred = launch.free_port()

    def start(name):
        return launch.start_on_ports([preferred], lambda ports: [sys.executable, "-m", "http.server", str(ports[0]),
                                                                 "--bind", "127.0.0.1"],
                                     str(tmp_path / f"{name}.log"), None, name, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(start, name) for name in ("first", "second")]
        started = [f.result() for f in futures]
    try:
        ports = [p for _, (p,) in started]
        assert preferred in ports and len(set(ports)) == 2
        time.sleep(0.5)
        assert all(launch.alive(proc["pid"]) for proc, _ in started)
        assert all(launch.listening(p) for p in ports)
    finally:
        for proc, _ in started:
            launch.stop_recorded(proc, timeout=10)


def test_ports_chosen_for_taken_preferred_ports_are_all_different():
    """A model server's REST and gRPC ports when 8501 and 8500 are both taken (by another run's server): the
    kernel's choice twice in a row came out the same port, and the server failed to bind its second one."""
    import socket
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0)), b.bind(("127.0.0.1", 0))
        taken = [a.getsockname()[1], b.getsockname()[1]]
        for _ in range(20):
            ports = launch.pick_ports(taken)
            assert len(set(ports)) == 2 and not set(ports) & set(taken), ports
    free = launch.free_port()
    assert launch.pick_ports([free])[0] == free  # a free preferred port is itself
