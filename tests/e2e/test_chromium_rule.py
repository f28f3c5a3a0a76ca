"""The skip rule itself (no browser needed): without chromium the browser tests skip, unless CI is
set, where they fail."""

import os
import stat

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def no_chromium(e2e_conftest, monkeypatch, tmp_path):
    """A machine without chromium: no override, no /usr/bin/chromium, nothing on PATH."""
    monkeypatch.delenv(e2e_conftest.CHROMIUM_ENV, raising=False)
    monkeypatch.setattr(e2e_conftest, "CHROMIUM_CANDIDATES", (str(tmp_path / "usr-bin-chromium"),))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    return e2e_conftest


def test_missing_chromium_skips_outside_ci(no_chromium, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert no_chromium.find_chromium() is None
    with pytest.raises(pytest.skip.Exception, match="chromium not found"):
        no_chromium.require_chromium()


def test_missing_chromium_fails_in_ci(no_chromium, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        no_chromium.require_chromium()


def test_the_override_names_the_browser(e2e_conftest, monkeypatch, tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(e2e_conftest.CHROMIUM_ENV, str(fake))
    assert e2e_conftest.require_chromium() == str(fake)
    monkeypatch.setenv(e2e_conftest.CHROMIUM_ENV, str(tmp_path / "missing"))
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception):
        e2e_conftest.require_chromium()


def test_chromium_on_path_is_found(no_chromium, monkeypatch, tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    browser = folder / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    monkeypatch.setenv("PATH", str(folder) + os.pathsep + os.environ["PATH"])
    assert no_chromium.find_chromium() == str(browser)
