"""Runs a command in a real pseudo-terminal and answers its prompts, for CLI tests.

Input (stdin, JSON): {"argv": [...], "env": {...}, "answers": [[regex, text], ...], "timeout": s}
Each answer is typed (with a newline) once the output so far matches its regex, in order.
Output (stdout, JSON): {"output": everything the terminal showed, "code": exit status}.
"""
import json, os, pty, re, select, signal, sys, time

spec = json.load(sys.stdin)
answers = [(re.compile(p), t) for p, t in spec.get("answers", [])]
deadline = time.monotonic() + spec.get("timeout", 60)

pid, fd = pty.fork()
if pid == 0:
    os.execve(spec["argv"][0], spec["argv"], spec["env"])

out = b""
typed = 0
while True:
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        break
    ready, _, _ = select.select([fd], [], [], 0.2)
    if ready:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    text = out.decode("utf-8", "replace")
    if typed < len(answers) and answers[typed][0].search(text):
        os.write(fd, (answers[typed][1] + "\n").encode())
        typed += 1
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        # Drain what is left.
        try:
            while True:
                r, _, _ = select.select([fd], [], [], 0.1)
                if not r:
                    break
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                out += chunk
        except OSError:
            pass
        print(json.dumps({"output": out.decode("utf-8", "replace"), "code": os.waitstatus_to_exitcode(status), "typed": typed}))
        sys.exit(0)

_, status = os.waitpid(pid, 0)
print(json.dumps({"output": out.decode("utf-8", "replace"), "code": os.waitstatus_to_exitcode(status), "typed": typed}))
