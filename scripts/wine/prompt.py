#!/usr/bin/env python3
"""Drives hush.exe's hidden passphrase prompt under Wine through a pty, as a person would.

Usage: prompt.py PASSPHRASE|^C COMMAND...

Waits for each prompt before typing (hush throws away what was typed before a hidden
prompt appeared, so typing ahead would be lost), answers "Passphrase:" and
"Passphrase (again):" with PASSPHRASE, or sends Ctrl-C at the first prompt when given
"^C". Fails if the passphrase appears in what the console showed. Exits with the
command's exit code.
"""
import os
import pty
import sys
import time

answer, command = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(command[0], command)

shown = b""
deadline = time.time() + 60


def wait_for(text):
    global shown
    while text not in shown:
        if time.time() > deadline:
            sys.exit(f"prompt.py: no {text!r} within 60 s; the console showed {shown!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            sys.exit(f"prompt.py: the program ended before {text!r}; it showed {shown!r}")
        if not chunk:
            sys.exit(f"prompt.py: the program ended before {text!r}")
        shown += chunk


for prompt in [b"Passphrase:", b"(again):"]:
    wait_for(prompt)
    time.sleep(0.3)  # the prompt is written just before echo goes off and input is read
    if answer == "^C":
        os.write(fd, b"\x03")
        break
    os.write(fd, answer.encode() + b"\r")
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    shown += chunk
_, status = os.waitpid(pid, 0)
if answer != "^C" and answer.encode() in shown:
    sys.exit(f"prompt.py: the passphrase was shown: {shown!r}")
sys.exit(os.waitstatus_to_exitcode(status))
