"""Helpers of the inotify and drift tests (README, inotify; Tag drift):
a real `inotifywait -m` as a background watcher."""
import os
import subprocess
import threading
import time

import pytest

from conftest import wait_until


class Watcher:
    """`inotifywait -m` on paths; .lines() are "DIR|NAME|EVENTS" as it
    printed them, in order (NAME is empty for a watch on a file)."""

    def __init__(self, *paths, events=None, read_on=None):
        # read_on: a file name; its content is read at each of its
        # IN_CLOSE_WRITE, as automation would (.values)
        self.read_on = read_on
        self.values = []
        cmd = ["inotifywait", "-m", "--format", "%w|%f|%e"]
        for e in events or ():
            cmd += ["-e", e]
        self.proc = subprocess.Popen(cmd + list(paths), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._lines = []
        self._mu = threading.Lock()
        # it says so on stderr once its watches are set up
        for _ in range(10):
            line = self.proc.stderr.readline()
            if "Watches established" in line:
                break
            if not line:
                pytest.fail("inotifywait did not start")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            value = None
            d, name, ev = line.split("|", 2)
            if self.read_on and name == self.read_on and "CLOSE_WRITE" in ev:
                try:
                    with open(os.path.join(d, name)) as f:
                        value = f.read()
                except OSError as e:
                    value = "error: %s" % e
            with self._mu:
                self._lines.append(line)
                if value is not None:
                    self.values.append(value)

    def lines(self):
        with self._mu:
            return list(self._lines)

    def names(self):
        """[(name, set of events)] with the watch's directory dropped."""
        out = []
        for line in self.lines():
            d, name, ev = line.split("|", 2)
            out.append((name or os.path.basename(d.rstrip("/")), set(ev.split(","))))
        return out

    def saw(self, name, event):
        return any(n == name and event in ev for n, ev in self.names())

    def wait(self, name, event, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.saw(name, event):
                return True
            time.sleep(0.01)
        return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def wait_for(pred, timeout=20.0):
    """wait_until with a deadline generous for a loaded machine."""
    return wait_until(pred, timeout=timeout, step=0.02)
