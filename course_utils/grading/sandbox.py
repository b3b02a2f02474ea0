"""The student's kernel in a bubblewrap sandbox, and grading that survives a dying kernel.

nbgrader loads this module inside each grading worker (the worker's ``nbgrader_config.py``
replaces nbgrader's ``Execute`` preprocessor with :class:`SandboxedExecute`). The kernel is
started as ``sh -c 'trap "" INT; exec "$@"' bwrap ... prlimit ... python -m ipykernel_launcher``:

* ``bwrap --unshare-all`` (own user, network, PID, IPC, UTS and cgroup namespaces): no network
  at all, not even the host's loopback; processes die with the grader (``--die-with-parent``);
* the file system is read-only (``--ro-bind / /``), the course root and the other hidden paths
  are replaced by empty read-only tmpfs mounts, and only the submission's working folder and the
  kernel's runtime folder (connection file and ``ipc`` sockets) are bound writable; ``/tmp`` is a
  small private tmpfs that disappears with the kernel;
* ``prlimit`` caps the address space (memory), CPU seconds, file size and (for a normal user) the
  processes and threads; as root, whom RLIMIT_NPROC does not bind, a ``pids`` cgroup per kernel
  caps the processes and threads instead.

The kernel talks to nbgrader over ``ipc`` (Unix-domain sockets in the runtime folder), since it has
no network. ``trap "" INT`` keeps bwrap itself alive when nbgrader interrupts a cell on timeout (the
SIGINT reaches the kernel, which handles it; bwrap would otherwise die and take the kernel along).
"""

from __future__ import annotations

import copy
import os
import platform
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Unicode

from ..nbexec import ShellSafeKernelManager

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


def per_namespace_nproc() -> bool:
    """Whether RLIMIT_NPROC counts tasks per user namespace (Linux >= 5.14, "ucounts").

    Then a kernel in its own user namespace counts only its own processes and threads, even as root
    (in the initial namespace root is exempt from RLIMIT_NPROC altogether).
    """
    try:
        major, minor = (int(x) for x in platform.release().split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 14)


def make_pids_cgroup(max_tasks: int) -> str | None:
    """A new cgroup (v1 ``pids`` hierarchy, or v2 with the pids controller) capped at ``max_tasks``.

    RLIMIT_NPROC does not bind root (the kernel exempts the initial user's tasks even inside a user
    namespace), so when the grader runs as root the process cap comes from a pids cgroup instead.

    Returns:
        The cgroup folder, or None when no writable pids cgroup hierarchy exists.
    """
    for root in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
        if not os.path.exists(os.path.join(root, "cgroup.procs")):
            continue
        if root == "/sys/fs/cgroup" and "pids" not in Path(root, "cgroup.subtree_control").read_text():
            continue
        path = os.path.join(root, f"course-utils-{uuid.uuid4().hex[:12]}")
        try:
            os.mkdir(path)
            Path(path, "pids.max").write_text(str(max_tasks))
        except OSError:
            try:
                os.rmdir(path)
            except OSError:
                pass
            continue
        return path
    return None


def remove_cgroup(path: str, wait_s: float = 3.0) -> None:
    """Remove a cgroup made by :func:`make_pids_cgroup` once its last task has gone (best effort)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)


def _kernel_paths_under_tmp() -> list[str]:
    """The Python installation and the kit's checkout when they live under /tmp (hidden by the private /tmp)."""
    import sys

    import course_utils

    paths = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             str(Path(course_utils.__file__).resolve().parents[1])}
    under = sorted(p for p in paths if p.startswith("/tmp/"))
    return [p for p in under if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in under)]


def sandbox_prefix(cwd: str, rw: list[str], hide: list[str], memory_bytes: int, nproc: int, cpu_seconds: int,
                   file_bytes: int, tmp_bytes: int, use_bwrap: bool = True, cgroup: str | None = None) -> list[str]:
    """The argv that goes in front of the kernel's own command.

    Args:
        cwd: the kernel's working folder (bound writable, becomes the current directory).
        rw: further folders bound writable (the kernel's runtime folder).
        hide: folders replaced by empty tmpfs mounts (course root, other copies of the sources).
        memory_bytes, nproc, cpu_seconds, file_bytes: ``prlimit`` limits (address space, processes
            of the user, CPU time, largest file written).
        tmp_bytes: size of the private ``/tmp``.
        use_bwrap: False gives the limits only (the loud fallback when bwrap cannot run).
        cgroup: a pids cgroup the kernel joins before anything else runs (see :func:`make_pids_cgroup`).

    Returns:
        The prefix, for example ``["/bin/sh", "-c", ..., "bwrap", ..., "prlimit", ..., "--"]``.
    """
    limits = [shutil.which("prlimit") or "prlimit", f"--as={memory_bytes}", f"--nproc={nproc}",
              f"--cpu={cpu_seconds}", f"--fsize={file_bytes}", "--"]
    join = f"echo $$ > {shlex.quote(os.path.join(cgroup, 'cgroup.procs'))} && " if cgroup else ""
    if not use_bwrap:
        return (["/bin/sh", "-c", join + 'exec "$@"', "sh"] if cgroup else []) + limits
    argv = ["/bin/sh", "-c", join + 'trap "" INT; exec "$@"', "sh", shutil.which("bwrap") or "bwrap",
            "--unshare-all", "--unshare-user", "--die-with-parent", "--cap-drop", "ALL",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    for path in _kernel_paths_under_tmp():  # a venv or checkout under /tmp must stay visible to the kernel
        argv += ["--ro-bind", path, path]
    if os.path.isdir("/sys/fs/cgroup"):
        argv += ["--tmpfs", "/sys/fs/cgroup"]  # nothing to see or move out of
    for path in hide:
        if os.path.isdir(path):
            argv += ["--tmpfs", path]
        elif os.path.exists(path):
            argv += ["--ro-bind", "/dev/null", path]
    for path in [cwd, *rw]:
        argv += ["--bind", path, path]
    for path in hide:  # after the binds (their mount points live in these tmpfs): nothing can be written there
        if os.path.isdir(path):
            argv += ["--remount-ro", path]
    # The grader's PID does not exist in the new PID namespace: ipykernel would think its parent died and quit
    # (--die-with-parent already ends the sandbox with the grader).
    argv += ["--chdir", cwd, "--setenv", "HOME", cwd, "--setenv", "TMPDIR", "/tmp", "--unsetenv", "JPY_PARENT_PID", "--"]
    return argv + limits


class SandboxedKernelManager(ShellSafeKernelManager):
    """An ``AsyncKernelManager`` whose kernel command runs inside :func:`sandbox_prefix`.

    Its client polls in short slices (:mod:`course_utils.nbexec`), like the course's plain nbgrader runs.
    """

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

    _cgroup: str | None = None

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._cgroup is not None:
            remove_cgroup(self._cgroup)
            self._cgroup = None

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        cwd = self.sandbox_cwd or os.getcwd()
        nproc = self.sandbox_nproc_allowance
        if not (self.sandbox_bwrap and per_namespace_nproc()):
            # RLIMIT_NPROC counts every task of the real user here, so the cap is "what runs now + allowance".
            nproc += user_task_count()
        if os.geteuid() == 0 and self._cgroup is None:
            self._cgroup = make_pids_cgroup(self.sandbox_nproc_allowance)
            if self._cgroup is None:
                self.log.warning("%s: running as root without a writable pids cgroup: no process limit",
                                 SANDBOX_OFF_MARKER)
        prefix = sandbox_prefix(cwd, list(self.sandbox_rw), list(self.sandbox_hide), self.sandbox_memory, nproc,
                                self.sandbox_cpu, self.sandbox_fsize, self.sandbox_tmp, use_bwrap=self.sandbox_bwrap,
                                cgroup=self._cgroup)
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
        self._partial: dict[int, list] = {}
        self._current = -1

    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        original = copy.deepcopy(nb)
        self._skip, self._timed_out, self._partial = {}, set(), {}
        for attempt in range(self.max_kernel_restarts + 1):
            work = copy.deepcopy(original)
            try:
                return super().preprocess(work, resources, km)
            except (DeadKernelError, CellTimeoutError) as exc:
                # CellTimeoutError here means the kernel stopped answering on IOPub after an interrupt
                # (for example a cell that forked hundreds of children): as broken as a dead kernel.
                if attempt == self.max_kernel_restarts or self._current < 0:
                    raise
                cell = original.cells[self._current]
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"#{self._current}")
                self.log.warning("%s cell=%s index=%d (%s): re-running the notebook without it", KERNEL_DIED_MARKER,
                                 grade_id, self._current, exc.__class__.__name__)
                self._partial[self._current] = list(work.cells[self._current].get("outputs", []))
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
            else:  # what the cell printed before its kernel broke, then why it was skipped
                cell.outputs = [*self._partial.get(index, []), _died_output(self._skip[index])]
            cell.execution_count = None
            return cell, self.resources
        return super().preprocess_cell(cell, resources, index)

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None):
        self._timed_out.add(self._current)
        return await super()._async_handle_timeout(timeout, cell)
