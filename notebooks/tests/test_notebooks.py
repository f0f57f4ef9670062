"""The notebooks, executed headless with the real LatentLab Java kernel (JJava, started by
``./latentlab kernel`` through the kernelspec that ``./latentlab setup`` writes), and
the kernel's interrupt and restart in the middle of a training run.

Run by ``./latentlab test`` after the Java and Python tests; needs a finished set-up (the jar,
the kernel's jar, the kernelspec). The notebooks share one tiny run (experiments/tiny.yaml) in the
project's runs/, so only the first trains. ``LATENTLAB_NOTEBOOKS_UPDATE=1`` writes the executed
notebooks back into notebooks/ (how the committed outputs are made); otherwise they go to
target/notebooks/.
"""
import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

HOME = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(HOME.glob("notebooks/[0-9][0-9]-*.ipynb"))
KERNEL = "latentlab"
SPEC = HOME / ".venv" / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json"

# Jupyter's runtime files stay in the project, as under the launcher (nothing in ~/.local).
for variable, folder in (("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_CONFIG_DIR", "config"),
                         ("JUPYTER_DATA_DIR", "data")):
    os.environ.setdefault(variable, str(HOME / ".cache" / "jupyter" / folder))


def image_cells(notebook) -> list[int]:
    """Indices of the cells tagged ``image``: each must show an image/png output."""
    return [i for i, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and "image" in cell.metadata.get("tags", [])]


def shows_png(cell) -> bool:
    return any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def test_setup_installed_the_kernelspec_and_the_notebooks_exist():
    assert SPEC.is_file(), f"no kernelspec at {SPEC}; run ./latentlab setup"
    spec = json.loads(SPEC.read_text())
    assert spec["argv"][:2] == [str(HOME / "latentlab"), "kernel"]
    assert spec["interrupt_mode"] == "message"
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]
    # those that draw pictures say which cells must show one (04 shows tables and text)
    drawing = [p.stem[:2] for p in NOTEBOOKS if image_cells(nbformat.read(p, as_version=4))]
    assert drawing == ["01", "02", "03", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_carries_its_outputs(path):
    # so that it renders on a code host without running it
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == KERNEL
    missing = [i for i in image_cells(notebook) if not shows_png(notebook.cells[i])]
    assert not missing, f"{path.name}: cells {missing} carry no image; execute with LATENTLAB_NOTEBOOKS_UPDATE=1"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_without_errors_and_shows_its_images(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(notebook, kernel_name=KERNEL, timeout=900, startup_timeout=120,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    missing = [i for i in image_cells(notebook) if not shows_png(notebook.cells[i])]
    assert not missing, f"{path.name}: cells {missing} showed no image/png"
    if os.environ.get("LATENTLAB_NOTEBOOKS_UPDATE") == "1":
        nbformat.write(notebook, path)
    else:
        out = HOME / "target" / "notebooks"
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, out / path.name)


def _metrics(run_root: Path, stage: str) -> list[int]:
    steps = []
    for file in run_root.glob("tiny/*/metrics.jsonl"):
        for line in file.read_text().splitlines():
            record = json.loads(line)
            if record["stage"] == stage:
                steps.append(record["step"])
    return steps


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _provenance(run_root: Path) -> dict:
    files = list(run_root.glob("tiny/*/provenance.json"))
    return json.loads(files[0].read_text()) if files else {}


def test_interrupt_stops_training_at_its_next_report_and_a_restart_leaves_it_resumable(tmp_path):
    """Interrupt a training run from Jupyter (interrupt_request): Python stops at its next
    progress report, the run is recorded 'interrupted' and the kernel stays usable; then kill
    the kernel (a restart) in the middle of the resumed run; a new kernel resumes it from its
    last checkpoint (every 25 steps here) and completes it."""
    runs = tmp_path / "runs"
    start = (f'var lab = Lab.open(); lab.runsDir("{runs}");'
             ' var config = lab.config("experiments/tiny.yaml").set("train.vae.steps", 20)'
             '.set("train.unet.steps", 250)'
             '.set("execution.checkpoint_every", 25);'
             ' lab.run(config);')
    manager, client = start_new_kernel(kernel_name=KERNEL, startup_timeout=120)
    try:
        request = client.execute(start)
        _wait_for(lambda: max(_metrics(runs, "unet"), default=0) >= 50, 300,
                  "the U-Net stage to pass its first checkpoint")
        manager.interrupt_kernel()
        interrupted_at = time.monotonic()
        reply = client.get_shell_msg(timeout=120)
        while reply["parent_header"].get("msg_id") != request:  # e.g. kernel_info replies
            reply = client.get_shell_msg(timeout=120)
        assert reply["content"]["status"] != "ok"
        _wait_for(lambda: _provenance(runs).get("status") == "interrupted", 60,
                  "provenance.json to record 'interrupted'")
        stopped_after = time.monotonic() - interrupted_at
        assert max(_metrics(runs, "unet")) < 250, "training ran to the end despite the interrupt"
        # the kernel and its Python are still usable
        ok = client.execute_interactive('1 + 1', timeout=60)
        assert ok["content"]["status"] == "ok"

        # Resume, and kill the kernel half-way (Jupyter's restart kills the process).
        client.execute(start)
        _wait_for(lambda: sorted(_metrics(runs, "unet"))[-1:] >= [125], 300,
                  "the resumed run to pass its next checkpoints")
        manager.restart_kernel(now=True)
        client.stop_channels()
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=120)
        done = client.execute_interactive(start, timeout=600)
        assert done["content"]["status"] == "ok", done["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    result = json.loads(next(runs.glob("tiny/*/result.json")).read_text())
    assert result["metrics"]["unet_resumed_from_step"] >= 100
    print(f"interrupt to 'interrupted' recorded: {stopped_after:.1f} s")
