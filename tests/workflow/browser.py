"""A real headless Chromium for tests, driven over the W3C WebDriver protocol (no Selenium).

``chromedriver`` speaks WebDriver as JSON over HTTP, so a handful of ``urllib`` calls are all a
test needs: open a page, run a script in it, click an element, take a screenshot.

    with Browser() as browser:          # starts chromedriver + headless Chromium
        browser.get(path.as_uri())
        browser.execute("return document.title")
        browser.click(browser.find("xpath", "//a[text()='Next']"))
        browser.screenshot(png_path)

:func:`find_chromium` locates the binaries, installing the Debian packages with apt-get when
it may (root, apt-get present); it returns a reason instead when it cannot, for pytest.skip.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


def find_chromium(install=True):
    """Paths of chromium and chromedriver, or a reason why there are none.

    Returns
    -------
    (chromium, chromedriver, None) or (None, None, reason)
    """

    def which():
        return (
            shutil.which("chromium") or shutil.which("chromium-browser"),
            shutil.which("chromedriver"),
        )

    chromium, driver = which()
    if chromium and driver:
        return chromium, driver, None
    if not install:
        return None, None, "chromium and chromedriver are not installed"
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return (
            None,
            None,
            (
                "chromium/chromedriver are not installed and cannot be installed "
                "here (needs apt-get as root: apt-get install chromium chromium-driver)"
            ),
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            return None, None, f"installing chromium failed: {' '.join(cmd)}: {proc.stderr[-500:]}"
    chromium, driver = which()
    if chromium and driver:
        return chromium, driver, None
    return None, None, "apt-get installed chromium but the binaries are not on PATH"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebDriverError(RuntimeError):
    pass


class Browser:
    """One chromedriver process and one headless Chromium session.

    Parameters
    ----------
    chromium, chromedriver : paths (default: found on PATH)
    width, height : window size in px (also the screenshot size)
    """

    def __init__(self, chromium=None, chromedriver=None, width=1600, height=1000, timeout_s=60):
        self.chromium = chromium or shutil.which("chromium")
        self.chromedriver = chromedriver or shutil.which("chromedriver")
        self.size = (int(width), int(height))
        self.timeout_s = timeout_s
        self.port = None
        self.process = None
        self.session = None

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self):
        self.port = _free_port()
        self.process = subprocess.Popen(
            [self.chromedriver, f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if self._call("GET", "/status")["ready"]:
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise WebDriverError("chromedriver did not start")
            time.sleep(0.2)
        args = CHROMIUM_ARGS + [f"--window-size={self.size[0]},{self.size[1]}"]
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": self.chromium, "args": args},
                }
            }
        }
        try:
            self.session = self._call("POST", "/session", caps)["sessionId"]
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.session is not None:
            try:
                self._call("DELETE", f"/session/{self.session}")
            except (OSError, WebDriverError):
                pass
            self.session = None
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    # ---------------------------------------------------------------- protocol
    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            payload = json.loads(err.read() or b"{}")
            value = payload.get("value", {})
            raise WebDriverError(
                f"{method} {path}: {value.get('error')}: {str(value.get('message'))[:500]}"
            ) from None
        return payload.get("value")

    def _session(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    # ---------------------------------------------------------------- commands
    def get(self, url):
        """Open ``url`` and wait until the page has loaded."""
        self._session("POST", "/url", {"url": url})

    def execute(self, script, *args):
        """Run ``script`` (a function body; ``arguments[i]`` are ``args``); return its value."""
        return self._session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def execute_async(self, script, *args):
        """Run ``script``; it ends by calling ``arguments[arguments.length - 1](value)``."""
        return self._session("POST", "/execute/async", {"script": script, "args": list(args)})

    def find_all(self, using, value):
        """Element references matching a locator (``"css selector"`` or ``"xpath"``)."""
        return self._session("POST", "/elements", {"using": using, "value": value})

    def find(self, using, value):
        found = self.find_all(using, value)
        if not found:
            raise WebDriverError(f"no element matches {using} {value!r}")
        return found[0]

    def click(self, element):
        """Click an element reference like a user (scrolls it into view first)."""
        self._session("POST", f"/element/{element[ELEMENT]}/click", {})

    def text(self, element):
        return self._session("GET", f"/element/{element[ELEMENT]}/text")

    def wait_for(self, script, timeout_s=20, interval_s=0.2):
        """Poll ``script`` until it returns a truthy value; return that value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.execute(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise WebDriverError(f"timed out waiting for: {script[:200]}")
            time.sleep(interval_s)

    def screenshot(self, path):
        """Save a PNG of the window."""
        data = base64.b64decode(self._session("GET", "/screenshot"))
        Path(path).write_bytes(data)
        return Path(path)
