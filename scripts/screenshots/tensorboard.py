"""The README's TensorBoard screenshots, taken by tensorboard.sh (which see).

Usage: python tensorboard.py PROJECT CHROMIUM RUNS_DIR
"""

import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

SWEEP = """\
sweep: tb-lr
base: {base}
grid:
  train.unet.learning_rate: [0.001, 0.002, 0.004]
"""


def latentlab(project: Path, *args: str) -> None:
    subprocess.run([str(project / "latentlab"), *args], cwd=project, check=True)


def serve(project: Path, *args: str):
    """./latentlab tensorboard ARGS: the process and the address it prints."""
    process = subprocess.Popen([str(project / "latentlab"), "tensorboard", *args], cwd=project,
                               stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("TensorBoard: "):
            return process, line.split()[1]
    raise SystemExit(f"./latentlab tensorboard {' '.join(args)} printed no address")


def shoot(browser, url: str, out: Path, tag_filter: str | None = None) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    time.sleep(5)  # the dashboard fetches and draws after the page has loaded
    settings = page.locator("button[aria-label='Close side pane']")
    if settings.count():
        settings.first.click()  # the time series' settings pane, open by default
    if tag_filter is not None:
        page.locator("metrics-tag-filter input").first.fill(tag_filter)
        page.keyboard.press("Escape")  # the tag suggestions
        page.mouse.click(700, 880)
        time.sleep(4)
    page.screenshot(path=str(out))
    page.close()
    print(f"wrote {out}")


def main(project: Path, chromium: str, runs: Path) -> None:
    images = project / "docs" / "images"
    images.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    latentlab(project, "run", "experiments/quickstart.yaml", "--runs-dir", str(runs))
    sweep = runs / "tb-lr.yaml"
    sweep.write_text(SWEEP.format(base=project / "experiments" / "tiny.yaml"))
    latentlab(project, "sweep", str(sweep), "--runs-dir", str(runs))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        board, address = serve(project, "--runs-dir", str(runs), str(runs / "quickstart"))
        try:
            shoot(browser, address + "#timeseries", images / "tensorboard-quickstart.png",
                  tag_filter="^(vae|unet)/|samples")
        finally:
            board.terminate()
        board, address = serve(project, "--runs-dir", str(runs), "--sweep", "tb-lr")
        try:
            shoot(browser, address + "#hparams", images / "tensorboard-sweep-hparams.png")
        finally:
            board.terminate()
        browser.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python tensorboard.py PROJECT CHROMIUM RUNS_DIR")
    main(Path(sys.argv[1]).resolve(), sys.argv[2], Path(sys.argv[3]).resolve())
