"""Hostile submissions of the tiny assignment, as data: each is a prefix of code put before
the reference answer.py (it runs when the experiment imports answer), or a name or archive
trick. `ATTACKS` maps a name to (code, what the grader must end with); tests grade each.

`{outside}` in code stands for a host file outside the workspace, which must stay untouched."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

LOG = "result_log.txt"

# Runtime attacks: code that runs in the sandbox during the experiment step.
SYMLINK_LOG_TO_PASSWD = f"""
import os
os.remove({LOG!r})
os.symlink('/etc/passwd', {LOG!r})
"""

SYMLINK_LOG_OUTSIDE_THEN_TIME_OUT = f"""
import os
os.remove({LOG!r})
os.symlink({{outside!r}}, {LOG!r})
print('looping', flush=True)
while True:
    pass
"""

FIFO_AS_LOG = f"""
import os
os.remove({LOG!r})
os.mkfifo({LOG!r})
"""

LINK_TO_DEV_ZERO = f"""
import os
os.remove({LOG!r})
os.symlink('/dev/zero', {LOG!r})
"""

SPARSE_HUGE_LOG = f"""
import os
os.remove({LOG!r})
with open({LOG!r}, 'wb') as f:
    f.truncate(90 * 1024 * 1024)  # under the per-file limit, far over what a report copies
"""

SPARSE_PAST_THE_FILE_LIMIT = """
with open('sparse.bin', 'wb') as f:
    f.truncate(2 * 1024 ** 3)
"""

DEEP_TREE = """
import os
here = os.getcwd()
for _ in range(1200):
    os.mkdir('d')
    os.chdir('d')
os.chdir(here)
"""

NON_UTF8_NAMES = """
import os
for name in [b'\\xff\\xfe.txt', b'caf\\xe9.py', b'ok\\x80dir']:
    os.close(os.open(name, os.O_CREAT | os.O_WRONLY))
"""

CHATTY = """
import sys
for _ in range(400_000):
    sys.stdout.write('chatter ' * 12 + '\\n')
"""

TOO_MANY_FILES = """
import os
os.makedirs('many', exist_ok=True)
for i in range(700):
    open(f'many/{i}.txt', 'w').close()
"""

PLANTED_CONFIG = """
import os
for name, text in {'pytest.ini': '[pytest]\\naddopts = -p no:terminal\\n', 'conftest.py': 'raise SystemExit(0)\\n',
                   'setup.cfg': '[tool:pytest]\\n', 'tox.ini': '[pytest]\\n', 'evil.pth': 'import os\\n',
                   'sitecustomize.py': 'print("planted")\\n'}.items():
    if not os.path.exists(name):
        open(name, 'w').write(text)
"""

RUNTIME_ATTACKS = {
    "symlink_log_to_passwd": SYMLINK_LOG_TO_PASSWD,
    "symlink_log_outside_then_time_out": SYMLINK_LOG_OUTSIDE_THEN_TIME_OUT,
    "fifo_as_log": FIFO_AS_LOG,
    "link_to_dev_zero": LINK_TO_DEV_ZERO,
    "sparse_huge_log": SPARSE_HUGE_LOG,
    "sparse_past_the_file_limit": SPARSE_PAST_THE_FILE_LIMIT,
    "deep_tree": DEEP_TREE,
    "non_utf8_names": NON_UTF8_NAMES,
    "chatty": CHATTY,
    "too_many_files": TOO_MANY_FILES,
    "planted_config": PLANTED_CONFIG,
}

# Names a student chose: the zip's own name (terminal and spreadsheet).
ESCAPE_NAME = "20250011_a\x1b]0;pwned\x07\x1b[2J[blink]x[link=http:evil]y\n[grader] 20250011 score 20 of 20"
FORMULA_NAME = "20250012_=HYPERLINK(\"evil.example\",\"x\")"
DOTS_NAME = "..."  # `....zip` minus .zip: a report folder of '..' would land above --out


def zip_with_member_name(path: Path, files: dict[str, str], raw_name: bytes) -> Path:
    """A zip whose extra member claims UTF-8 names but holds bytes that are not UTF-8: Python's
    zipfile raises UnicodeDecodeError, not BadZipFile, when it reads the directory."""
    placeholder = "X" * len(raw_name)
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
        z.writestr(placeholder, "x")
    data = bytearray(path.read_bytes())
    for signature, flag_offset, name_offset in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            if data[at + name_offset:at + name_offset + len(raw_name)] == placeholder.encode():
                flags = struct.unpack_from("<H", data, at + flag_offset)[0] | 0x800
                struct.pack_into("<H", data, at + flag_offset, flags)
                data[at + name_offset:at + name_offset + len(raw_name)] = raw_name
            start = at + 4
    path.write_bytes(bytes(data))
    return path


def deep_zip(path: Path, files: dict[str, str], depth: int = 1200) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
        z.writestr("/".join(["d"] * depth) + "/x.txt", "deep")
    return path


# A failed step whose log became a link to a host file holding an exception-shaped line: the
# failed-step diagnosis must never read it (its last "...Error: ..." line would be shown).
LOG_LINK_TO_CANARY_THEN_FAIL = f"""
import os, sys
os.remove({LOG!r})
os.symlink({{outside!r}}, {LOG!r})
sys.exit(1)
"""

# A student function that reads the hidden-test runner files beside it and raises their text.
RAISE_RUNNER_SOURCE = """
def _runner_text():
    import glob, os
    found = []
    for path in glob.glob('.grader/**/*.py', recursive=True) + glob.glob('**/hidden_tests/*.py', recursive=True):
        try:
            found.append(open(path).read())
        except OSError as exc:
            found.append(f'unreadable {os.path.basename(path)}: {type(exc).__name__}')
    return '\\n'.join(found) or 'no runner file found'


def mean(values):
    raise RuntimeError(_runner_text())
"""
