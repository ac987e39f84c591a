from __future__ import annotations

import io
import os

from django.core.management import call_command


def test_collectmirror_links_media_files_into_the_mirror(mirror_in_tmp_path):
    (mirror_in_tmp_path.media / "a.txt").write_text("hello")
    out = io.StringIO()

    call_command("collectmirror", stdout=out)

    entry = mirror_in_tmp_path.mirror / "media" / "a.txt"
    assert os.readlink(entry) == str((mirror_in_tmp_path.media / "a.txt").resolve())
    assert (
        out.getvalue().splitlines()[-1]
        == "1 file linked, 0 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."
    )
