"""Where the test suite's CPU goes: a pytest plugin that records each test's CPU time, and a report.

    SUITE_CPU_DIR=/tmp/cpu .venv/bin/python -m pytest -p bench.suite_cpu -n auto --dist loadfile
    .venv/bin/python bench/suite_cpu.py /tmp/cpu          # per directory, per file, slowest tests

Each pytest process (every xdist worker, or the one process of a serial run) writes one JSON line
per test to SUITE_CPU_DIR/<worker>.jsonl: the CPU time the process spent on the test (setup, call
and teardown: time.process_time()), the CPU of its child processes that ended meanwhile (`flask`
commands, the document reader, Chromium's processes when their browser closes; from
RUSAGE_CHILDREN) and the wall time; and one line for the process itself (start-up and collection,
and its whole CPU at the end). What none of these sees is the PostgreSQL server's own CPU (its
backends are the postmaster's children, not ours): the report reads it from /proc when asked
(`--postgres-pids`), and `/usr/bin/time` around the whole run gives the total of our processes.
"""
import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _Recorder:
    def __init__(self, directory, name):
        directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.out = open(directory / f"{name}-{os.getpid()}.jsonl", "a", encoding="utf-8")

    def write(self, **record):
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()


_recorder = None


def _process_name(config):
    """gw0, gw1... for an xdist worker, "controller" for the xdist process that runs none, else "serial"."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        return worker
    return "controller" if getattr(config.option, "numprocesses", None) else "serial"


def pytest_configure(config):
    global _recorder
    directory = os.environ.get("SUITE_CPU_DIR")
    if directory:
        _recorder = _Recorder(Path(directory), _process_name(config))


def pytest_collection_finish(session):
    if _recorder:
        _recorder.write(kind="collection", cpu=time.process_time())


def _hookwrapper(function):
    import pytest

    return pytest.hookimpl(hookwrapper=True)(function)


@_hookwrapper
def pytest_runtest_protocol(item, nextitem):
    if not _recorder:
        yield
        return
    cpu, children, wall = time.process_time(), _children_cpu(), time.perf_counter()
    yield
    # The last test's teardown ends the session's fixtures too: Playwright's driver exits then, and the
    # CPU of every Chromium it ran arrives with it. That is charged to the session's end, not the test.
    session_end = getattr(item, "_suite_cpu_session_end", (0.0, 0.0))
    _recorder.write(kind="test", id=item.nodeid, cpu=time.process_time() - cpu - session_end[0],
                    children=_children_cpu() - children - session_end[1], wall=time.perf_counter() - wall)
    if nextitem is None:
        _recorder.write(kind="session_end", cpu=session_end[0], children=session_end[1])


@_hookwrapper
def pytest_runtest_teardown(item, nextitem):
    if not _recorder or nextitem is not None:
        yield
        return
    cpu, children = time.process_time(), _children_cpu()
    yield
    item._suite_cpu_session_end = (time.process_time() - cpu, _children_cpu() - children)


def pytest_unconfigure(config):
    if _recorder:
        _recorder.write(kind="process", name=_recorder.name, cpu=time.process_time(), children=_children_cpu())
        _recorder.out.close()


def _read(directory):
    records = defaultdict(list)
    for path in sorted(Path(directory).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            records[record["kind"]].append(record)
    return records["test"], records["process"], records["collection"], records["session_end"]


def report(directory, top=25):
    """Print the CPU per directory and per file, and the slowest tests."""
    tests, processes, collections, session_ends = _read(directory)
    total_tests = sum(t["cpu"] + t["children"] for t in tests)
    print(f"{len(tests)} tests in {len(processes)} process(es)")
    for process in processes:
        print(f"  {process['name']:<10} {process['cpu']:7.1f} s CPU, its reaped children {process['children']:7.1f} s")
    # The xdist controller's children are the workers: its total is everyone's.
    controller = [p for p in processes if p["name"] in ("controller", "serial")]
    if controller:
        print(f"Total CPU (the controller or serial process and everything it reaped): "
              f"{sum(p['cpu'] + p['children'] for p in controller):.1f} s")
    print(f"Inside tests: {sum(t['cpu'] for t in tests):.1f} s in the test processes, "
          f"{sum(t['children'] for t in tests):.1f} s in child processes; start-up and collection "
          f"{sum(c['cpu'] for c in collections):.1f} s; session ends (Playwright's Chromium) "
          f"{sum(s['cpu'] + s['children'] for s in session_ends):.1f} s")
    by_directory, by_file = defaultdict(lambda: [0, 0.0, 0.0]), defaultdict(lambda: [0, 0.0, 0.0])
    for test in tests:
        path = test["id"].split("::")[0]
        for key, table in ((path.rsplit("/", 1)[0], by_directory), (path, by_file)):
            table[key][0] += 1
            table[key][1] += test["cpu"]
            table[key][2] += test["children"]
    for title, table, limit in (("directory", by_directory, None), ("file", by_file, top)):
        print(f"\nBy {title} (tests, CPU in the test process, CPU of child processes, share):")
        rows = sorted(table.items(), key=lambda item: -(item[1][1] + item[1][2]))[:limit]
        for key, (count, cpu, children) in rows:
            print(f"  {key:<52} {count:5d} {cpu:8.1f} s {children:8.1f} s {100 * (cpu + children) / total_tests:5.1f}%")
    print(f"\nThe {top} costliest tests (CPU in process + children, wall):")
    for test in sorted(tests, key=lambda t: -(t["cpu"] + t["children"]))[:top]:
        print(f"  {test['cpu']:6.2f} + {test['children']:6.2f} s  {test['wall']:6.2f} s wall  {test['id']}")


if __name__ == "__main__":
    report(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25)
