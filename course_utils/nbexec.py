"""Headless notebook execution that does not stall on widget cells.

Why this module exists (found while chasing the "headless stall" of the lab tests):
nbclient imitates a front end for ``ipywidgets.Output`` (``nbclient.output_widget.OutputWidget``):
every output captured by an Output widget (``interact`` uses one) is synced back to the kernel with a
``comm_msg`` sent on the **shell** socket, from the task that reads IOPub, while another task of the
same client is awaiting ``poll()`` on that shell socket for the cell's ``execute_reply``. libzmq's
``ZMQ_FD`` is edge-triggered and a ``send`` on a socket may consume the read edge of a message that
arrived meanwhile; pyzmq's asyncio poller then never wakes up. The reply sits in the socket until the
poll's timeout runs out, and nbclient uses the whole cell timeout as that poll's timeout: the cell
looks hung with the kernel idle, then (if the timeout is long enough) goes on. Seen here with
nbclient 0.11, jupyter_client 8.10, pyzmq 27, ipykernel 6.31: the kernel's debug log shows the
``execute_reply`` sent 5 ms after the client's ``comm_msg``, and the client never receiving it.
Public reports of the same thing: jupyter/nbclient issue 312 and PR 311 (open, read 2026-12-01).

The fix here is on the client side and uses jupyter_client's own extension points: a kernel client
whose channels never wait in one long ``poll``, but in short slices, so a lost wake-up costs at most
one slice (pyzmq re-checks the socket's events when a poll times out). The kernel manager class can
be given to nbclient and nbconvert (``--ExecutePreprocessor.kernel_manager_class``); the sandboxed
kernel manager of ``course-utils grade`` (``course_utils.grading.sandbox``) subclasses it. Do not set it
in nbgrader_config.py: a kernel manager class configured there replaces the sandboxed one.
"""

from __future__ import annotations

import time
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Type

__all__ = ["POLL_SLICE", "ShellSafeKernelClient", "ShellSafeKernelManager", "SlicedPollChannel",
           "execute_notebook"]

#: Longest single wait on a kernel socket, in seconds (the most a lost wake-up can cost).
POLL_SLICE = 0.2


class SlicedPollChannel(AsyncZMQSocketChannel):
    """A kernel channel whose ``get_msg`` waits in slices of at most ``POLL_SLICE`` seconds."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        """Return the next message, waiting at most ``timeout`` seconds (None: forever).

        Raises:
            queue.Empty: no message came within ``timeout``.
        """
        assert self.socket is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = POLL_SLICE if deadline is None else min(POLL_SLICE, max(0.0, deadline - time.monotonic()))
            if await self.socket.poll(int(wait * 1000)):
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty


class ShellSafeKernelClient(AsyncKernelClient):
    """An async kernel client whose shell, IOPub, stdin and control channels poll in slices."""

    shell_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    stdin_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    control_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]


class ShellSafeKernelManager(AsyncKernelManager):
    """An async kernel manager that hands out :class:`ShellSafeKernelClient` clients."""

    client_class = DottedObjectName("course_utils.nbexec.ShellSafeKernelClient", config=True)
    client_factory = Type(ShellSafeKernelClient, klass=AsyncKernelClient, config=True)


def execute_notebook(path: str | Path, output: str | Path | None = None, timeout: int = 600,
                     kernel_name: str = "python3", cwd: str | Path | None = None) -> Any:
    """Run every cell of a notebook top to bottom with :class:`ShellSafeKernelManager`.

    Args:
        path: The notebook (.ipynb).
        output: Where to write the executed notebook (None: do not write).
        timeout: Seconds allowed per cell; a cell over it raises ``nbclient.exceptions.CellTimeoutError``.
        kernel_name: The kernel spec to start.
        cwd: Working directory of the kernel (default: the notebook's folder).

    Returns:
        The executed ``nbformat.NotebookNode``.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised (its traceback is in the message).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            kernel_manager_class=ShellSafeKernelManager,
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    try:
        client.execute()
    finally:
        if output is not None:
            nbformat.write(nb, Path(output))
    return nb


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.nbexec NOTEBOOK OUTPUT [--timeout S]``: run a notebook headless."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("notebook")
    parser.add_argument("output")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    execute_notebook(args.notebook, args.output, timeout=args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
