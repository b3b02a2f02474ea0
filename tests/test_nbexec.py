"""course_utils.nbexec: notebook execution whose kernel client cannot sleep through a reply."""

from __future__ import annotations

import asyncio
from queue import Empty

import nbformat
import pytest

from course_utils import nbexec


class _LostWakeupSocket:
    """A socket whose message is there but whose first ``lost`` polls do not see it (a lost edge)."""

    def __init__(self, lost: int, has_message: bool = True):
        self.lost, self.has_message, self.polls = lost, has_message, []

    async def poll(self, timeout_ms):
        self.polls.append(timeout_ms)
        if self.has_message and len(self.polls) > self.lost:
            return 1
        if not self.has_message:
            await asyncio.sleep(timeout_ms / 1000)  # a real wait, as zmq's poll does
        return 0


def _channel(socket) -> nbexec.SlicedPollChannel:
    channel = nbexec.SlicedPollChannel.__new__(nbexec.SlicedPollChannel)
    channel.socket = socket

    async def recv():
        return {"msg_type": "execute_reply"}
    channel._recv = recv
    return channel


def test_a_lost_wakeup_costs_one_slice_not_the_whole_timeout():
    socket = _LostWakeupSocket(lost=3)
    msg = asyncio.run(_channel(socket).get_msg(timeout=600))
    assert msg == {"msg_type": "execute_reply"}
    assert len(socket.polls) == 4
    assert max(socket.polls) <= nbexec.POLL_SLICE * 1000  # never one 600-s poll


def test_no_message_raises_empty_after_the_timeout_in_slices():
    socket = _LostWakeupSocket(lost=0, has_message=False)
    with pytest.raises(Empty):
        asyncio.run(_channel(socket).get_msg(timeout=0.5))
    assert len(socket.polls) >= 2 and max(socket.polls) <= nbexec.POLL_SLICE * 1000
    assert sum(socket.polls) <= (0.5 + nbexec.POLL_SLICE) * 1000  # it asked for no more than the timeout


def test_the_kernel_manager_hands_out_the_sliced_client():
    client = nbexec.ShellSafeKernelManager().client()
    for name in ("shell", "iopub", "stdin", "control"):
        assert getattr(client, f"{name}_channel_class") is nbexec.SlicedPollChannel


def test_the_grading_sandbox_uses_it_and_the_course_config_does_not_replace_the_sandbox():
    """`course-utils grade` kernels poll in slices; nbgrader_config.py must not set a kernel manager class
    (one set there replaces the sandboxed manager and the kernels run unsandboxed)."""
    from nbrun import ROOT

    from course_utils.grading.sandbox import SandboxedKernelManager

    assert issubclass(SandboxedKernelManager, nbexec.ShellSafeKernelManager)
    config = (ROOT / "assignments" / "nbgrader_config.py").read_text()
    assert not [line for line in config.splitlines() if line.startswith("c.Execute.kernel_manager_class")]


@pytest.mark.timeout(600)
def test_widget_cells_run_and_their_output_is_captured(tmp_path):
    """interact cells (an Output widget that nbclient imitates) run, and what they print is kept."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import ipywidgets as widgets")]
    for i in range(6):
        nb.cells.append(nbformat.v4.new_code_cell(
            f"widgets.interact(lambda k={i}: print('value', k * {i}), k=widgets.IntSlider(value={i}, max=9));"))
    path = tmp_path / "widgets.ipynb"
    nbformat.write(nb, path)
    executed = nbexec.execute_notebook(path, tmp_path / "out.ipynb", timeout=300)
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    printed = [o["text"] for w in state.values() for o in w["state"].get("outputs", []) if "text" in o]
    assert sorted(printed) == sorted(f"value {i * i}\n" for i in range(6))
    assert (tmp_path / "out.ipynb").exists()
