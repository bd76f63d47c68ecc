"""Screenshots of the HTML reports the tests check (the camera contact sheet, the fleet report)."""

import subprocess

from hctest.requires import require_system_tool


def screenshot(html, png, window="1100,700"):
    """Renders the local HTML file ``html`` (a Path) into ``png`` (a Path) with headless Chromium, which
    tools/system-deps.sh installs; its profile goes next to ``png``. -> png."""
    browser = require_system_tool("chromium", "chromium", "chromium-browser", "google-chrome")
    # no background networking: the page is a local file and CI machines have a closed network
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--user-data-dir=%s" % png.with_name("chromium-profile"),
                    "--window-size=%s" % window, "--screenshot=%s" % png, html.as_uri()],
                   check=True, capture_output=True, timeout=120)
    return png
