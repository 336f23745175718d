"""Runs a command in a pseudo-terminal and answers its prompts, as a person at a terminal would.

Usage: python3 pty_driver.py '<json>' where json = {"argv": [...], "env": {...},
"steps": [{"expect": "text", "send": "text"}...], "timeout": seconds}. Prints one JSON object:
{"output": everything the terminal showed, "code": exit status}. A prompt that never comes
ends the run with code -1 and the output so far.
"""
import json, os, pty, select, sys, time

spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])

output = b""
deadline = time.time() + spec.get("timeout", 30)

def read_some(wait):
    global output
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return True
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    if not chunk:
        return False
    output += chunk
    return True

code = None
for step in spec["steps"]:
    want = step["expect"].encode()
    while want not in output:
        if time.time() > deadline or not read_some(0.1):
            code = -1
            break
    if code == -1:
        break
    time.sleep(0.05)
    os.write(fd, step["send"].encode())

while time.time() < deadline and read_some(0.2):
    pass
if code is None:
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print(json.dumps({"output": output.decode("utf8", "replace"), "code": code}))
