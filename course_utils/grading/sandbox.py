"""The student's kernel in a bubblewrap sandbox, and grading that survives a dying kernel.

nbgrader loads this module inside each grading worker (the worker's ``nbgrader_config.py``
replaces nbgrader's ``Execute`` preprocessor with :class:`SandboxedExecute`). The kernel is
started as ``sh -c 'trap "" INT; exec "$@"' bwrap ... prlimit ... python -m ipykernel_launcher``:

* ``bwrap --unshare-all`` (own user, network, PID, IPC, UTS and cgroup namespaces): no network
  at all, not even the host's loopback; processes die with the grader (``--die-with-parent``);
* the file system is read-only (``--ro-bind / /``), the course root and the other hidden paths
  are replaced by empty tmpfs mounts, and only the submission's working folder and the kernel's
  runtime folder (connection file and ``ipc`` sockets) are bound writable; ``/tmp`` is a small
  private tmpfs;
* ``prlimit`` caps the address space (memory), the number of processes of the user, CPU seconds
  and file size.

The kernel talks to nbgrader over ``ipc`` (Unix-domain sockets in the runtime folder), since it has
no network. ``trap "" INT`` keeps bwrap itself alive when nbgrader interrupts a cell on timeout (the
SIGINT reaches the kernel, which handles it; bwrap would otherwise die and take the kernel along).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Unicode

KERNEL_DIED_MARKER = "COURSE_UTILS_KERNEL_DIED"
SANDBOX_OFF_MARKER = "COURSE_UTILS_SANDBOX_OFF"


def bwrap_status() -> tuple[bool, str]:
    """Whether bubblewrap can create the namespaces the sandbox needs on this machine.

    Returns:
        ``(ok, reason)``; ``reason`` names the fix when ``ok`` is False.
    """
    exe = shutil.which("bwrap")
    if exe is None:
        return False, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    cmd = [exe, "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev",
           "--proc", "/proc", "true"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap could not run: {exc}"
    if proc.returncode != 0:
        return False, (f"bwrap cannot create namespaces here ({proc.stderr.strip()[:200]}); enable unprivileged "
                       "user namespaces (sysctl kernel.unprivileged_userns_clone=1) or grade inside a container")
    return True, f"bubblewrap sandbox available ({exe})"


def user_task_count(uid: int | None = None) -> int:
    """Processes plus threads owned by ``uid`` (what RLIMIT_NPROC counts) right now."""
    uid = os.getuid() if uid is None else uid
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            total += int(fields.get("Threads", "1").strip() or 1)
    return total


def sandbox_prefix(cwd: str, rw: list[str], hide: list[str], memory_bytes: int, nproc: int, cpu_seconds: int,
                   file_bytes: int, tmp_bytes: int, use_bwrap: bool = True) -> list[str]:
    """The argv that goes in front of the kernel's own command.

    Args:
        cwd: the kernel's working folder (bound writable, becomes the current directory).
        rw: further folders bound writable (the kernel's runtime folder).
        hide: folders replaced by empty tmpfs mounts (course root, other copies of the sources).
        memory_bytes, nproc, cpu_seconds, file_bytes: ``prlimit`` limits (address space, processes
            of the user, CPU time, largest file written).
        tmp_bytes: size of the private ``/tmp``.
        use_bwrap: False gives the limits only (the loud fallback when bwrap cannot run).

    Returns:
        The prefix, for example ``["/bin/sh", "-c", ..., "bwrap", ..., "prlimit", ..., "--"]``.
    """
    limits = [shutil.which("prlimit") or "prlimit", f"--as={memory_bytes}", f"--nproc={nproc}",
              f"--cpu={cpu_seconds}", f"--fsize={file_bytes}", "--"]
    if not use_bwrap:
        return limits
    argv = ["/bin/sh", "-c", 'trap "" INT; exec "$@"', "sh", shutil.which("bwrap") or "bwrap",
            "--unshare-all", "--unshare-user", "--die-with-parent", "--cap-drop", "ALL",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    for path in hide:
        if os.path.isdir(path):
            argv += ["--tmpfs", path]
        elif os.path.exists(path):
            argv += ["--ro-bind", "/dev/null", path]
    for path in [cwd, *rw]:
        argv += ["--bind", path, path]
    # The grader's PID does not exist in the new PID namespace: ipykernel would think its parent died and quit
    # (--die-with-parent already ends the sandbox with the grader).
    argv += ["--chdir", cwd, "--setenv", "HOME", cwd, "--setenv", "TMPDIR", "/tmp", "--unsetenv", "JPY_PARENT_PID", "--"]
    return argv + limits


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel command runs inside :func:`sandbox_prefix`."""

    sandbox_bwrap = Bool(True, help="Wrap the kernel in bubblewrap (False: limits only).").tag(config=True)
    sandbox_cwd = Unicode("", help="The kernel's working folder (writable).").tag(config=True)
    sandbox_rw = List(Unicode(), help="Further writable folders.").tag(config=True)
    sandbox_hide = List(Unicode(), help="Folders the kernel must not see.").tag(config=True)
    sandbox_memory = Integer(6 * 2**30, help="Address-space limit in bytes.").tag(config=True)
    sandbox_nproc_allowance = Integer(256, help="Processes/threads the kernel may add.").tag(config=True)
    sandbox_cpu = Integer(1800, help="CPU-seconds limit of the kernel.").tag(config=True)
    sandbox_fsize = Integer(2**30, help="Largest file the kernel may write, in bytes.").tag(config=True)
    sandbox_tmp = Integer(256 * 2**20, help="Size of the private /tmp in bytes.").tag(config=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if not self.connection_file and self.sandbox_rw:  # jupyter_client's default is a file in /tmp
            self.connection_file = os.path.join(self.sandbox_rw[0], f"kernel-{uuid.uuid4().hex[:8]}.json")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        cwd = self.sandbox_cwd or os.getcwd()
        # RLIMIT_NPROC counts every task of the (real) user, so the cap is "what runs now + allowance".
        nproc = user_task_count() + self.sandbox_nproc_allowance
        prefix = sandbox_prefix(cwd, list(self.sandbox_rw), list(self.sandbox_hide), self.sandbox_memory, nproc,
                                self.sandbox_cpu, self.sandbox_fsize, self.sandbox_tmp, use_bwrap=self.sandbox_bwrap)
        if not self.sandbox_bwrap:
            self.log.warning("%s: the kernel runs WITHOUT the bubblewrap sandbox (limits only)", SANDBOX_OFF_MARKER)
        return prefix + cmd


def _died_output(attempt: int) -> NotebookNode:
    return NotebookNode(output_type="error", ename="KernelDied", evalue="the kernel died in this cell",
                        traceback=[f"KernelDied: the kernel died while running this cell; the autograder skipped it "
                                   f"and ran the rest of the notebook in a fresh kernel (restart {attempt})."])


class SandboxedExecute(Execute):
    """nbgrader's ``Execute`` with the sandboxed kernel and recovery from a kernel that dies.

    When the kernel dies in a cell (segfault, ``os._exit``, memory limit, CPU limit), the notebook is
    run again from the top in a fresh kernel with that cell skipped (its outputs say why), so the
    rest of the submission is still graded; after ``max_kernel_restarts`` deaths the error propagates
    and nbgrader reports the submission as failed.
    """

    max_kernel_restarts = Integer(3, help="Fresh kernels to try after the kernel dies.").tag(config=True)

    def __init__(self, *args, **kwargs) -> None:
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)
        self._skip: dict[int, int] = {}
        self._timed_out: set[int] = set()
        self._current = -1

    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        original = copy.deepcopy(nb)
        self._skip, self._timed_out = {}, set()
        for attempt in range(self.max_kernel_restarts + 1):
            try:
                return super().preprocess(copy.deepcopy(original), resources, km)
            except DeadKernelError:
                if attempt == self.max_kernel_restarts or self._current < 0:
                    raise
                cell = original.cells[self._current]
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"#{self._current}")
                self.log.warning("%s cell=%s index=%d: re-running the notebook without it", KERNEL_DIED_MARKER,
                                 grade_id, self._current)
                self._skip[self._current] = attempt + 1
                for index in self._timed_out:  # a cell that already used up its timeout is not waited for again
                    self._skip.setdefault(index, -1)
                self._current = -1
        raise AssertionError("unreachable")

    def preprocess_cell(self, cell, resources, index):
        self._current = index
        if index in self._skip and cell.cell_type == "code":
            if self._skip[index] < 0:
                cell.outputs = [NotebookNode(output_type="error", **self.error_on_timeout)]
            else:
                cell.outputs = [_died_output(self._skip[index])]
            cell.execution_count = None
            return cell, self.resources
        return super().preprocess_cell(cell, resources, index)

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None):
        self._timed_out.add(self._current)
        return await super()._async_handle_timeout(timeout, cell)
