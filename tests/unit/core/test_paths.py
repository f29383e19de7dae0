"""Where things are, and how a path is shown to a reader."""


def test_shown_paths_name_no_machine_folder():
    from pathlib import Path

    from tft_utils.core.paths import REPO, shown

    assert shown(REPO / "outputs" / "main" / "s1") == "outputs/main/s1"
    assert shown(Path.home() / ".cache" / "tft-study") == "~/.cache/tft-study"
    assert shown("/nowhere/else") == "/nowhere/else"
